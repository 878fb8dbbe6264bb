-- Retracts a chain leg whose block was orphaned by a reorg deeper than the confirmation depth.
-- Its counterpart, if it had one, is re-opened: parked again with its own deadline, so the
-- re-mined event (published again under its new block hash) can match it. Idempotent: a second
-- retraction of the same leg returns the stored outcome with replayed = 1.
--
-- ARGV: 1 prefix, 2 legId, 3 windowMs
local P, id, window = ARGV[1], ARGV[2], tonumber(ARGV[3])

local function legKey(legId) return P .. 'leg:' .. legId end
local function refKey(flow, side, ref) return P .. 'ref:' .. flow .. ':' .. side .. ':' .. ref end
local function poolKey(l) return P .. 'pool:' .. l.f .. ':' .. l.s .. ':' .. l.a .. ':' .. l.c .. ':' .. l.m end
local function load(legId)
  local raw = redis.call('HGETALL', legKey(legId))
  if #raw == 0 then return nil end
  local l = {}
  for i = 1, #raw, 2 do l[raw[i]] = raw[i + 1] end
  l.id = legId
  return l
end
local function public(l)
  return { id = l.id, s = l.s, f = l.f, a = l.a, w = l.w, c = l.c, k = l.k, m = l.m, n = l.n,
           t = tonumber(l.t), r = l.r, state = l.state, d = l.d or '', mid = l.mid or '' }
end

local l = load(id)
if not l then return '{"replayed":0,"outcome":{"t":"unknown"}}' end
if l.state == 'retracted' then return '{"replayed":1,"outcome":' .. (l.ro or '{"t":"unknown"}') .. '}' end

redis.call('ZREM', poolKey(l), id)
redis.call('ZREM', P .. 'dl:' .. l.s, id)
redis.call('ZREM', P .. 'claimed', id)
if l.r ~= nil and l.r ~= '' then
  local rk = refKey(l.f, l.s, l.r)
  if redis.call('GET', rk) == id then redis.call('DEL', rk) end
end

local out = { t = 'retracted', legId = id, prior = l.state, self = public(l), resolves = '', mid = '', by = l.by or '', rs = l.rs or '' }
if l.state == 'expired' then out.resolves = l.d or ''
elseif l.state == 'duplicate' then out.resolves = 'DUPLICATE:' .. id
elseif (l.state == 'matched' or l.state == 'mismatched') and l.x then
  local cp = load(l.x)
  if cp and cp.state ~= 'reversed' then
    out.other = public(cp)
    if l.state == 'matched' then out.mid = l.mid or '' else out.resolves = l.d or '' end
    -- Re-open the counterpart: back in its pool, its reference index and its deadline set.
    redis.call('HSET', legKey(cp.id), 'state', 'parked')
    redis.call('HDEL', legKey(cp.id), 'x', 'mid', 'd', 'by', 'rs')
    redis.call('ZADD', poolKey(cp), tonumber(cp.t), cp.id)
    if cp.r ~= nil and cp.r ~= '' then redis.call('SET', refKey(cp.f, cp.s, cp.r), cp.id) end
    redis.call('ZADD', P .. 'dl:' .. cp.s, tonumber(cp.t) + window, cp.id)
  end
end
local enc = cjson.encode(out)
redis.call('HSET', legKey(id), 'state', 'retracted', 'ro', enc)
return '{"replayed":0,"outcome":' .. enc .. '}'
