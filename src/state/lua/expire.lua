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
-- A leg whose window closes is first paired, if it can be, with an open leg of the other side:
-- the exact amount within the late retention (a late counterpart that arrived while this leg was
-- still waiting: its discrepancy opens and resolves at once, the same facts as when the late leg
-- arrives after the sweep), else its expiry-stage probes (lib.lua parseProbes): a tolerant match,
-- a proposal, or one AMOUNT_MISMATCH naming both legs. The pairing is stored with the leg (xp) so
-- that a claim handed out again carries it. A leg met by tranches expires as PARTIALLY_MATCHED.
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
local os = side == 'bank' and 'chain' or 'bank'

local function fits(l, c, p)
  return c and c.id ~= l.id and (c.state == 'parked' or c.state == 'expired') and not c.rem
    and (l.r == '' or c.r == '' or c.r == l.r) and (not p or (p.conf == 'c' and p.out == 'm') or not rejectedPair(l, c))
end
-- The open leg of the other side this closing leg pairs with, and the probe that found it (nil: exact).
local function counterpartAtExpiry(l)
  local best, bestDist = nil, nil
  for _, ch in ipairs(poolRange(l.f, os, l.a, l.c, l.m, l.t - retention, l.t + retention, 64)) do
    local c = loadH(ch)
    if fits(l, c, nil) then
      local dist = math.abs(c.t - l.t)
      if best == nil or dist < bestDist then best, bestDist = c, dist end
    end
  end
  if best then return best, nil end
  for _, p in ipairs(parseProbes(l.q)) do
    if p.key == 'a' then
      local bestExact = false
      -- Only legs of the other side up to this leg's deadline in event time: those that had come
      -- when the watermark passed it, whenever the sweep runs (same input, same pairing).
      for _, e in ipairs(poolScan(l.f, os, l.a, l.c, p, l.t - p.win, math.min(l.t + p.win, l.t + window), 256)) do
        local c = loadH(e[1])
        if fits(l, c, p) then
          local exact, dist = e[2] == l.m, math.abs(e[3] - l.t)
          if best == nil or (exact and not bestExact) or (exact == bestExact and dist < bestDist) then best, bestDist, bestExact = c, dist, exact end
        end
      end
      if best then return best, p end
    end
  end
  return nil, nil
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
    local c, p = counterpartAtExpiry(l)
    if c then
      poolRem(l)
      l.xp = cjson.encode(pairAtExpiry(l, c, p))
    end
  end
  save(l)
  redis.call('ZADD', P .. 'claimed', now, h)
  out[#out + 1] = stored(l)
  return 'done'
end)
return cjson.encode({ l = out, more = more and 1 or 0 })
