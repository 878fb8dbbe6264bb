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
  for _, l in ipairs({ bank, chain }) do
    -- Back to waiting: expired again if it had expired (its discrepancy is open), else parked.
    if l.d and l.d ~= '' then l.state = 'expired' else l.state = 'parked' end
    l.x, l.mid, l.by, l.rs, l.ru, l.xp = nil, nil, nil, nil, nil, nil
    save(l)
    poolAdd(l)
    if l.r ~= '' then refSet(l) end
    if l.state == 'parked' then dlAdd(l, window) end
  end
  out = { t = 'rejected', pid = pid, bank = public(bank), chain = public(chain) }
end
local enc = cjson.encode(out)
redis.call('HSET', P .. 'pd', pid, enc)
return '{"replayed":0,"outcome":' .. enc .. '}'
