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
--       the state must carry its epoch key (a worker's store), else '' (unit tests);
--       then 14 per leg: legId, side, flow, account, wallet, currency, tokenKey, amountKey,
--       amountNative, eventTime, reference ('' for none), fingerprint, status (pending|booked|reversed),
--       handle (handleOf(legId), computed by the client)
-- Returns a JSON array, one element per leg: {"replayed":0|1,"outcome":{...}}, or {"error":"..."}
-- when that leg failed (the others are applied).

P = ARGV[1]
-- Redis lost its memory (restart without persistence): matching against an empty state would park
-- legs whose counterparts were forgotten (false MISSING_*) and forget parked ones (lost MISSING_*).
-- Refuse until the worker has rebuilt the state from the facts (stateGuard.ts) and set the epoch.
if ARGV[5] == '1' and redis.call('EXISTS', P .. 'epoch') == 0 then
  return redis.error_reply('STATE_LOST ' .. P .. 'epoch is missing: match state is being rebuilt')
end
local RANK = { pending = 1, booked = 2, reversed = 3 }
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
-- which may drop a bucket, never runs inside it), so a bucket seen here is still registered.
local BUCKETS = {}
local function indexAddOnce(idx, ms, h)
  local b = math.floor(ms / 1000)
  local lk = idx .. ':' .. b
  redis.call('RPUSH', lk, h)
  if not BUCKETS[lk] then
    redis.call('ZADD', idx, b, b)
    BUCKETS[lk] = true
  end
end

local function one(A, o)
local id = A[o + 1]
local status = A[o + 13]
local deadline = tonumber(A[o + 10]) + window
local existing = load(id, A[o + 14])
local leg = existing or { id = id, h = A[o + 14] }
if not existing then
  leg.s, leg.f, leg.a, leg.w, leg.c, leg.k = A[o + 2], A[o + 3], A[o + 4], A[o + 5], A[o + 6], A[o + 7]
  leg.m, leg.n, leg.t, leg.r, leg.p = A[o + 8], A[o + 9], tonumber(A[o + 10]), A[o + 11], A[o + 12]
end

-- Stores the leg in its new state with the outcome a redelivery must replay ({t:'parked'} is the
-- default and not stored), and schedules a new leg to be forgotten after the retention.
local function finish(state, outcome)
  outcome.legId = id
  local enc = cjson.encode(outcome)
  leg.state, leg.st, leg.rb = state, status, false
  if outcome.t == 'parked' then leg.o = nil else leg.o = enc end
  save(leg)
  if not existing then indexAddOnce(P .. 'gc', leg.t + retention, leg.h) end
  return '{"replayed":0,"outcome":' .. enc .. '}'
end

if existing then
  if existing.p ~= A[o + 12] then
    -- Same entry id, different content: a conflicting redelivery. The stored leg stays as it was.
    return '{"replayed":0,"outcome":' .. cjson.encode({ t = 'conflict', legId = id, other = public(existing) }) .. '}'
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
      return '{"replayed":1,"outcome":' .. o .. '}'
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

-- Find the counterpart: the shared reference first, then account + currency + exact amount,
-- nearest in event time within the tolerance.
local os = other(leg.s)
local t = leg.t
local candidate, by = nil, nil
if leg.r ~= '' then
  local ch = refGet(leg.f, os, leg.r)
  if ch then
    local c = loadH(ch)
    if c and (c.state == 'parked' or c.state == 'expired') then
      candidate, by = c, 'reference'
    elseif c and (c.state == 'matched' or c.state == 'mismatched') then
      return finish('duplicate', { t = 'duplicate', other = public(c) })
    end
  end
end
if not candidate then
  -- Within the tolerance any waiting leg will do; beyond it (up to the retention), only a leg whose
  -- window already closed: the newcomer is its late counterpart and resolves its discrepancy.
  local function nearest(lo, hi, expiredOnly)
    local best, bestDist = nil, nil
    for _, ch in ipairs(poolRange(leg.f, os, leg.a, leg.c, leg.m, lo, hi, 64)) do
      local c = loadH(ch)
      -- Two legs that both carry references only match by reference.
      if c and (c.state == 'parked' or c.state == 'expired') and (leg.r == '' or c.r == '' or c.r == leg.r)
        and (not expiredOnly or c.state == 'expired') then
        local dist = math.abs(c.t - t)
        if best == nil or dist < bestDist then best, bestDist = c, dist end
      end
    end
    return best
  end
  local best = nearest(t - tolerance, t + tolerance, false)
  if not best then best = nearest(t - retention, t + retention, true) end
  if best then candidate, by = best, 'attributes' end
end

if not candidate then
  local out = finish('parked', { t = 'parked' })
  poolAdd(leg, not existing)
  if leg.r ~= '' then refSet(leg) end
  indexAddOnce(P .. 'dl:' .. leg.s, deadline, leg.h)
  return out
end

unindex(candidate, true)
if leg.r ~= '' then refSet(leg) end
local resolves = ''
if candidate.state == 'expired' then resolves = candidate.d or '' end
local bankId, chainId = id, candidate.id
if leg.s == 'chain' then bankId, chainId = candidate.id, id end

local kind = nil
if candidate.c ~= leg.c then kind = 'CURRENCY_MISMATCH'
elseif candidate.m ~= leg.m then kind = 'AMOUNT_MISMATCH' end

local pub = public(candidate)
if kind then
  local did = kind .. ':' .. bankId .. '|' .. chainId
  candidate.state, candidate.x, candidate.d = 'mismatched', id, did
  save(candidate)
  leg.x, leg.d = candidate.id, did
  return finish('mismatched', { t = 'mismatch', kind = kind, discrepancyId = did, by = by,
                                other = pub, resolves = resolves })
end

local mid = 'match:' .. bankId .. '|' .. chainId
candidate.state, candidate.x, candidate.mid, candidate.by, candidate.rs = 'matched', id, mid, by, resolves
save(candidate)
leg.x, leg.mid, leg.by, leg.rs = candidate.id, mid, by, resolves
return finish('matched', { t = 'match', mid = mid, by = by, other = pub, resolves = resolves })
end

local out = {}
PARKED_DELTA = {}
for o = 5, #ARGV - 1, 14 do
  local ok, res = pcall(one, ARGV, o)
  if ok then out[#out + 1] = res
  else out[#out + 1] = cjson.encode({ error = tostring(res) }) end
end
-- Also the changes of a leg that failed half-way: the counters follow what was written.
flushParked()
return '[' .. table.concat(out, ',') .. ']'
