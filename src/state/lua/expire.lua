-- Claims the legs of one side whose window has closed (deadline <= the other side's watermark):
-- each parked leg becomes 'expired' with a deterministic discrepancy id and is recorded in the
-- 'claimed' set until the caller confirms its discrepancy is durable (ackClaimed). Claims older than
-- the visibility timeout (a worker died between claim and write) are handed out again; the
-- deterministic id makes a second write harmless. Expired legs stay matchable for late legs.
-- Deadline buckets are swept in order; handles of legs no longer parked are dropped on the way.
-- (lib.lua is prepended.)
--
-- ARGV: 1 prefix, 2 side, 3 watermark (event time ms), 4 limit, 5 now (wall ms), 6 visibility ms,
--       7 window ms (a leg's deadline is its event time + window), 8 budget (handles to look at),
--       9 late retention ms (how far in event time a late counterpart is looked for)
-- Returns {"l":[legs],"more":0|1}: more = 1 when the budget ran out before the due buckets did.
--
-- A leg whose window closes is first paired, if it can be, with an open leg of the other side of
-- the exact amount within the late retention (a late counterpart that arrived while this leg was
-- still waiting: its discrepancy opens and resolves at once, the same facts as when the late leg
-- arrives after the sweep); its expiry rules come next, in pairExpired.lua. The pairing is stored
-- with the leg (xp) so that a claim handed out again carries it. A leg met by tranches expires as
-- PARTIALLY_MATCHED.
P = ARGV[1]
local side = ARGV[2]
local wm, limit, now, vis = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local window, budget = tonumber(ARGV[7]), tonumber(ARGV[8])
local MISSING = {
  bank = { deposit = 'MISSING_MINT', withdrawal = 'MISSING_BURN' },
  chain = { deposit = 'MISSING_BANK_CREDIT', withdrawal = 'MISSING_BANK_DEBIT' },
}
local out = {}
local function stored(l)
  local r = { id = l.id, s = l.s, f = l.f, a = l.a, w = l.w, c = l.c, k = l.k, m = l.m, n = l.n,
              t = l.t, r = l.r, state = l.state, d = l.d or '', rem = l.rem or '' }
  if l.xp then r.pair = cjson.decode(l.xp) end
  return r
end
local retention = tonumber(ARGV[9])

-- A late counterpart: an open leg of the other side with the exact amount within the retention.
local function lateCounterpart(l)
  local best, bestDist = nil, nil
  for _, ch in ipairs(poolRange(l.f, otherSide(l.s), l.a, l.c, l.m, l.t - retention, l.t + retention, 64)) do
    local c = loadH(ch)
    if fitsAtExpiry(l, c, nil) then
      local dist = math.abs(c.t - l.t)
      if best == nil or dist < bestDist then best, bestDist = c, dist end
    end
  end
  return best
end

local stale = redis.call('ZRANGEBYSCORE', P .. 'claimed', '-inf', now - vis, 'LIMIT', 0, limit)
for _, h in ipairs(stale) do
  local l = loadH(h)
  if l and (l.state == 'expired' or l.xp) and l.s == side then
    redis.call('ZADD', P .. 'claimed', now, h)
    out[#out + 1] = stored(l)
  elseif not l or (l.state ~= 'expired' and not l.xp) then
    redis.call('ZREM', P .. 'claimed', h)
  end
end

local idx = P .. 'dl:' .. side
local _, more = sweep(idx, wm, limit, budget, function(h, b)
  local l = loadH(h)
  if not l or l.state ~= 'parked' or l.s ~= side then return 'drop' end
  local deadline = l.t + window
  if deadline > wm then
    -- Not due (only in the bucket the watermark falls in, or after the window was reconfigured).
    if bucketOf(deadline) == b then return 'keep' end
    indexAdd(idx, deadline, h)
    return 'moved'
  end
  if l.rem then l.d = 'PARTIALLY_MATCHED:' .. l.id else l.d = MISSING[side][l.f] .. ':' .. l.id end
  l.state = 'expired'
  if not l.rem then
    local c = lateCounterpart(l)
    if c then
      poolRem(l)
      l.xp = cjson.encode(pairAtExpiry(l, c, nil))
    end
  end
  save(l)
  redis.call('ZADD', P .. 'claimed', now, h)
  out[#out + 1] = stored(l)
  return 'done'
end)
return cjson.encode({ l = out, more = more and 1 or 0 })
