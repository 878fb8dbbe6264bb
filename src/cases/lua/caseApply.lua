-- Applies one case action atomically with its audit record: the case's new state is stored only if
-- the case is still at the version the action was decided on, and the audit record is chained only
-- if the audit head is still the record it was built on. Either moved: nothing changes, and the
-- caller decides again on what it finds (another operator acted first).
-- KEYS[1] the case (JSON state with "version"), KEYS[2] the audit head, KEYS[3] the audit pending
-- list (one hash tag: one slot).
-- ARGV[1] the case version decided on (0: no state yet), ARGV[2] the new state (JSON),
-- ARGV[3] the audit seq built on, ARGV[4] the new record's seq, ARGV[5] its hash, ARGV[6] the record.
-- Returns {1} applied (also for the same record applied twice: a retry after a lost reply),
-- {0, case, head} when either moved.
local head = redis.call('GET', KEYS[2])
local seq, hash = 0, ''
if head then
  local h = cjson.decode(head)
  seq, hash = tonumber(h.seq), h.hash
end
if seq == tonumber(ARGV[4]) and hash == ARGV[5] then return { 1 } end
local case = redis.call('GET', KEYS[1])
local version = 0
if case then version = tonumber(cjson.decode(case).version) end
if version ~= tonumber(ARGV[1]) or seq ~= tonumber(ARGV[3]) then return { 0, case or '', head or '' } end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], cjson.encode({ seq = tonumber(ARGV[4]), hash = ARGV[5] }))
redis.call('RPUSH', KEYS[3], ARGV[6])
return { 1 }
