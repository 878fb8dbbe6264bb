-- Adds one event's movements to the AML window state of their subjects, once per event id, and
-- returns what the rules read. All keys share the hash tag in the prefix (one Redis Cluster slot).
-- Amounts are only handed to HINCRBY (exact 64-bit integers in Redis): Lua never does money.
--
-- ARGV: 1 prefix, 2 eventId, 3 time, 4 readFrom, 5 readTo, 6 maxEvents, 7 retention ms,
--       8 activity retention ms, 9 ttl ms, 10 B, then B x (bucketMs, fromIdx, toIdx),
--       then M, then M x (subjectKey, member, dir, amount, entryTime)
-- Returns JSON {"s":"done","r":<alerts JSON>} or {"s":"open","subjects":{key:{w,p,b}}}

local P = ARGV[1]
local evKey = P .. 'ev:' .. ARGV[2]
local time = tonumber(ARGV[3])
local fmt = function(x) return string.format('%.0f', x) end

local st = redis.call('HGET', evKey, 's')
if st == 'done' then
  return '{"s":"done","r":' .. redis.call('HGET', evKey, 'r') .. '}'
end

local B = tonumber(ARGV[10])
local buckets = {}
local i = 11
for b = 1, B do
  buckets[b] = { ms = tonumber(ARGV[i]), from = tonumber(ARGV[i + 1]), to = tonumber(ARGV[i + 2]) }
  i = i + 3
end
local M = tonumber(ARGV[i])
i = i + 1
local movements = {}
for m = 1, M do
  movements[m] = { key = ARGV[i], member = ARGV[i + 1], dir = ARGV[i + 2], amount = ARGV[i + 3], t = tonumber(ARGV[i + 4]) }
  i = i + 5
end
local ttl = ARGV[9]

if not st then
  for _, mv in ipairs(movements) do
    local w = P .. 'w:' .. mv.key
    redis.call('ZADD', w, fmt(mv.t), mv.member)
    redis.call('ZREMRANGEBYSCORE', w, '-inf', '(' .. fmt(time - tonumber(ARGV[7])))
    redis.call('PEXPIRE', w, ttl)
    local act = P .. 'act:' .. mv.key
    local day = fmt(math.floor(mv.t / 86400000))
    local cur = redis.call('ZSCORE', act, day)
    if (not cur) or tonumber(cur) < mv.t then redis.call('ZADD', act, fmt(mv.t), day) end
    redis.call('ZREMRANGEBYSCORE', act, '-inf', '(' .. fmt(time - tonumber(ARGV[8])))
    redis.call('PEXPIRE', act, ttl)
    if B > 0 then
      local agg = P .. 'agg:' .. mv.key
      for _, b in ipairs(buckets) do
        local f = fmt(b.ms) .. ':' .. fmt(math.floor(mv.t / b.ms)) .. ':' .. mv.dir
        redis.call('HINCRBY', agg, f .. ':n', 1)
        redis.call('HINCRBY', agg, f .. ':v', mv.amount)
        -- The bucket that just left every baseline.
        local old = fmt(b.ms) .. ':' .. fmt(b.from - 1) .. ':'
        redis.call('HDEL', agg, old .. 'in:n', old .. 'in:v', old .. 'out:n', old .. 'out:v')
      end
      redis.call('PEXPIRE', agg, ttl)
    end
  end
  redis.call('HSET', evKey, 's', 'applied')
  redis.call('PEXPIRE', evKey, ttl)
end

local subjects = {}
local seen = {}
for _, mv in ipairs(movements) do
  if not seen[mv.key] then
    seen[mv.key] = true
    local s = {}
    s.w = redis.call('ZREVRANGEBYSCORE', P .. 'w:' .. mv.key, ARGV[5], ARGV[4], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[6]))
    local prev = redis.call('ZREVRANGEBYSCORE', P .. 'act:' .. mv.key, '(' .. ARGV[3], '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
    s.p = prev[2] or false
    local fields = {}
    for _, b in ipairs(buckets) do
      for idx = b.from, b.to do
        for _, d in ipairs({ 'in', 'out' }) do
          local f = fmt(b.ms) .. ':' .. fmt(idx) .. ':' .. d
          fields[#fields + 1] = f
        end
      end
    end
    local bs = {}
    if #fields > 0 then
      local hm = {}
      for _, f in ipairs(fields) do hm[#hm + 1] = f .. ':n'; hm[#hm + 1] = f .. ':v' end
      local vals = redis.call('HMGET', P .. 'agg:' .. mv.key, unpack(hm))
      for k, f in ipairs(fields) do
        local n = vals[2 * k - 1]
        if n then bs[#bs + 1] = f; bs[#bs + 1] = n; bs[#bs + 1] = vals[2 * k] or '0' end
      end
    end
    s.b = bs
    subjects[mv.key] = s
  end
end
return cjson.encode({ s = 'open', subjects = subjects })
