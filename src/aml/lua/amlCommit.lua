-- Decides one event's AML alerts once: drops a candidate when its rule already alerted on its
-- subject within the suppression period (event time, either side), stores the kept alerts with the
-- event, and returns them. A second commit of the same event returns the stored alerts.
--
-- ARGV: 1 prefix, 2 eventId, 3 ttl ms, 4 N, then N x (suppression key, time, suppress ms, alert JSON)
-- Returns { replayed (0|1), alerts JSON array }

local P = ARGV[1]
local evKey = P .. 'ev:' .. ARGV[2]
if redis.call('HGET', evKey, 's') == 'done' then
  return { 1, redis.call('HGET', evKey, 'r') }
end
local kept = {}
local n = tonumber(ARGV[4])
local i = 5
for _ = 1, n do
  local supKey = P .. 'sup:' .. ARGV[i]
  local t = tonumber(ARGV[i + 1])
  local s = tonumber(ARGV[i + 2])
  local last = redis.call('GET', supKey)
  if not (last and math.abs(t - tonumber(last)) < s) then
    if s > 0 then redis.call('SET', supKey, ARGV[i + 1], 'PX', ARGV[3]) end
    kept[#kept + 1] = ARGV[i + 3]
  end
  i = i + 4
end
local r = '[' .. table.concat(kept, ',') .. ']'
redis.call('HSET', evKey, 's', 'done', 'r', r)
redis.call('PEXPIRE', evKey, ARGV[3])
return { 0, r }
