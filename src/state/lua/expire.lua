-- Claims the legs of one side whose window has closed (deadline <= the other side's watermark):
-- each parked leg becomes 'expired' with a deterministic discrepancy id and is recorded in the
-- 'claimed' set until the caller confirms its discrepancy is durable (ackClaimed). Claims older than
-- the visibility timeout (a worker died between claim and write) are handed out again; the
-- deterministic id makes a second write harmless. Expired legs stay matchable for late legs.
--
-- ARGV: 1 prefix, 2 side, 3 watermark (event time ms), 4 limit, 5 now (wall ms), 6 visibility ms
local P, side = ARGV[1], ARGV[2]
local wm, limit, now, vis = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local MISSING = {
  bank = { deposit = 'MISSING_MINT', withdrawal = 'MISSING_BURN' },
  chain = { deposit = 'MISSING_BANK_CREDIT', withdrawal = 'MISSING_BANK_DEBIT' },
}
local out = {}

local function load(legId)
  local raw = redis.call('HGETALL', P .. 'leg:' .. legId)
  if #raw == 0 then return nil end
  local l = {}
  for i = 1, #raw, 2 do l[raw[i]] = raw[i + 1] end
  return { id = legId, s = l.s, f = l.f, a = l.a, w = l.w, c = l.c, k = l.k, m = l.m, n = l.n,
           t = tonumber(l.t), r = l.r, state = l.state, d = l.d or '' }
end

local stale = redis.call('ZRANGEBYSCORE', P .. 'claimed', '-inf', now - vis, 'LIMIT', 0, limit)
for _, legId in ipairs(stale) do
  local l = load(legId)
  if l and l.state == 'expired' and l.s == side then
    redis.call('ZADD', P .. 'claimed', now, legId)
    out[#out + 1] = l
  elseif not l or l.state ~= 'expired' then
    redis.call('ZREM', P .. 'claimed', legId)
  end
end

local due = redis.call('ZRANGEBYSCORE', P .. 'dl:' .. side, '-inf', wm, 'LIMIT', 0, limit)
for _, legId in ipairs(due) do
  redis.call('ZREM', P .. 'dl:' .. side, legId)
  local l = load(legId)
  if l and l.state == 'parked' then
    local d = MISSING[side][l.f] .. ':' .. legId
    redis.call('HSET', P .. 'leg:' .. legId, 'state', 'expired', 'd', d)
    redis.call('ZADD', P .. 'claimed', now, legId)
    l.state, l.d = 'expired', d
    out[#out + 1] = l
  end
end
if #out == 0 then return '[]' end
return cjson.encode(out)
