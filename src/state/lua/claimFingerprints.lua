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
-- Each key under pcall: a key that fails (of another type, say) answers { -1, error } alone and
-- the others of the call still apply, as with one call per id.
local function claim(key, fp)
  local f = redis.call('HGET', key, 'f')
  if not f then
    redis.call('HSET', key, 'f', fp)
    redis.call('PEXPIRE', key, ARGV[1])
    return { 0, fp, 0 }
  elseif f == fp then
    return { 1, f, 0 }
  end
  return { 2, f, 1 - redis.call('HSETNX', key, 'c:' .. fp, '1') }
end
local out = {}
for i = 1, #KEYS do
  local ok, r = pcall(claim, KEYS[i], ARGV[i + 1])
  if ok then out[i] = r else out[i] = { -1, tostring(r and r.err or r), 0 } end
end
return out
