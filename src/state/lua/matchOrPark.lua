-- Atomic match-or-park of one leg (bank posting or chain event) against the legs of the other side.
-- All keys share the hash tag in the prefix, so the script stays in one Redis Cluster slot.
-- Idempotent: a leg already applied with the same fingerprint and status returns its stored outcome
-- (replayed = 1), so a redelivered message re-derives exactly the facts it produced the first time.
--
-- ARGV: 1 prefix, 2 legId, 3 side, 4 flow, 5 account, 6 wallet, 7 currency, 8 tokenKey,
--       9 amountKey, 10 amountNative, 11 eventTime, 12 reference ('' for none), 13 fingerprint,
--       14 status (pending|booked|reversed), 15 tolerance ms (window + lateness),
--       16 retention ms (how long terminal legs are remembered), 17 deadline (event time ms),
--       18 '1' when the state must carry its epoch key (a worker's store), else '' (unit tests)

local P = ARGV[1]
local id = ARGV[2]
-- Redis lost its memory (restart without persistence): matching against an empty state would park
-- legs whose counterparts were forgotten (false MISSING_*) and forget parked ones (lost MISSING_*).
-- Refuse until the worker has rebuilt the state from the facts (stateGuard.ts) and set the epoch.
if ARGV[18] == '1' and redis.call('EXISTS', P .. 'epoch') == 0 then
  return redis.error_reply('STATE_LOST ' .. P .. 'epoch is missing: match state is being rebuilt')
end
local RANK = { pending = 1, booked = 2, reversed = 3 }

local function other(side) if side == 'bank' then return 'chain' end return 'bank' end
local function legKey(legId) return P .. 'leg:' .. legId end
local function refKey(flow, side, ref) return P .. 'ref:' .. flow .. ':' .. side .. ':' .. ref end
local function poolKey(l) return P .. 'pool:' .. l.f .. ':' .. l.s .. ':' .. l.a .. ':' .. l.c .. ':' .. l.m end

local function load(legId)
  local raw = redis.call('HGETALL', legKey(legId))
  if #raw == 0 then return nil end
  local l = {}
  for i = 1, #raw, 2 do l[raw[i]] = raw[i + 1] end
  l.id = legId
  return l
end

-- What the caller needs to know about a counterpart (no stored outcome).
local function public(l)
  return { id = l.id, s = l.s, f = l.f, a = l.a, w = l.w, c = l.c, k = l.k, m = l.m, n = l.n,
           t = tonumber(l.t), r = l.r, state = l.state, d = l.d or '', mid = l.mid or '' }
end

-- Takes a leg out of every index through which it could still be matched or expired. A matched
-- leg keeps its reference index (keepRef), so a later leg with the same reference is a duplicate.
local function unindex(l, keepRef)
  redis.call('ZREM', poolKey(l), l.id)
  if not keepRef and l.r ~= nil and l.r ~= '' then
    local rk = refKey(l.f, l.s, l.r)
    if redis.call('GET', rk) == l.id then redis.call('DEL', rk) end
  end
  redis.call('ZREM', P .. 'dl:' .. l.s, l.id)
  redis.call('ZREM', P .. 'claimed', l.id)
end

local function finish(legId, fields, outcome)
  outcome.legId = legId
  local enc = cjson.encode(outcome)
  fields[#fields + 1] = 'o'
  fields[#fields + 1] = enc
  redis.call('HSET', legKey(legId), unpack(fields))
  redis.call('ZADD', P .. 'gc', tonumber(ARGV[11]) + tonumber(ARGV[16]), legId)
  return '{"replayed":0,"outcome":' .. enc .. '}'
end

local leg = { id = id, s = ARGV[3], f = ARGV[4], a = ARGV[5], w = ARGV[6], c = ARGV[7], k = ARGV[8],
              m = ARGV[9], n = ARGV[10], t = ARGV[11], r = ARGV[12], p = ARGV[13], st = ARGV[14] }
local tolerance = tonumber(ARGV[15])
local fields = { 's', leg.s, 'f', leg.f, 'a', leg.a, 'w', leg.w, 'c', leg.c, 'k', leg.k, 'm', leg.m,
                 'n', leg.n, 't', leg.t, 'r', leg.r, 'p', leg.p, 'st', leg.st }

local existing = load(id)
if existing then
  if existing.p ~= leg.p then
    -- Same entry id, different content: a conflicting redelivery. The stored leg stays as it was.
    return '{"replayed":0,"outcome":' .. cjson.encode({ t = 'conflict', legId = id, other = public(existing) }) .. '}'
  end
  local was, now = RANK[existing.st] or 2, RANK[leg.st] or 2
  if now <= was then
    -- A leg rebuilt from the facts while still parked may belong to a message that never finished
    -- (its facts only partly durable): match it again as if new. Anything else is a replay.
    if existing.rb ~= '1' or existing.state ~= 'parked' then
      return '{"replayed":1,"outcome":' .. (existing.o or '{"t":"stale"}') .. '}'
    end
    unindex(existing)
  end
  if leg.st == 'reversed' then
    fields[#fields + 1] = 'state'
    fields[#fields + 1] = 'reversed'
    if existing.state == 'matched' then
      local cp = load(existing.x)
      return finish(id, fields, { t = 'reversal', mid = existing.mid, by = existing.by or 'attributes',
                                  resolves = existing.rs or '', other = cp and public(cp) or cjson.null })
    end
    unindex(existing)
    local resolves = ''
    if existing.state == 'expired' then resolves = existing.d or '' end
    return finish(id, fields, { t = 'withdrawn', resolves = resolves })
  end
  -- pending -> booked: the leg becomes matchable now.
elseif leg.st == 'pending' then
  fields[#fields + 1] = 'state'
  fields[#fields + 1] = 'pending'
  return finish(id, fields, { t = 'pending' })
elseif leg.st == 'reversed' then
  fields[#fields + 1] = 'state'
  fields[#fields + 1] = 'reversed'
  return finish(id, fields, { t = 'withdrawn', resolves = '' })
end

-- Find the counterpart: the shared reference first, then account + currency + exact amount,
-- nearest in event time within the tolerance.
local os = other(leg.s)
local t = tonumber(leg.t)
local candidate, by = nil, nil
if leg.r ~= '' then
  local cid = redis.call('GET', refKey(leg.f, os, leg.r))
  if cid then
    local c = load(cid)
    if c and (c.state == 'parked' or c.state == 'expired') then
      candidate, by = c, 'reference'
    elseif c and (c.state == 'matched' or c.state == 'mismatched') then
      fields[#fields + 1] = 'state'
      fields[#fields + 1] = 'duplicate'
      return finish(id, fields, { t = 'duplicate', other = public(c) })
    end
  end
end
if not candidate then
  -- Within the tolerance any waiting leg will do; beyond it (up to the retention), only a leg whose
  -- window already closed: the newcomer is its late counterpart and resolves its discrepancy.
  local probe = { f = leg.f, s = os, a = leg.a, c = leg.c, m = leg.m }
  local function nearest(lo, hi, expiredOnly)
    local ids = redis.call('ZRANGEBYSCORE', poolKey(probe), lo, hi, 'LIMIT', 0, 64)
    local best, bestDist = nil, nil
    for _, cid in ipairs(ids) do
      local c = load(cid)
      -- Two legs that both carry references only match by reference.
      if c and (leg.r == '' or c.r == '' or c.r == leg.r) and (not expiredOnly or c.state == 'expired') then
        local dist = math.abs(tonumber(c.t) - t)
        if best == nil or dist < bestDist then best, bestDist = c, dist end
      end
    end
    return best
  end
  local best = nearest(t - tolerance, t + tolerance, false)
  if not best then
    local retention = tonumber(ARGV[16])
    best = nearest(t - retention, t + retention, true)
  end
  if best then candidate, by = best, 'attributes' end
end

if not candidate then
  fields[#fields + 1] = 'state'
  fields[#fields + 1] = 'parked'
  redis.call('ZADD', poolKey(leg), t, id)
  if leg.r ~= '' then redis.call('SET', refKey(leg.f, leg.s, leg.r), id) end
  redis.call('ZADD', P .. 'dl:' .. leg.s, tonumber(ARGV[17]), id)
  return finish(id, fields, { t = 'parked' })
end

unindex(candidate, true)
if leg.r ~= '' then redis.call('SET', refKey(leg.f, leg.s, leg.r), id) end
local resolves = ''
if candidate.state == 'expired' then resolves = candidate.d or '' end
local bankId, chainId = id, candidate.id
if leg.s == 'chain' then bankId, chainId = candidate.id, id end

local kind = nil
if candidate.c ~= leg.c then kind = 'CURRENCY_MISMATCH'
elseif candidate.m ~= leg.m then kind = 'AMOUNT_MISMATCH' end

if kind then
  local did = kind .. ':' .. bankId .. '|' .. chainId
  redis.call('HSET', legKey(candidate.id), 'state', 'mismatched', 'x', id, 'd', did)
  fields[#fields + 1] = 'state'
  fields[#fields + 1] = 'mismatched'
  fields[#fields + 1] = 'x'
  fields[#fields + 1] = candidate.id
  fields[#fields + 1] = 'd'
  fields[#fields + 1] = did
  return finish(id, fields, { t = 'mismatch', kind = kind, discrepancyId = did, by = by,
                              other = public(candidate), resolves = resolves })
end

local mid = 'match:' .. bankId .. '|' .. chainId
redis.call('HSET', legKey(candidate.id), 'state', 'matched', 'x', id, 'mid', mid, 'by', by, 'rs', resolves)
for _, v in ipairs({ 'by', by, 'rs', resolves }) do fields[#fields + 1] = v end
fields[#fields + 1] = 'state'
fields[#fields + 1] = 'matched'
fields[#fields + 1] = 'x'
fields[#fields + 1] = candidate.id
fields[#fields + 1] = 'mid'
fields[#fields + 1] = mid
return finish(id, fields, { t = 'match', mid = mid, by = by, other = public(candidate), resolves = resolves })
