-- Appends one record to the audit chain if the chain's head is still the record it was built on
-- (compare-and-set), so that writers on any number of workers form one chain without gaps or forks.
-- KEYS[1] head (JSON {"seq":n,"hash":h} of the last record), KEYS[2] pending list (records chained
-- here but not yet durable in ClickHouse; same hash tag as KEYS[1]).
-- KEYS[3] the once-keys of records that must be chained at most once (same hash tag): one hash
-- for ever, or a bucket of them that expires (ARGV[6]).
-- ARGV[1] the seq the new record was built on (0 for the first), ARGV[2] the new record's seq,
-- ARGV[3] its hash, ARGV[4] the record (JSON, pushed to pending), ARGV[5] its once-key or '',
-- ARGV[6] seconds the once-key hash lives after this write (0: for ever).
-- Returns {1} when appended, {0, head} when the head moved (the caller rebuilds on it), {1}
-- again for the same record appended twice (a retry after a lost reply), and {2} when a record
-- with this once-key is already chained (an event the system records once: an SLA breach, …).
if ARGV[5] ~= '' and redis.call('HEXISTS', KEYS[3], ARGV[5]) == 1 then return { 2 } end
local head = redis.call('GET', KEYS[1])
local seq, hash = 0, ''
if head then
  local h = cjson.decode(head)
  seq, hash = tonumber(h.seq), h.hash
end
if seq == tonumber(ARGV[2]) and hash == ARGV[3] then return { 1 } end
if seq ~= tonumber(ARGV[1]) then return { 0, head or '' } end
redis.call('SET', KEYS[1], cjson.encode({ seq = tonumber(ARGV[2]), hash = ARGV[3] }))
redis.call('RPUSH', KEYS[2], ARGV[4])
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[3], ARGV[5], ARGV[2])
  if tonumber(ARGV[6]) > 0 then redis.call('EXPIRE', KEYS[3], tonumber(ARGV[6])) end
end
return { 1 }
