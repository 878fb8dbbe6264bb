-- Claims the legs of one side whose window has closed (deadline <= the other side's watermark):
-- each parked leg becomes 'expired' with a deterministic discrepancy id and is recorded in the
-- 'claimed' set until the caller confirms its discrepancy is durable (ackClaimed). Claims older than
-- the visibility timeout (a worker died between claim and write) are handed out again; the
-- deterministic id makes a second write harmless. Expired legs stay matchable for late legs.
-- Deadline buckets are swept in order; handles of legs no longer parked are dropped on the way.
-- (lib.lua is prepended.)
--
-- ARGV: 1 prefix, 2 side, 3 watermark (event time ms), 4 limit, 5 now (wall ms), 6 visibility ms,
--       7 window ms (a leg's deadline is its event time + window), 8 budget (handles to look at)
-- Returns {"l":[legs],"more":0|1}: more = 1 when the budget ran out before the due buckets did.
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
  return { id = l.id, s = l.s, f = l.f, a = l.a, w = l.w, c = l.c, k = l.k, m = l.m, n = l.n,
           t = l.t, r = l.r, state = l.state, d = l.d or '' }
end

local stale = redis.call('ZRANGEBYSCORE', P .. 'claimed', '-inf', now - vis, 'LIMIT', 0, limit)
for _, h in ipairs(stale) do
  local l = loadH(h)
  if l and l.state == 'expired' and l.s == side then
    redis.call('ZADD', P .. 'claimed', now, h)
    out[#out + 1] = stored(l)
  elseif not l or l.state ~= 'expired' then
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
  l.state, l.d = 'expired', MISSING[side][l.f] .. ':' .. l.id
  save(l)
  redis.call('ZADD', P .. 'claimed', now, h)
  out[#out + 1] = stored(l)
  return 'done'
end)
return cjson.encode({ l = out, more = more and 1 or 0 })
