-- A split found by search (src/domain/subsetSum.ts) for a leg whose window just closed: the legs
-- of the other side that add up to its amount. Atomic: the closing leg must still be expired and
-- unpaired and every part still open, else nothing changes ({"t":"stale"}). Confirmed: one match
-- per part (match_by split); proposed: the leg and its parts wait for an operator under one
-- proposal id. The pairing is stored with the leg (xp), like pairExpired.lua's. (lib.lua is prepended.)
--
-- ARGV: 1 prefix, 2 legId, 3 rule (id@version), 4 c|p, then the part leg ids
P = ARGV[1]
local l = load(ARGV[2])
if not l or l.state ~= 'expired' or l.xp or l.rem then return '{"t":"stale"}' end
local rule, conf = ARGV[3], ARGV[4]
local parts = {}
for i = 5, #ARGV do
  local c = load(ARGV[i])
  if not fitsAtExpiry(l, c, nil) then return '{"t":"stale"}' end
  parts[#parts + 1] = c
end
local ids = {}
for _, c in ipairs(parts) do ids[#ids + 1] = c.id end
local out
poolRem(l)
if conf == 'p' then
  local pid = 'proposal:split:' .. l.id
  local ps = {}
  for _, c in ipairs(parts) do
    poolRem(c)
    if c.state == 'expired' then redis.call('ZREM', P .. 'claimed', c.h) end
    ps[#ps + 1] = public(c)
    c.state, c.x, c.mid, c.by, c.ru = 'proposed', l.id, pid, 'split', rule
    save(c)
  end
  l.state, l.mid, l.by, l.ru, l.tr = 'proposed', pid, 'split', rule, table.concat(ids, ' ')
  out = { t = 'splitProposal', pid = pid, rule = rule, parts = ps }
else
  local ps = {}
  for _, c in ipairs(parts) do
    poolRem(c)
    if c.state == 'expired' then redis.call('ZREM', P .. 'claimed', c.h) end
    local bankId, chainId = l.id, c.id
    if l.s == 'chain' then bankId, chainId = c.id, l.id end
    local mid = 'match:' .. bankId .. '|' .. chainId
    local rs = ''
    if c.state == 'expired' then rs = c.d or '' end
    ps[#ps + 1] = { mid = mid, rule = rule, other = public(c), resolves = rs }
    c.state, c.x, c.mid, c.by, c.rs, c.ru = 'matched', l.id, mid, 'split', rs, rule
    save(c)
  end
  l.state, l.by, l.ru, l.tr, l.rs = 'matched', 'split', rule, table.concat(ids, ' '), l.d
  l.mid = ps[#ps].mid
  out = { t = 'split', rule = rule, parts = ps, resolves = l.d }
end
l.xp = cjson.encode(out)
save(l)
return l.xp
