-- Read only: the open legs of the other side a closing leg could be split by (same flow, account
-- and currency, event time in [lo, hi], not already met by tranches, not a pair an operator
-- rejected), at most limit + 1 (so the caller sees when there are more than its bound).
-- (lib.lua is prepended.)
--
-- ARGV: 1 prefix, 2 legId, 3 lo, 4 hi (event time ms), 5 limit
-- Returns {"state":"…","legs":[{"id":…,"m":…,"t":…}]} or {"state":"unknown"}.
P = ARGV[1]
local l = load(ARGV[2])
if not l then return '{"state":"unknown"}' end
local lo, hi, limit = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local out = {}
local base = P .. 'p:' .. l.f .. ':' .. otherSide(l.s) .. ':' .. l.a .. ':' .. l.c
local keys = { base }
if redis.call('ZCARD', base) >= POOL_BASE then
  for i = 0, 15 do keys[#keys + 1] = base .. ':' .. string.format('%x', i) end
end
for _, k in ipairs(keys) do
  for _, member in ipairs(redis.call('ZRANGE', k, 0, -1)) do
    local m, t, h = string.match(member, '^(.-)|(%d+)|(%x+)$')
    t = tonumber(t)
    if t >= lo and t <= hi then
      local c = loadH(h)
      if fitsAtExpiry(l, c, nil) then
        out[#out + 1] = { id = c.id, m = c.m, t = c.t }
        if #out > limit then return cjson.encode({ state = l.state, legs = out }) end
      end
    end
  end
end
if #out == 0 then return cjson.encode({ state = l.state }) end
return cjson.encode({ state = l.state, legs = out })
