-- Shared layout of the match state; prepended to every script (MatchStore), after which the script
-- sets P (the prefix, ARGV[1]) before calling any of these. Every key shares the hash tag in P.
--
-- Layout (sized for millions of parked legs; issue 7 target < 300 bytes per parked leg):
--   L:<hh>           hash, field = handle, value = cmsgpack record of the leg (256 shards by handle)
--                    handle = first 16 hex of sha1(legId); the full legId lives once, in the record
--   i                hash: interned identity tuples (side|flow|account|wallet|currency|tokenKey),
--                    content-addressed by 12 hex of their sha1; a bounded set (mapped identities)
--   p:<f>:<s>:<a>:<c>[:<x>]  zsets, score 0, members `amountKey|<13-digit event time>|handle`: one
--                    per flow, side, account and currency for its first 100 legs, then overflow by
--                    amount shard x (one hex of sha1(amountKey)): small listpacks, searched with
--                    ZRANGEBYLEX within an amount and a time range
--   r:<f>:<s>:<xxx>  hash, field = reference, value = handle (4096 shards by sha1(reference))
--   dl:<side>        zset of deadline buckets (seconds) that hold handles; dl:<side>:<bucket> a list
--                    of handles whose deadline (event time + window) falls in that second. Matched
--                    legs are left in their bucket and skipped when it is swept (state not parked).
--   gc, gc:<bucket>  the same for forgetting: every leg's handle at its event time + retention
--   claimed          zset handle -> claim time (expired legs whose discrepancy is not yet durable)
--   n                hash side -> exact number of parked legs
--   wm, epoch        watermarks, state epoch (unchanged)
--
-- Record (cmsgpack array): 1 legId (packId), 2 identity tuple id, 3 amountKey, 4 amountNative
-- (packNative), 5 event time, 6 reference, 7 fingerprint, 8 code = status char .. state char ..
-- ('1' when rebuilt from the facts), 9 (optional) map of: x counterpart legId, mid, by, rs, d
-- discrepancy id, o stored outcome JSON (absent: the leg's own outcome was {t:'parked'}), ro
-- stored retraction outcome JSON, xp stored pairing made when its window closed, rem amount still
-- open of a leg met by tranches, ru the rule (id@version) that matched or proposed it, tr the legs
-- of the other side that met it as tranches (space-separated ids).

local P
local ST_CODE = { pending = 'n', booked = 'b', reversed = 'r' }
local ST_NAME = { n = 'pending', b = 'booked', r = 'reversed' }
local STATE_CODE = { parked = 'P', expired = 'E', matched = 'M', mismatched = 'X', duplicate = 'D',
                     reversed = 'R', pending = 'N', retracted = 'T', proposed = 'Q' }
local STATE_NAME = {}
for k, v in pairs(STATE_CODE) do STATE_NAME[v] = k end
local EXT = { 'x', 'mid', 'by', 'rs', 'd', 'o', 'ro', 'xp', 'rem', 'ru', 'tr' }

local function handleOf(legId) return redis.sha1hex(legId):sub(1, 16) end
-- RECKEY caches, for one script call, each handle's key (a leg is read, then written).
local RECKEY = {}
local function recKey(h)
  local k = RECKEY[h]
  if not k then
    k = P .. 'L:' .. h:sub(1, 2)
    RECKEY[h] = k
  end
  return k
end
local function pad13(t) return string.format('%013d', t) end
-- Numbers given to redis.call are formatted by Redis with snprintf('%.17g') on every call (~2,000
-- instructions each, callgrind); constants go as strings, and a limit is formatted once per call.
local LIMIT_ARG = {}
local function limitArg(n)
  local s = LIMIT_ARG[n]
  if not s then
    s = tostring(n)
    LIMIT_ARG[n] = s
  end
  return s
end

local function split(s)
  local out, i = {}, 1
  while true do
    local j = string.find(s, '\31', i, true)
    if not j then out[#out + 1] = s:sub(i) return out end
    out[#out + 1] = s:sub(i, j - 1)
    i = j + 1
  end
end

-- Identity tuples are few and long (wallet, token address): stored once, referenced by 12 hex.
-- On the (astronomically unlikely) collision of two tuples the record carries the tuple inline.
-- TUPLES caches, for one script call, tuple -> id and id -> tuple (a batch of legs shares a few).
-- l.tid0, when the client sent it, is that id already computed (12 hex of sha1 of the tuple).
local TUPLES = {}
local function internTuple(l)
  local tup = l.s .. '\31' .. l.f .. '\31' .. l.a .. '\31' .. l.w .. '\31' .. l.c .. '\31' .. l.k
  local known = TUPLES[tup]
  if known then return known end
  local tid = l.tid0 or redis.sha1hex(tup):sub(1, 12)
  -- Absent: the id is now ours; present, it is ours unless two tuples share an id. Read first:
  -- once a deployment has seen its identities, every tuple is there (one call instead of two).
  local cur = TUPLES['#' .. tid]
  if cur == nil then cur = redis.call('HGET', P .. 'i', tid) end
  if not cur then redis.call('HSETNX', P .. 'i', tid, tup)
  elseif cur ~= tup then tid = '=' .. tup end
  TUPLES[tup], TUPLES['#' .. tid] = tid, tup
  return tid
end
local function tupleOf(tid)
  local tup = TUPLES['#' .. tid]
  if not tup then
    tup = redis.call('HGET', P .. 'i', tid)
    TUPLES['#' .. tid] = tup
  end
  return tup
end

-- Chain leg ids (`chain:<chainId>:0x<64 hex>:<logIndex>`) are stored with the hash in binary;
-- amountNative as its power of ten over amountKey when it is amountKey followed by zeros.
-- Hex pair -> byte table, built on first use in a script call (~90 µs): with it a gsub converts in
-- C, about 2.5x faster than a Lua callback per byte. Only packId needs it, and only for a leg whose
-- packed id the client did not send. Bytes -> hex is one string.format over string.byte (in C, no
-- table): a bank leg matched against a chain leg reads that chain id on every call.
local HEXBYTE
local function hexByte()
  if not HEXBYTE then
    HEXBYTE = {}
    for i = 0, 255 do HEXBYTE[string.format('%02x', i)] = string.char(i) end
  end
  return HEXBYTE
end
local function packId(id)
  local cid, hex, li = string.match(id, '^chain:(%d+):0x(%x+):(%d+)$')
  if not cid or #hex ~= 64 or hex ~= string.lower(hex) then return id end
  return '\1' .. cid .. ':' .. li .. ':' .. (hex:gsub('..', hexByte()))
end
local HEX32 = string.rep('%02x', 32)
local function unpackId(v)
  if v:byte(1) ~= 1 then return v end
  local cid, li, bin = string.match(v, '^\1(%d+):(%d+):(.*)$')
  local fmt = HEX32
  if #bin ~= 32 then fmt = string.rep('%02x', #bin) end
  return 'chain:' .. cid .. ':0x' .. string.format(fmt, string.byte(bin, 1, -1)) .. ':' .. li
end
local function packNative(m, n)
  if n == m then return '' end
  local k = #n - #m
  if k > 0 and k <= 60 and n:sub(1, #m) == m and n:sub(#m + 1) == string.rep('0', k) then return k end
  return n
end
local function unpackNative(m, v)
  if v == '' then return m end
  if type(v) == 'number' then return m .. string.rep('0', v) end
  return v
end

local TUPLE_FIELDS = '^' .. string.rep('([^\31]*)\31', 5) .. '([^\31]*)$'
local function decode(h, raw)
  local v = cmsgpack.unpack(raw)
  local tid = v[2]
  local f = TUPLES['/' .. tid]
  if not f then
    local tup
    if tid:sub(1, 1) == '=' then tup = tid:sub(2) else tup = tupleOf(tid) end
    local s, fl, a, w, c, k = string.match(tup, TUPLE_FIELDS)
    if s then f = { s, fl, a, w, c, k } else f = split(tup) end
    TUPLES['/' .. tid] = f
  end
  local code = v[8]
  -- pk, nv: the packed id and amountNative as stored, reused by save while id, m and n are unchanged.
  local l = { id = unpackId(v[1]), pk = v[1], nv = v[4], h = h, tid = v[2], s = f[1], f = f[2], a = f[3], w = f[4], c = f[5], k = f[6],
              m = v[3], n = unpackNative(v[3], v[4]), t = tonumber(v[5]), r = v[6], p = v[7],
              st = ST_NAME[code:sub(1, 1)], state = STATE_NAME[code:sub(2, 2)], rb = code:sub(3, 3) == '1' }
  local ext = v[9]
  if type(ext) == 'table' then
    for i = 1, #EXT do
      local k = EXT[i]
      if ext[k] ~= nil then l[k] = ext[k] end
    end
  end
  l.was, l.pkOf, l.nvOf, l.nvM = l.state, l.id, l.n, l.m
  return l
end

-- The leg stored under a handle (sweeps, pool and reference lookups), or nil.
local function loadH(h)
  local raw = redis.call('HGET', recKey(h), h)
  if not raw then return nil end
  return decode(h, raw)
end

-- The leg with this id, or nil.
-- h: the leg's handle when the caller has it (handleOf(legId), computed by the client).
local function load(legId, h)
  local l = loadH(h or handleOf(legId))
  if l and l.id ~= legId then error('HANDLE_COLLISION ' .. legId .. ' and ' .. l.id .. ' share a handle') end
  return l
end

-- PARKED_DELTA, when a script sets it to a table, collects the changes of the parked counters
-- for one HINCRBY per side at its end (flushParked) instead of one per leg.
local PARKED_DELTA = nil
local function adjustParked(side, was, now)
  local d = 0
  if was == 'parked' and now ~= 'parked' then d = -1
  elseif was ~= 'parked' and now == 'parked' then d = 1 end
  if d == 0 then return end
  if PARKED_DELTA then PARKED_DELTA[side] = (PARKED_DELTA[side] or 0) + d
  else redis.call('HINCRBY', P .. 'n', side, d) end
end
local function flushParked()
  for side, d in pairs(PARKED_DELTA or {}) do
    if d ~= 0 then redis.call('HINCRBY', P .. 'n', side, d) end
  end
  PARKED_DELTA = {}
end

local function save(l)
  if not l.h then l.h = handleOf(l.id) end
  if not l.tid then l.tid = internTuple(l) end
  local pk, nv = l.pk, l.nv
  if pk == nil or l.pkOf ~= l.id then pk = packId(l.id) end
  if nv == nil or l.nvOf ~= l.n or l.nvM ~= l.m then nv = packNative(l.m, l.n) end
  local v = { pk, l.tid, l.m, nv, l.t, l.r, l.p, ST_CODE[l.st] .. STATE_CODE[l.state] .. (l.rb and '1' or '') }
  -- The extension map only when the leg has one of its fields (a parked leg has none).
  local ext = nil
  for i = 1, #EXT do
    local k = EXT[i]
    local x = l[k]
    if x ~= nil and x ~= '' then
      ext = ext or {}
      ext[k] = x
    end
  end
  if ext then v[9] = ext end
  redis.call('HSET', recKey(l.h), l.h, cmsgpack.pack(v))
  adjustParked(l.s, l.was, l.state)
  l.was = l.state
end

local function forget(l)
  redis.call('HDEL', recKey(l.h), l.h)
  adjustParked(l.s, l.was, nil)
end

-- What the caller needs to know about a leg (no stored outcome).
local function public(l)
  return { id = l.id, s = l.s, f = l.f, a = l.a, w = l.w, c = l.c, k = l.k, m = l.m, n = l.n,
           t = l.t, r = l.r, state = l.state, d = l.d or '', mid = l.mid or '' }
end

-- A pool holds its first POOL_BASE legs in one zset per flow, side, account and currency (a small
-- listpack); beyond that, new legs go to one of 16 overflow zsets by amount, so that no pool grows
-- past the listpack size (a skiplist costs ~100 more bytes per entry). Searches look at both.
local POOL_BASE = 100
-- SHARD caches, for one script call, each amount's overflow shard (one hex of sha1(amountKey)).
local SHARD = {}
local function poolKeys(f, s, a, c, m)
  local base = P .. 'p:' .. f .. ':' .. s .. ':' .. a .. ':' .. c
  local x = SHARD[m]
  if not x then
    x = redis.sha1hex(m):sub(1, 1)
    SHARD[m] = x
  end
  return base, base .. ':' .. x
end
local function poolMember(l) return l.m .. '|' .. pad13(l.t) .. '|' .. l.h end
-- fresh: the leg was never pooled (a new leg), so the guard against a double entry can be skipped.
local function poolAdd(l, fresh)
  local base, shard = poolKeys(l.f, l.s, l.a, l.c, l.m)
  local member = poolMember(l)
  -- Re-adding (a rebuild over a live state) must not place a leg in both zsets.
  if not fresh and (redis.call('ZSCORE', base, member) or redis.call('ZSCORE', shard, member)) then return end
  if redis.call('ZCARD', base) < POOL_BASE then redis.call('ZADD', base, '0', member)
  else redis.call('ZADD', shard, '0', member) end
end
local function poolRem(l)
  local base, shard = poolKeys(l.f, l.s, l.a, l.c, l.m)
  local member = poolMember(l)
  if redis.call('ZREM', base, member) == 0 then redis.call('ZREM', shard, member) end
end
-- Handles of the legs of one pool with this amount and an event time in [lo, hi] (oldest first
-- within each of the two zsets).
local function poolRange(f, s, a, c, m, lo, hi, limit)
  if lo < 0 then lo = 0 end
  if hi < lo then return {} end
  local out = {}
  local min, max = '[' .. m .. '|' .. pad13(lo), '[' .. m .. '|' .. pad13(hi) .. '|~'
  local k, shard = poolKeys(f, s, a, c, m)
  for _ = 1, 2 do
    local ms = redis.call('ZRANGEBYLEX', k, min, max, 'LIMIT', '0', limitArg(limit))
    for i = 1, #ms do out[#out + 1] = ms[i]:sub(-16) end
    k = shard
  end
  return out
end

local function refKey(f, s, ref) return P .. 'r:' .. f .. ':' .. s .. ':' .. redis.sha1hex(ref):sub(1, 3) end
-- A reference usually names one leg per side; tranches (several legs with one reference) make it a
-- space-separated list of handles, oldest first, at most REF_MAX (the oldest is dropped).
local REF_MAX = 16
local function refList(f, s, ref)
  local v = redis.call('HGET', refKey(f, s, ref), ref)
  if not v then return {} end
  if #v == 16 then return { v } end
  local out = {}
  for h in string.gmatch(v, '%x+') do out[#out + 1] = h end
  return out
end
local function refSet(l)
  local rk = refKey(l.f, l.s, l.r)
  local v = redis.call('HGET', rk, l.r)
  if not v or v == l.h then redis.call('HSET', rk, l.r, l.h) return end
  if string.find(v, l.h, 1, true) then return end
  -- The previous owner stays listed only while it is open: a matched one is replaced (as before).
  local keep = {}
  for h in string.gmatch(v, '%x+') do
    local o = loadH(h)
    if o and (o.state == 'parked' or o.state == 'expired' or o.state == 'proposed') then keep[#keep + 1] = h end
  end
  keep[#keep + 1] = l.h
  while #keep > REF_MAX do table.remove(keep, 1) end
  redis.call('HSET', rk, l.r, table.concat(keep, ' '))
end
local function refDelIfOwn(l)
  local rk = refKey(l.f, l.s, l.r)
  local v = redis.call('HGET', rk, l.r)
  if not v then return end
  if v == l.h then redis.call('HDEL', rk, l.r) return end
  if not string.find(v, l.h, 1, true) then return end
  local keep = {}
  for h in string.gmatch(v, '%x+') do if h ~= l.h then keep[#keep + 1] = h end end
  if #keep == 0 then redis.call('HDEL', rk, l.r) else redis.call('HSET', rk, l.r, table.concat(keep, ' ')) end
end

-- Exact decimal arithmetic on canonical non-negative decimal strings (amount keys, probe bounds):
-- amounts reach 10^18 minor units and 18 fractional digits, beyond what a Lua number holds.
local function decParts(a)
  local i, f = string.match(a, '^(%d+)%.?(%d*)$')
  return i, f
end
local function cmpDec(a, b)
  if a == b then return 0 end
  local ai, af = decParts(a)
  local bi, bf = decParts(b)
  if #ai ~= #bi then if #ai < #bi then return -1 end return 1 end
  if ai ~= bi then if ai < bi then return -1 end return 1 end
  local n = math.max(#af, #bf)
  af, bf = af .. string.rep('0', n - #af), bf .. string.rep('0', n - #bf)
  if af == bf then return 0 end
  if af < bf then return -1 end
  return 1
end
-- Digits of a and b aligned on the same number of fractional digits.
local function decAlign(a, b)
  local ai, af = decParts(a)
  local bi, bf = decParts(b)
  local n = math.max(#af, #bf)
  local x, y = ai .. af .. string.rep('0', n - #af), bi .. bf .. string.rep('0', n - #bf)
  local w = math.max(#x, #y)
  return string.rep('0', w - #x) .. x, string.rep('0', w - #y) .. y, n
end
local function decCanon(digits, n)
  local i, f = digits:sub(1, #digits - n), digits:sub(#digits - n + 1)
  if n == 0 then f = '' end
  i = i:gsub('^0+', '')
  if i == '' then i = '0' end
  f = f:gsub('0+$', '')
  if f == '' then return i end
  return i .. '.' .. f
end
-- a - b for a >= b.
local function subDec(a, b)
  local x, y, n = decAlign(a, b)
  local out, borrow = {}, 0
  for i = #x, 1, -1 do
    local d = x:byte(i) - y:byte(i) - borrow
    if d < 0 then d, borrow = d + 10, 1 else borrow = 0 end
    out[i] = string.char(48 + d)
  end
  return decCanon(table.concat(out), n)
end
local function addDec(a, b)
  local x, y, n = decAlign(a, b)
  local out, carry = {}, 0
  for i = #x, 1, -1 do
    local d = x:byte(i) + y:byte(i) - 96 + carry
    if d >= 10 then d, carry = d - 10, 1 else carry = 0 end
    out[i] = string.char(48 + d)
  end
  local s = table.concat(out)
  if carry == 1 then s = '1' .. s end
  return decCanon(s, n)
end

-- Probes of the matching cascade (src/matching/ruleCascade.ts encodeProbes): records separated by
-- \30, fields by \31: rule (id@version), key (r|a), lo, hi ('' unbounded), window ms, confidence
-- (c|p), outcome (m|x), split (0|1). lo and hi '=': exactly the amount of the leg being matched
-- (inRange's `own`; the caller compares with it). A string is parsed once per call (PROBES) and its
-- probe tables are shared by every leg that sent it: read, never changed.
local PROBE_FIELDS = '^' .. string.rep('([^\31]*)\31', 7) .. '([^\31]*)$'
local PROBES = {}
local function parseProbes(s)
  if not s or s == '' then return {} end
  local parsed = PROBES[s]
  if not parsed then
    parsed = {}
    for rec in string.gmatch(s, '[^\30]+') do
      -- One pattern match (in C) for the usual eight fields; split for any other shape.
      local f1, f2, f3, f4, f5, f6, f7, f8 = string.match(rec, PROBE_FIELDS)
      if not f1 then
        local f = split(rec)
        f1, f2, f3, f4, f5, f6, f7, f8 = f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8]
      end
      parsed[#parsed + 1] = { rule = f1, key = f2, lo = f3, hi = f4, win = tonumber(f5), conf = f6, out = f7, split = f8 == '1' }
    end
    PROBES[s] = parsed
  end
  return parsed
end
-- Whether amount m lies within a probe's bounds for a leg of amount own ('=' stands for own).
-- lo '-': an empty interval (the rule applies, no amount meets it).
local function inRange(m, p, own)
  local lo, hi = p.lo, p.hi
  if lo == '=' then lo = own end
  if hi == '=' then hi = own end
  return lo ~= '-' and cmpDec(m, lo) >= 0 and (hi == '' or cmpDec(m, hi) <= 0)
end
-- Whether a probe asks for exactly the amount m of the leg being matched.
local function exactFor(p, m) return (p.lo == '=' or p.lo == m) and (p.hi == '=' or p.hi == m) end

-- Handles of the open legs of one pool whose amount lies within a probe's bounds and whose event
-- time lies in [lo, hi]: the tolerant search, which cannot use the amount order of the members
-- (they sort as text), so it reads the pool (its overflow shards only when the base is full), at
-- most `limit` members per zset. Returns {handle, amount, time} triples.
local function poolScan(f, s, a, c, p, lo, hi, limit)
  local base = P .. 'p:' .. f .. ':' .. s .. ':' .. a .. ':' .. c
  local keys = { base }
  if redis.call('ZCARD', base) >= POOL_BASE then
    for i = 0, 15 do keys[#keys + 1] = base .. ':' .. string.format('%x', i) end
  end
  -- Amounts with as many integer digits sort as text in numeric order: when both bounds have the
  -- same number, a text range narrows the read (members of other lengths in it are filtered out).
  local li, hi2 = decParts(p.lo), p.hi ~= '' and decParts(p.hi) or nil
  local min, max = '-', '+'
  if hi2 and #li == #hi2 then min, max = '[' .. p.lo, '[' .. p.hi .. '|~' end
  local out = {}
  for _, k in ipairs(keys) do
    for _, member in ipairs(redis.call('ZRANGEBYLEX', k, min, max, 'LIMIT', '0', limitArg(limit))) do
      local m, t, h = string.match(member, '^(.-)|(%d+)|(%x+)$')
      t = tonumber(t)
      if t >= lo and t <= hi and inRange(m, p) then out[#out + 1] = { h, m, t } end
    end
  end
  return out
end

-- |a - b| of two canonical decimal strings.
local function distDec(a, b)
  if cmpDec(a, b) >= 0 then return subDec(a, b) end
  return subDec(b, a)
end
-- Whether candidate (amount m, event time t) ranks before the best so far for a leg of amount m0
-- and time t0: the exact amount first, then the nearest amount, then the nearest time.
local function nearer(m0, t0, m, t, best)
  if not best then return true end
  local d, bd = distDec(m0, m), distDec(m0, best.m)
  local c = cmpDec(d, bd)
  if c ~= 0 then return c < 0 end
  return math.abs(t - t0) < math.abs(best.t - t0)
end

-- Operators' decisions: a pair whose proposal was rejected, or whose match was undone by hand, is
-- never paired again by any rule. RJ caches, per script call, whether any such pair exists.
local RJ = nil
local function rejectedPair(a, b)
  if RJ == nil then RJ = redis.call('EXISTS', P .. 'rj') == 1 end
  if not RJ then return false end
  local bank, chain = a, b
  if a.s == 'chain' then bank, chain = b, a end
  return redis.call('SISMEMBER', P .. 'rj', bank.h .. chain.h) == 1
end

-- Time-bucketed index of handles: a zset of one-second buckets, one list per bucket.
local function bucketOf(ms) return math.floor(ms / 1000) end
local function indexAdd(idx, ms, h)
  local b = tostring(bucketOf(ms))
  redis.call('RPUSH', idx .. ':' .. b, h)
  redis.call('ZADD', idx, b, b)
end
local function dlAdd(l, window) indexAdd(P .. 'dl:' .. l.s, l.t + window, l.h) end
local function gcAdd(l, retention) indexAdd(P .. 'gc', l.t + retention, l.h) end

local function pushAll(key, items)
  for i = 1, #items, 1000 do
    redis.call('RPUSH', key, unpack(items, i, math.min(i + 999, #items)))
  end
end

-- Visits the handles of every bucket that starts at or before wm, oldest first. visit(h, bucket)
-- returns 'done' (acted on, counts towards limit), 'keep' (not due yet: stays in this bucket) or
-- anything else (drop the handle). Stops after `limit` done or `budget` handles looked at; returns
-- the number done and whether work may remain.
local function sweep(idx, wm, limit, budget, visit)
  local wb = bucketOf(wm)
  local done, seen = 0, 0
  while done < limit and seen < budget do
    local first = redis.call('ZRANGEBYSCORE', idx, '-inf', wb, 'LIMIT', '0', '1')[1]
    if not first then return done, false end
    local b = tonumber(first)
    local lk = idx .. ':' .. first
    if (b + 1) * 1000 - 1 <= wm then
      -- Every deadline in this bucket has passed: pop and act.
      local hs = redis.call('LPOP', lk, math.min(limit - done, budget - seen, 1000))
      if not hs then
        redis.call('ZREM', idx, first)
      else
        for _, h in ipairs(hs) do
          seen = seen + 1
          if visit(h, b) == 'done' then done = done + 1 end
        end
      end
    else
      -- The bucket wm falls in: only part of it is due. It is the last one; rewrite it once.
      local hs = redis.call('LRANGE', lk, 0, -1)
      if #hs == 0 then redis.call('ZREM', idx, first) return done, false end
      local keep, changed = {}, false
      for _, h in ipairs(hs) do
        if done >= limit or seen >= budget then
          keep[#keep + 1] = h
        else
          seen = seen + 1
          local r = visit(h, b)
          if r == 'keep' then keep[#keep + 1] = h else changed = true end
          if r == 'done' then done = done + 1 end
        end
      end
      if changed then
        redis.call('DEL', lk)
        if #keep == 0 then redis.call('ZREM', idx, first) else pushAll(lk, keep) end
      end
      return done, done >= limit or seen >= budget
    end
  end
  return done, true
end

local function otherSide(s) if s == 'bank' then return 'chain' end return 'bank' end

-- Whether c, an open leg of the other side, may pair with l as l's window closes (p: the expiry
-- probe, nil for the exact late counterpart; a pair an operator rejected is never paired again).
local function fitsAtExpiry(l, c, p)
  return c and c.id ~= l.id and (c.state == 'parked' or c.state == 'expired') and not c.rem
    and (l.r == '' or c.r == '' or c.r == l.r) and not rejectedPair(l, c)
end
-- Pairs the closing leg l (already expired, with its discrepancy id) with c; returns the pairing.
local function pairAtExpiry(l, c, p)
  poolRem(c)
  if c.state == 'expired' then redis.call('ZREM', P .. 'claimed', c.h) end
  local bank, chain = l, c
  if l.s == 'chain' then bank, chain = c, l end
  local rule = (p and p.rule) or 'late-counterpart@builtin'
  local other = public(c)
  local otherD = ''
  if c.state == 'expired' then otherD = c.d or '' end
  if p and p.out == 'x' then
    local did = 'AMOUNT_MISMATCH:' .. bank.id .. '|' .. chain.id
    -- One discrepancy naming both legs instead of this leg's MISSING_* (never opened).
    l.state, l.x, l.d, c.state, c.x, c.d = 'mismatched', c.id, did, 'mismatched', l.id, did
    save(c)
    return { t = 'mismatch', kind = 'AMOUNT_MISMATCH', discrepancyId = did, rule = rule, other = other, resolves = '', resolvesOther = otherD }
  end
  if p and p.conf == 'p' then
    local pid = 'proposal:' .. bank.id .. '|' .. chain.id
    l.state, l.x, l.mid, l.by, l.ru = 'proposed', c.id, pid, 'attributes', rule
    c.state, c.x, c.mid, c.by, c.ru = 'proposed', l.id, pid, 'attributes', rule
    save(c)
    return { t = 'proposal', pid = pid, by = 'attributes', rule = rule, other = other, resolves = '' }
  end
  local mid = 'match:' .. bank.id .. '|' .. chain.id
  l.state, l.x, l.mid, l.by, l.rs, l.ru = 'matched', c.id, mid, 'attributes', l.d, rule
  c.state, c.x, c.mid, c.by, c.rs, c.ru = 'matched', l.id, mid, 'attributes', otherD, rule
  save(c)
  return { t = 'match', mid = mid, by = 'attributes', rule = rule, conf = 'c', other = other, resolves = l.d, resolvesOther = otherD }
end

