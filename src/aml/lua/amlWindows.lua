-- Adds movements to the windows of their subjects in one shard of the AML window state (the
-- rolling transfer graph: each subject's movements with their counterparty), trims and returns
-- them. Idempotent without any record: a window member is the entry itself, event id included,
-- so adding it again changes nothing, and a retried partial write of an event (some shards
-- written, a crash, a redelivery) is harmless. All keys share the shard's hash tag in the prefix.
--
-- ARGV: 1 prefix, 2 time, 3 readFrom, 4 readTo, 5 maxEvents, 6 retention ms, 7 ttl ms,
--       8 M, then M x (subjectKey, member, entryTime)
-- Returns JSON {key: [member, score, …] latest first}

local P = ARGV[1]
local time = tonumber(ARGV[2])
local fmt = function(x) return string.format('%.0f', x) end
local M = tonumber(ARGV[8])
local out = {}
local i = 9
for _ = 1, M do
  local key, member, t = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local w = P .. 'w:' .. key
  redis.call('ZADD', w, fmt(t), member)
  redis.call('ZREMRANGEBYSCORE', w, '-inf', '(' .. fmt(time - tonumber(ARGV[6])))
  redis.call('PEXPIRE', w, ARGV[7])
  i = i + 3
end
i = 9
for _ = 1, M do
  local key = ARGV[i]
  if not out[key] then out[key] = redis.call('ZREVRANGEBYSCORE', P .. 'w:' .. key, ARGV[4], ARGV[3], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[5])) end
  i = i + 3
end
return cjson.encode(out)
