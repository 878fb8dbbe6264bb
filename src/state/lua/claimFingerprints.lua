-- Records the content fingerprint first seen under each of several entry ids, atomically per id:
-- the first content wins. One key per entry id, with the id as its own hash tag
-- (KEYS[i] = prefix .. 'fp:{' .. id .. '}'), so the record is found whichever worker, stream
-- partition or shard the next copy arrives on. On Redis Cluster each call carries one key (the
-- keys of a batch are in different slots); on a single Redis a batch of ids goes in one call.
--
-- KEYS: the records. ARGV: 1 ttl ms (set once, when a record is created), then the fingerprint of
-- each key, in order. Returns, per key, { code, first fingerprint, conflict seen before (0|1) };
-- code 0: new, 1: same content, 2: different content (the record keeps the first; the
-- conflicting fingerprint is remembered, so a copy of the same conflicting content is recognised
-- as a replay of that conflict).
local out = {}
for i = 1, #KEYS do
  local key, fp = KEYS[i], ARGV[i + 1]
  local f = redis.call('HGET', key, 'f')
  if not f then
    redis.call('HSET', key, 'f', fp)
    redis.call('PEXPIRE', key, ARGV[1])
    out[i] = { 0, fp, 0 }
  elseif f == fp then
    out[i] = { 1, f, 0 }
  else
    out[i] = { 2, f, 1 - redis.call('HSETNX', key, 'c:' .. fp, '1') }
  end
end
return out
