-- An operator's decision on a proposed pair (a loose rule's candidate): confirm makes it a match,
-- reject puts both legs back to wait (their own deadlines; a leg whose window has passed expires
-- at the next sweep) and remembers the pair so that no rule proposes it again. Atomic: a proposal
-- is decided at most once; deciding it again returns the stored decision (replayed = 1).
-- (lib.lua is prepended.)
--
-- ARGV: 1 prefix, 2 proposal id, 3 bank leg id, 4 chain leg id, 5 confirm|reject, 6 window ms
-- Returns {"replayed":0|1,"outcome":{...}} or {"outcome":{"t":"unknown"|"superseded"}}.
P = ARGV[1]
local pid, bankId, chainId, decision, window = ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])

-- Back to waiting: expired again if it had expired (its discrepancy is open), else parked.
local function reopen(l)
  if l.d and l.d ~= '' then l.state = 'expired' else l.state = 'parked' end
  l.x, l.mid, l.by, l.rs, l.ru, l.xp, l.tr = nil, nil, nil, nil, nil, nil, nil
  save(l)
  poolAdd(l)
  if l.r ~= '' then refSet(l) end
  if l.state == 'parked' then dlAdd(l, window) end
end

-- A split found by search (claimSplit.lua): ARGV[3] is the leg that was split, its parts in tr.
if pid:sub(1, 15) == 'proposal:split:' then
  local whole = load(bankId)
  if not whole then return '{"replayed":0,"outcome":{"t":"unknown"}}' end
  local stored = redis.call('HGET', P .. 'pd', pid)
  if stored then return '{"replayed":1,"outcome":' .. stored .. '}' end
  if whole.state ~= 'proposed' or whole.mid ~= pid or not whole.tr then return '{"replayed":0,"outcome":{"t":"superseded"}}' end
  local parts = {}
  for id in string.gmatch(whole.tr, '%S+') do
    local c = load(id)
    if not c or c.state ~= 'proposed' or c.mid ~= pid then return '{"replayed":0,"outcome":{"t":"superseded"}}' end
    parts[#parts + 1] = c
  end
  local out
  if decision == 'confirm' then
    local ps = {}
    for _, c in ipairs(parts) do
      local b, ch = whole.id, c.id
      if whole.s == 'chain' then b, ch = c.id, whole.id end
      local mid = 'match:' .. b .. '|' .. ch
      c.state, c.mid, c.rs = 'matched', mid, c.d or ''
      save(c)
      ps[#ps + 1] = { mid = mid, rule = whole.ru or '', other = public(c), resolves = c.d or '' }
    end
    whole.state, whole.mid, whole.rs = 'matched', ps[#ps].mid, whole.d or ''
    save(whole)
    out = { t = 'confirmedSplit', pid = pid, whole = public(whole), parts = ps, resolves = whole.d or '' }
  else
    local ps = {}
    for _, c in ipairs(parts) do
      local b, ch = whole, c
      if whole.s == 'chain' then b, ch = c, whole end
      redis.call('SADD', P .. 'rj', b.h .. ch.h)
      reopen(c)
      ps[#ps + 1] = public(c)
    end
    reopen(whole)
    out = { t = 'rejectedSplit', pid = pid, whole = public(whole), parts = ps }
  end
  local enc = cjson.encode(out)
  redis.call('HSET', P .. 'pd', pid, enc)
  return '{"replayed":0,"outcome":' .. enc .. '}'
end

local bank, chain = load(bankId), load(chainId)
if not bank or not chain then return '{"replayed":0,"outcome":{"t":"unknown"}}' end
local stored = redis.call('HGET', P .. 'pd', pid)
if stored then return '{"replayed":1,"outcome":' .. stored .. '}' end
if bank.state ~= 'proposed' or chain.state ~= 'proposed' or bank.mid ~= pid or chain.mid ~= pid then
  return '{"replayed":0,"outcome":{"t":"superseded"}}'
end
local out
if decision == 'confirm' then
  local mid = 'match:' .. bankId .. '|' .. chainId
  for _, l in ipairs({ bank, chain }) do
    l.state, l.mid = 'matched', mid
    save(l)
  end
  out = { t = 'confirmed', pid = pid, mid = mid, rule = bank.ru or '', by = bank.by or 'attributes', resolves = bank.rs or '',
          bank = public(bank), chain = public(chain), bankD = bank.d or '', chainD = chain.d or '' }
else
  redis.call('SADD', P .. 'rj', bank.h .. chain.h)
  for _, l in ipairs({ bank, chain }) do reopen(l) end
  out = { t = 'rejected', pid = pid, bank = public(bank), chain = public(chain) }
end
local enc = cjson.encode(out)
redis.call('HSET', P .. 'pd', pid, enc)
return '{"replayed":0,"outcome":' .. enc .. '}'
