-- Raises a source's event-time watermark monotonically (never lowers it) and records when it last
-- moved on the wall clock. ARGV: 1 prefix, 2 source, 3 event time ms, 4 now (wall ms)
local k = ARGV[1] .. 'wm'
local cur = tonumber(redis.call('HGET', k, ARGV[2]) or '-1')
local v = tonumber(ARGV[3])
redis.call('HSET', k, ARGV[2] .. ':seen', ARGV[4])
if v > cur then redis.call('HSET', k, ARGV[2], ARGV[3]) return 1 end
return 0
