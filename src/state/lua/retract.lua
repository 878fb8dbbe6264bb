-- Retracts a chain leg whose block was orphaned by a reorg deeper than the confirmation depth.
-- Its counterpart, if it had one, is re-opened: parked again with its own deadline, so the
-- re-mined event (published again under its new block hash) can match it. Idempotent: a second
-- retraction of the same leg returns the stored outcome with replayed = 1. (lib.lua is prepended.)
--
-- ARGV: 1 prefix, 2 legId, 3 windowMs
P = ARGV[1]
local id, window = ARGV[2], tonumber(ARGV[3])

local l = load(id)
if not l then return '{"replayed":0,"outcome":{"t":"unknown"}}' end
if l.state == 'retracted' then return '{"replayed":1,"outcome":' .. (l.ro or '{"t":"unknown"}') .. '}' end

poolRem(l)
redis.call('ZREM', P .. 'claimed', l.h)
if l.r ~= '' then refDelIfOwn(l) end

local out = { t = 'retracted', legId = id, prior = l.state, self = public(l), resolves = '', mid = '', by = l.by or '', rs = l.rs or '' }
if l.tr and (l.state == 'matched' or l.state == 'parked' or l.state == 'expired') then
  if l.state == 'expired' then out.resolves = l.d or '' end
  -- A leg met by tranches of the other side: every tranche is re-opened.
  for tid in string.gmatch(l.tr, '%S+') do
    local cp = load(tid)
    if cp and cp.state == 'matched' then
      out.others = out.others or {}
      out.others[#out.others + 1] = { other = public(cp), mid = cp.mid or '' }
      cp.state, cp.x, cp.mid, cp.d, cp.by, cp.rs, cp.ru = 'parked', nil, nil, nil, nil, nil, nil
      save(cp)
      poolAdd(cp)
      if cp.r ~= '' then refSet(cp) end
      dlAdd(cp, window)
    end
  end
elseif l.state == 'expired' then out.resolves = l.d or ''
elseif l.state == 'duplicate' then out.resolves = 'DUPLICATE:' .. id
elseif (l.state == 'matched' or l.state == 'mismatched') and l.x then
  local cp = load(l.x)
  if cp and cp.rem then
    -- One tranche of cp: its amount is open again on cp, which waits for it by reference.
    out.other, out.mid = public(cp), l.mid or ''
    cp.rem = addDec(cp.rem, l.m)
    if cp.rem == cp.m then cp.rem = nil end
    if cp.state == 'matched' then
      cp.state = 'parked'
      if not cp.rem then poolAdd(cp) end
      dlAdd(cp, window)
    end
    save(cp)
  elseif cp and cp.state ~= 'reversed' then
    out.other = public(cp)
    if l.state == 'matched' then out.mid = l.mid or '' else out.resolves = l.d or '' end
    -- Re-open the counterpart: back in its pool, its reference index and a deadline bucket.
    cp.state, cp.x, cp.mid, cp.d, cp.by, cp.rs = 'parked', nil, nil, nil, nil, nil
    save(cp)
    poolAdd(cp)
    if cp.r ~= '' then refSet(cp) end
    dlAdd(cp, window)
  end
end
local enc = cjson.encode(out)
l.state, l.ro = 'retracted', enc
save(l)
return '{"replayed":0,"outcome":' .. enc .. '}'
