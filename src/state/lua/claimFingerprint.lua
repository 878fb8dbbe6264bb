-- Records the content fingerprint first seen under one entry id, atomically: the first content
-- wins. One key per entry id, with the id as its own hash tag (KEYS[1] = prefix .. 'fp:{' .. id .. '}'),
-- so the record is found whichever worker, stream partition or shard the next copy arrives on.
--
-- KEYS: 1 the record. ARGV: 1 fingerprint, 2 ttl ms (set once, when the record is created).
-- Returns { code, first fingerprint, conflict seen before (0|1) }; code 0: new, 1: same content,
-- 2: different content (the record keeps the first; the conflicting fingerprint is remembered,
-- so a copy of the same conflicting content is recognised as a replay of that conflict).
local f = redis.call('HGET', KEYS[1], 'f')
if not f then
  redis.call('HSET', KEYS[1], 'f', ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return { 0, ARGV[1], 0 }
end
if f == ARGV[1] then return { 1, f, 0 } end
local fresh = redis.call('HSETNX', KEYS[1], 'c:' .. ARGV[1], '1')
return { 2, f, 1 - fresh }
