-- A reversal booked as an entry of its own (core banking's usual practice, camt's RvslInd): the
-- leg it reverses gets the same treatment as a status update of that leg to 'reversed' (see
-- matchOrPark.lua): matched, REVERSAL_AFTER_MATCH (its tokens are outstanding); expired, its
-- MISSING_* resolves (nothing is owed any more); waiting, it leaves the pools. Idempotent: a
-- second reversal of the same leg returns the stored outcome with replayed = 1.
-- (lib.lua is prepended.)
--
-- ARGV: 1 prefix, 2 legId of the reversed leg, 3 id of the reversing entry
-- Returns {"replayed":0|1,"outcome":{...},"leg":{...}} or {"outcome":{"t":"unknown"}}.
P = ARGV[1]
local id, by = ARGV[2], ARGV[3]
local l = load(id)
if not l then return '{"replayed":0,"outcome":{"t":"unknown"}}' end
if l.st == 'reversed' then
  return '{"replayed":1,"outcome":' .. (l.o or cjson.encode({ t = 'withdrawn', legId = id, resolves = '' })) .. ',"leg":' .. cjson.encode(public(l)) .. '}'
end
local out
if l.state == 'matched' then
  local cp = l.x and load(l.x)
  out = { t = 'reversal', legId = id, mid = l.mid, by = l.by or 'attributes', resolves = l.rs or '', other = cp and public(cp) or cjson.null, reversedBy = by }
else
  poolRem(l)
  if l.r ~= '' then refDelIfOwn(l) end
  if l.state == 'expired' then redis.call('ZREM', P .. 'claimed', l.h) end
  local resolves = ''
  if l.state == 'expired' then resolves = l.d or '' end
  out = { t = 'withdrawn', legId = id, resolves = resolves, reversedBy = by }
end
local enc = cjson.encode(out)
l.state, l.st, l.o = 'reversed', 'reversed', enc
save(l)
return '{"replayed":0,"outcome":' .. enc .. ',"leg":' .. cjson.encode(public(l)) .. '}'
