-- Atomic match-or-park of a batch of legs (bank postings or chain events) against the legs of the
-- other side, one after the other in the order given: the same as one call per leg, without the
-- per-call cost (script entry, argument parsing, a round trip each).
-- All keys share the hash tag in the prefix, so the script stays in one Redis Cluster slot.
-- Idempotent: a leg already applied with the same fingerprint and status returns its stored outcome
-- (replayed = 1), so a redelivered message re-derives exactly the facts it produced the first time.
-- (lib.lua is prepended: layout, records, pools, indexes.)
--
-- ARGV: 1 prefix, 2 tolerance ms (window + lateness), 3 retention ms (how long terminal legs are
--       remembered), 4 window ms (a parked leg's deadline is its event time + window), 5 '1' when
--       the state must carry its epoch key (a worker's store), else '' (unit tests), 6 the legs,
--       one after the other, each 18 values, each a 4-byte big-endian length and its bytes
--       (matchStore.ts packLegs; read here with struct.unpack): legId, side, flow, account, wallet, currency, tokenKey, amountKey,
--       amountNative, eventTime, reference ('' for none), fingerprint, status (pending|booked|reversed),
--       handle (handleOf(legId), computed by the client), the probes of the matching cascade
--       (lib.lua parseProbes, '=' for this leg's amountKey; '' for none), and what the script would otherwise compute, computed
--       by the client: the identity tuple's id (lib.lua internTuple), the packed leg id (packId; ''
--       when it is the leg id itself), the amount's overflow shard (poolKeys)
-- Returns an array of two strings per leg, in order: '0' and its outcome's JSON, '1' and the
-- stored outcome's JSON when the leg was a replay, or 'e' and the error when that leg failed (the
-- others are applied).

P = ARGV[1]
-- Redis lost its memory (restart without persistence): matching against an empty state would park
-- legs whose counterparts were forgotten (false MISSING_*) and forget parked ones (lost MISSING_*).
-- Refuse until the worker has rebuilt the state from the facts (stateGuard.ts) and set the epoch.
if ARGV[5] == '1' and redis.call('EXISTS', P .. 'epoch') == 0 then
  return redis.error_reply('STATE_LOST ' .. P .. 'epoch is missing: match state is being rebuilt')
end
local RANK = { pending = 1, booked = 2, reversed = 3 }
local MISSING_OF_BANK = { deposit = 'MISSING_MINT', withdrawal = 'MISSING_BURN' }
local tolerance, retention, window = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])

local function other(side) if side == 'bank' then return 'chain' end return 'bank' end

-- Takes a leg out of every index through which it could still be matched or expired (a deadline
-- bucket entry is skipped lazily once the leg is no longer parked). A matched leg keeps its
-- reference index (keepRef), so a later leg with the same reference is a duplicate.
local function unindex(l, keepRef)
  poolRem(l)
  if not keepRef and l.r ~= '' then refDelIfOwn(l) end
  -- Only an expired leg is ever claimed (expire.lua); a stray entry would be dropped by the next
  -- sweep's stale scan, which removes claims of legs no longer expired.
  if l.state == 'expired' then redis.call('ZREM', P .. 'claimed', l.h) end
end

-- indexAdd, registering each bucket once per call: this script only adds to the indexes (a sweep,
-- which may drop a bucket, never runs inside it), so a bucket seen here is still registered. The
-- handles of one bucket are pushed together at the end of the call (pushIndexes), in the order
-- they came: nothing in this script reads the bucket lists.
local PUSH, PUSHED = {}, {}
local function indexAddOnce(idx, ms, h)
  local b = math.floor(ms / 1000)
  -- Buckets by index, then by second: a bucket seen before in this call costs two table reads
  -- (no key string is formatted for it).
  local byB = PUSH[idx]
  if not byB then
    byB = {}
    PUSH[idx] = byB
  end
  local q = byB[b]
  if not q then
    q = {}
    -- The bucket as text once (Lua's %.14g and Redis's %.17g agree on these integers).
    local bs = tostring(b)
    byB[b], PUSHED[#PUSHED + 1] = q, { idx .. ':' .. bs, q }
    redis.call('ZADD', idx, bs, bs)
  end
  q[#q + 1] = h
end
local function pushIndexes()
  for _, e in ipairs(PUSHED) do pushAll(e[1], e[2]) end
  PUSH, PUSHED = {}, {}
end
-- The index keys of this call (each leg adds to one or two of them).
local GC_IDX = P .. 'gc'
local DL_IDX = { bank = P .. 'dl:bank', chain = P .. 'dl:chain' }

-- The leg's 18 values as arguments (no table for them): see ARGV 6 above.
local function one(id, side, flow, account, wallet, currency, tokenKey, amountKey, amountNative, eventTime, reference,
                   fingerprint, status, handle, probeText, tid0, pk0, amountShard)
local t0 = tonumber(eventTime)
local deadline = t0 + window
local existing = load(id, handle)
local leg = existing
if not existing then
  local pk = pk0
  if pk == '' then pk = id end
  -- One constructor with every field the leg will get (state, st, rb, tid and was false until
  -- set): the table is sized once instead of growing field by field.
  leg = { id = id, h = handle, s = side, f = flow, a = account, w = wallet, c = currency, k = tokenKey,
          m = amountKey, n = amountNative, t = t0, r = reference, p = fingerprint,
          tid0 = tid0, pk = pk, pkOf = id, state = false, st = false, rb = false, tid = false, was = false }
end
SHARD[amountKey] = amountShard

-- Stores the leg in its new state with the outcome a redelivery must replay ({t:'parked'} is the
-- default and not stored), and schedules a new leg to be forgotten after the retention.
local function finish(state, outcome)
  outcome.legId = id
  local enc = cjson.encode(outcome)
  leg.state, leg.st, leg.rb = state, status, false
  if outcome.t == 'parked' then leg.o = nil else leg.o = enc end
  save(leg)
  if not existing then indexAddOnce(GC_IDX, leg.t + retention, leg.h) end
  return 0, enc
end

if existing then
  if existing.p ~= fingerprint then
    -- Same entry id, different content: a conflicting redelivery. The stored leg stays as it was.
    return 0, cjson.encode({ t = 'conflict', legId = id, other = public(existing) })
  end
  local was, now = RANK[existing.st] or 2, RANK[status] or 2
  if now <= was then
    -- A leg rebuilt from the facts while still parked may belong to a message that never finished
    -- (its facts only partly durable): match it again as if new. Anything else is a replay.
    if not existing.rb or existing.state ~= 'parked' then
      local o = existing.o
      if not o then
        if existing.rb then o = '{"t":"stale"}' else o = cjson.encode({ t = 'parked', legId = id }) end
      end
      return 1, o
    end
    unindex(existing)
  end
  if status == 'reversed' then
    if existing.state == 'matched' then
      local cp = existing.x and load(existing.x)
      return finish('reversed', { t = 'reversal', mid = existing.mid, by = existing.by or 'attributes',
                                  resolves = existing.rs or '', other = cp and public(cp) or cjson.null })
    end
    unindex(existing)
    local resolves = ''
    if existing.state == 'expired' then resolves = existing.d or '' end
    return finish('reversed', { t = 'withdrawn', resolves = resolves })
  end
  -- pending -> booked: the leg becomes matchable now.
elseif status == 'pending' then
  return finish('pending', { t = 'pending' })
elseif status == 'reversed' then
  return finish('reversed', { t = 'withdrawn', resolves = '' })
end

-- Find the counterpart by the rule cascade (src/matching/ruleCascade.ts): the probes of this leg,
-- in order; a reference probe looks at the legs of the other side that share the reference, an
-- account probe at the pool of the same flow, account and currency, within its amount bounds and
-- event-time window. Then, beyond every window, an expired leg of the exact amount (a late leg).
local probes = parseProbes(probeText)
local os = other(leg.s)
local t = leg.t
local candidate, by, hit = nil, nil, nil
local function isOpen(c) return c and (c.state == 'parked' or c.state == 'expired') end
local function allowed(c, p) return math.abs(c.t - t) <= p.win and not rejectedPair(leg, c) end

-- Tranches: legs of one reference that split the amount of a leg of the other side.
local parts = nil
if leg.r ~= '' then
  local refs, dup = refList(leg.f, os, leg.r), nil
  for _, ch in ipairs(refs) do
    local c = loadH(ch)
    if isOpen(c) and not candidate then
      local took = false
      for _, p in ipairs(probes) do
        if p.key == 'r' and allowed(c, p) then
          local cOpen = c.rem or c.m
          local mine = leg.rem or leg.m
          if p.split and c.rem and inRange(cOpen, p, leg.m) then
            -- The last tranche of c: completes it.
            candidate, by, hit = c, 'reference', p
          elseif not c.rem and not leg.rem and inRange(c.m, p, leg.m) then
            candidate, by, hit = c, 'reference', p
          elseif p.split and cmpDec(mine, cOpen) < 0 then
            -- This leg is one tranche of c: allocate it, c stays open for the rest.
            candidate, by, hit = c, 'tranche', p
          elseif p.split and cmpDec(c.m, mine) <= 0 and c.c == leg.c and not c.rem then
            -- c is one tranche of this leg.
            parts = parts or {}
            parts[#parts + 1] = { c = c, p = p }
            leg.rem = subDec(mine, c.m)
            took = true
          end
          if candidate or took then break end
        end
      end
      if not candidate and not parts and not hit then
        -- Shared reference, but no rule accepts the amounts: a mismatch by reference (below).
        local anyRef = false
        for _, p in ipairs(probes) do if p.key == 'r' then anyRef = true end end
        if anyRef and not rejectedPair(leg, c) then candidate, by = c, 'reference' end
      end
    elseif c and (c.state == 'matched' or c.state == 'mismatched') then
      dup = dup or c
    end
    if leg.rem == '0' then break end
  end
  if not candidate and not parts and dup then return finish('duplicate', { t = 'duplicate', other = public(dup) }) end
end
if not candidate and not parts then
  -- Within a window any waiting leg will do; two legs that both carry references only match by reference.
  local function fits(c, p, expiredOnly)
    return isOpen(c) and (leg.r == '' or c.r == '' or c.r == leg.r) and (not expiredOnly or c.state == 'expired') and not rejectedPair(leg, c)
  end
  -- The exact probes and the late search read the legs of the other side's pool with this leg's
  -- amount, each over its own time range: read once, over the widest (the retention), and each
  -- range taken from it. A zset that filled the read's limit may hold more than it returned: then
  -- each range is read on its own, as before (the same members, in the same order).
  local wide, wlo, whi = nil, t - retention, t + retention
  if wlo < 0 then wlo = 0 end
  local function exactRange(lo, hi)
    if lo < 0 then lo = 0 end
    if wide == nil then
      wide = false
      if whi < 1e13 and wlo <= whi then
        local min, max = '[' .. leg.m .. '|' .. pad13(wlo), '[' .. leg.m .. '|' .. pad13(whi) .. '|~'
        local base, shard = poolKeys(leg.f, os, leg.a, leg.c, leg.m)
        local a = redis.call('ZRANGEBYLEX', base, min, max, 'LIMIT', '0', '64')
        if #a < 64 then
          local b = redis.call('ZRANGEBYLEX', shard, min, max, 'LIMIT', '0', '64')
          if #b < 64 then wide = { a, b } end
        end
      end
    end
    if not wide or lo < wlo or hi > whi then return poolRange(leg.f, os, leg.a, leg.c, leg.m, lo, hi, 64) end
    local out, from, to = {}, #leg.m + 2, #leg.m + 14
    for j = 1, 2 do
      local ms = wide[j]
      for i = 1, #ms do
        -- Members in the read share its amount and have 13-digit times (the read's bounds).
        local member = ms[i]
        local mt = tonumber(member:sub(from, to))
        if mt >= lo and mt <= hi then out[#out + 1] = member:sub(-16) end
      end
    end
    return out
  end
  local function nearestExact(lo, hi, expiredOnly, p)
    local best, bestDist = nil, nil
    local hs = exactRange(lo, hi)
    for i = 1, #hs do
      local c = loadH(hs[i])
      if fits(c, p, expiredOnly) then
        local dist = math.abs(c.t - t)
        if best == nil or dist < bestDist then best, bestDist = c, dist end
      end
    end
    return best
  end
  for i = 1, #probes do
    local p = probes[i]
    if p.key == 'a' then
      local best = nil
      if exactFor(p, leg.m) then
        best = nearestExact(t - p.win, t + p.win, false, p)
      else
        for _, e in ipairs(poolScan(leg.f, os, leg.a, leg.c, p, t - p.win, t + p.win, 256)) do
          if nearer(leg.m, t, e[2], e[3], best) then
            local c = loadH(e[1])
            if fits(c, p, false) then best = c end
          end
        end
      end
      if best then candidate, by, hit = best, 'attributes', p break end
    end
  end
  if not candidate then
    local best = nearestExact(t - retention, t + retention, true, nil)
    if best then candidate, by = best, 'attributes' end
  end
end

local function ids(c)
  if leg.s == 'chain' then return c.id, id end
  return id, c.id
end
local rule = (hit and hit.rule) or 'late-counterpart@builtin'

if parts then
  -- This leg is split by tranches of the other side: one match per tranche.
  local out = {}
  local trs = {}
  for _, e in ipairs(parts) do
    local c = e.c
    unindex(c, true)
    local rs = ''
    if c.state == 'expired' then rs = c.d or '' end
    local bankId, chainId = ids(c)
    local mid = 'match:' .. bankId .. '|' .. chainId
    local pub = public(c)
    c.state, c.x, c.mid, c.by, c.rs, c.ru = 'matched', id, mid, 'tranche', rs, e.p.rule
    save(c)
    trs[#trs + 1] = c.id
    out[#out + 1] = { mid = mid, other = pub, resolves = rs, rule = e.p.rule }
  end
  leg.tr = table.concat(trs, ' ')
  if leg.r ~= '' then refSet(leg) end
  if leg.rem == '0' then
    leg.x, leg.mid, leg.by, leg.ru = trs[#trs], out[#out].mid, 'tranche', out[#out].rule
    return finish('matched', { t = 'split', parts = out, remaining = '0' })
  end
  -- Still open for the rest: waits by reference only (not in the amount pool), with its deadline.
  local r0, res = finish('parked', { t = 'split', parts = out, remaining = leg.rem })
  indexAddOnce(DL_IDX[leg.s], deadline, leg.h)
  return r0, res
end

if not candidate then
  local r0, out = finish('parked', { t = 'parked' })
  poolAdd(leg, not existing)
  if leg.r ~= '' then refSet(leg) end
  indexAddOnce(DL_IDX[leg.s], deadline, leg.h)
  return r0, out
end

local bankId, chainId = ids(candidate)
local resolves = ''
if candidate.state == 'expired' then resolves = candidate.d or '' end
-- A credit's window closes when the confirmed chain passes its deadline: a mint later than that is
-- late by event time, whether or not a sweep ran before it was processed. Its discrepancy opens
-- and resolves now, the same facts as when the sweep came first (batching must not change them).
local opens = ''
if candidate.state == 'parked' and candidate.s == 'bank' and leg.s == 'chain' and t > candidate.t + window and not candidate.rem then
  opens = MISSING_OF_BANK[candidate.f] .. ':' .. candidate.id
  candidate.d, resolves = opens, opens
end

if by == 'tranche' then
  -- One tranche of the candidate: allocated against what it still has open.
  local cOpen = candidate.rem or candidate.m
  poolRem(candidate)
  candidate.rem = subDec(cOpen, leg.m)
  candidate.tr = ((candidate.tr and (candidate.tr .. ' ')) or '') .. id
  candidate.ru = rule
  save(candidate)
  if leg.r ~= '' then refSet(leg) end
  local mid = 'match:' .. bankId .. '|' .. chainId
  leg.x, leg.mid, leg.by, leg.ru = candidate.id, mid, 'tranche', rule
  return finish('matched', { t = 'match', mid = mid, by = 'tranche', rule = rule, conf = 'c', other = public(candidate), resolves = '', remaining = candidate.rem })
end

unindex(candidate, true)
if leg.r ~= '' then refSet(leg) end

local kind = nil
if candidate.c ~= leg.c then kind = 'CURRENCY_MISMATCH'
elseif not hit and candidate.m ~= leg.m then kind = 'AMOUNT_MISMATCH' end

local pub = public(candidate)
if kind then
  local did = kind .. ':' .. bankId .. '|' .. chainId
  candidate.state, candidate.x, candidate.d = 'mismatched', id, did
  save(candidate)
  leg.x, leg.d = candidate.id, did
  return finish('mismatched', { t = 'mismatch', kind = kind, discrepancyId = did, by = by,
                                other = pub, resolves = resolves, opens = opens })
end

if hit and hit.conf == 'p' then
  -- A loose rule: a proposal the operator confirms or rejects; both legs wait for the decision.
  local pid = 'proposal:' .. bankId .. '|' .. chainId
  candidate.state, candidate.x, candidate.mid, candidate.by, candidate.rs, candidate.ru = 'proposed', id, pid, by, resolves, rule
  save(candidate)
  leg.x, leg.mid, leg.by, leg.rs, leg.ru = candidate.id, pid, by, resolves, rule
  if opens ~= '' then resolves = '' end
  return finish('proposed', { t = 'proposal', pid = pid, by = by, rule = rule, other = pub, resolves = resolves, opens = opens })
end

local mid = 'match:' .. bankId .. '|' .. chainId
local last = candidate.rem ~= nil
if last then candidate.rem = '0' end
candidate.state, candidate.x, candidate.mid, candidate.by, candidate.rs, candidate.ru = 'matched', id, mid, by, resolves, rule
save(candidate)
leg.x, leg.mid, leg.by, leg.rs, leg.ru = candidate.id, mid, by, resolves, rule
local res = { t = 'match', mid = mid, by = by, rule = rule, conf = 'c', other = pub, resolves = resolves, opens = opens }
if last then res.remaining = '0' res.by = 'tranche' end
return finish('matched', res)
end

-- The reply is an array of two elements per leg, the outcome's own JSON string among them: a
-- string made of them all would be copied and hashed byte by byte once more (Redis's Lua hashes
-- every byte of every string it creates).
local FLAG = { [0] = '0', [1] = '1' }
local out = {}
PARKED_DELTA = {}
local LEG = '>' .. string.rep('I4c0', 18)
local legs, pos = ARGV[6], 1
-- Applies the leg whose 18 values come first, and moves pos past them (the 19th value).
local function step(...)
  pos = select(19, ...)
  return pcall(one, ...)
end
while pos <= #legs do
  local ok, replayed, enc = step(struct.unpack(LEG, legs, pos))
  -- Two elements per leg whatever happens: a nil would shift every later leg's answer.
  if ok and FLAG[replayed] and type(enc) == 'string' then
    out[#out + 1] = FLAG[replayed]
    out[#out + 1] = enc
  elseif ok then
    out[#out + 1] = 'e'
    out[#out + 1] = 'the match script produced no outcome for this leg'
  else
    out[#out + 1] = 'e'
    out[#out + 1] = tostring(replayed)
  end
end
-- Also the changes of a leg that failed half-way: the counters follow what was written.
flushParked()
pushIndexes()
return out
