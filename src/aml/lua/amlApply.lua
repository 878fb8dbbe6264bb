-- Adds one event's movements to the AML window state of their subjects, once per event id, and
-- returns what the rules read. All keys share the hash tag in the prefix (one Redis Cluster slot).
-- Money is never a Lua number: an amount is a string of decimal digits and a bucket's value sum
-- is kept as one (addDec below), exact and unbounded whatever the amounts and their count. HINCRBY
-- (int64) would fail with "increment or decrement would overflow" once a sum passed 2^63 - 1,
-- and the event would be redelivered forever. Counts still use HINCRBY: +1 per movement takes
-- 9.2e18 movements to overflow. Lua compares only times (epoch ms, exact below 2^53), never an
-- amount against a threshold: the rules do that in bigint.
--
-- ARGV: 1 prefix, 2 eventId, 3 time, 4 readFrom, 5 readTo, 6 maxEvents, 7 retention ms,
--       8 activity retention ms, 9 ttl ms, 10 B, then B x (bucketMs, fromIdx, toIdx),
--       then M, then M x (subjectKey, member, dir, amount, entryTime), then W (1: the windows
--       are under this prefix, written and read here; 0: in the shards, amlWindows.lua, and w is empty)
-- Returns JSON {"s":"done","r":<alerts JSON>} or {"s":"open","subjects":{key:{w,p,b}}}

local P = ARGV[1]
local evKey = P .. 'ev:' .. ARGV[2]
local time = tonumber(ARGV[3])
local fmt = function(x) return string.format('%.0f', x) end

-- Sum of two non-negative decimal strings without leading zeros, as one. Both 15 digits or
-- fewer: the sum is below 2e15 < 2^53, exact in a double. Else 14-digit limbs from the right:
-- limb sums stay below 2e14 + 1.
local LIMB = 14
local BASE = 1e14
local function addDec(a, b)
  if #a <= 15 and #b <= 15 then return fmt(tonumber(a) + tonumber(b)) end
  local limbs = {}
  local ia, ib, carry = #a, #b, 0
  while ia > 0 or ib > 0 or carry > 0 do
    local x = ia > 0 and tonumber(string.sub(a, math.max(1, ia - LIMB + 1), ia)) or 0
    local y = ib > 0 and tonumber(string.sub(b, math.max(1, ib - LIMB + 1), ib)) or 0
    local s = x + y + carry
    if s >= BASE then s = s - BASE; carry = 1 else carry = 0 end
    limbs[#limbs + 1] = s
    ia = ia - LIMB
    ib = ib - LIMB
  end
  local parts = { fmt(limbs[#limbs]) }
  for k = #limbs - 1, 1, -1 do parts[#parts + 1] = string.format('%014.0f', limbs[k]) end
  local out = table.concat(parts)
  return (out:gsub('^0+(%d)', '%1'))
end

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
  if not string.find(movements[m].amount, '^%d+$') or string.find(movements[m].amount, '^0%d') then
    return redis.error_reply('amlApply: amount of movement ' .. m .. ' is not a non-negative decimal integer: ' .. movements[m].amount)
  end
  i = i + 5
end
local windowsHere = ARGV[i] ~= '0'
local ttl = ARGV[9]

if not st then
  for _, mv in ipairs(movements) do
    if windowsHere then
      local w = P .. 'w:' .. mv.key
      redis.call('ZADD', w, fmt(mv.t), mv.member)
      redis.call('ZREMRANGEBYSCORE', w, '-inf', '(' .. fmt(time - tonumber(ARGV[7])))
      redis.call('PEXPIRE', w, ttl)
    end
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
        local v = redis.call('HGET', agg, f .. ':v')
        redis.call('HSET', agg, f .. ':v', addDec(v or '0', mv.amount))
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
    s.w = windowsHere and redis.call('ZREVRANGEBYSCORE', P .. 'w:' .. mv.key, ARGV[5], ARGV[4], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[6])) or {}
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
