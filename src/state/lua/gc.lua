-- Forgets legs whose retention has passed in event time (event time + retention <= watermark), so
-- Redis holds only what a late leg or a redelivery could still need. (lib.lua is prepended.)
-- ARGV: 1 prefix, 2 watermark (event time ms), 3 limit, 4 retention ms
P = ARGV[1]
local wm, limit, retention = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local idx = P .. 'gc'
local n = sweep(idx, wm, limit, limit * 4, function(h, b)
  local l = loadH(h)
  if not l then return 'drop' end
  local at = l.t + retention
  if at > wm then
    if bucketOf(at) == b then return 'keep' end
    indexAdd(idx, at, h)
    return 'moved'
  end
  poolRem(l)
  if l.r ~= '' then refDelIfOwn(l) end
  redis.call('ZREM', P .. 'claimed', h)
  forget(l)
  return 'done'
end)
return n
