-- Forgets legs whose retention has passed in event time (score = event time + retention), so
-- Redis holds only what a late leg or a redelivery could still need.
-- ARGV: 1 prefix, 2 watermark (event time ms), 3 limit
local P, wm, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local ids = redis.call('ZRANGEBYSCORE', P .. 'gc', '-inf', wm, 'LIMIT', 0, limit)
for _, legId in ipairs(ids) do
  local k = P .. 'leg:' .. legId
  local f = redis.call('HMGET', k, 's', 'f', 'a', 'c', 'm', 'r')
  if f[1] then
    redis.call('ZREM', P .. 'pool:' .. f[2] .. ':' .. f[1] .. ':' .. f[3] .. ':' .. f[4] .. ':' .. f[5], legId)
    if f[6] and f[6] ~= '' then
      local rk = P .. 'ref:' .. f[2] .. ':' .. f[1] .. ':' .. f[6]
      if redis.call('GET', rk) == legId then redis.call('DEL', rk) end
    end
    redis.call('ZREM', P .. 'dl:' .. f[1], legId)
    redis.call('ZREM', P .. 'claimed', legId)
  end
  redis.call('DEL', k)
  redis.call('ZREM', P .. 'gc', legId)
end
return #ids
