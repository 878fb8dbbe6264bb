-- An operator's manual match of two open legs (parked or expired), or the undoing of a match:
-- atomic against the stream, so a leg the stream matches first is refused here and a leg matched
-- here is never matched again by the stream. Idempotent: the same request again returns the
-- stored outcome (replayed = 1). (lib.lua is prepended.)
--
-- ARGV: 1 prefix, 2 'match' | 'unmatch', 3 bank leg id, 4 chain leg id, 5 window ms
-- Returns {"replayed":0|1,"outcome":{...}}: t = matched | unmatched | refused (with a reason); n
-- counts the manual operations on the pair (the version of its match facts).
P = ARGV[1]
local op, bankId, chainId, window = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local bank, chain = load(bankId), load(chainId)
local mid = 'match:' .. bankId .. '|' .. chainId
local key = op .. ':' .. mid
local stored = redis.call('HGET', P .. 'mm', key)
if stored then return '{"replayed":1,"outcome":' .. stored .. '}' end
local function refuse(reason) return '{"replayed":0,"outcome":' .. cjson.encode({ t = 'refused', reason = reason }) .. '}' end
if not bank or bank.s ~= 'bank' then return refuse(bankId .. ' is not a bank leg the engine holds') end
if not chain or chain.s ~= 'chain' then return refuse(chainId .. ' is not a chain leg the engine holds') end
local out
if op == 'match' then
  for _, l in ipairs({ bank, chain }) do
    if l.state ~= 'parked' and l.state ~= 'expired' then return refuse(l.id .. ' is ' .. l.state .. ', not open') end
    if l.rem then return refuse(l.id .. ' is partly met by tranches') end
  end
  if bank.f ~= chain.f then return refuse('a ' .. bank.f .. ' leg cannot match a ' .. chain.f .. ' leg') end
  local rsB, rsC = '', ''
  if bank.state == 'expired' then rsB = bank.d or '' end
  if chain.state == 'expired' then rsC = chain.d or '' end
  for _, l in ipairs({ bank, chain }) do
    poolRem(l)
    if l.state == 'expired' then redis.call('ZREM', P .. 'claimed', l.h) end
  end
  bank.state, bank.x, bank.mid, bank.by, bank.rs, bank.ru = 'matched', chainId, mid, 'manual', rsB, 'manual@operator'
  chain.state, chain.x, chain.mid, chain.by, chain.rs, chain.ru = 'matched', bankId, mid, 'manual', rsC, 'manual@operator'
  save(bank)
  save(chain)
  out = { t = 'matched', mid = mid, bank = public(bank), chain = public(chain), resolves = { rsB, rsC }, n = redis.call('HINCRBY', P .. 'mmn', mid, 1) }
else
  if bank.state ~= 'matched' or chain.state ~= 'matched' or bank.mid ~= mid or chain.mid ~= mid then
    return refuse(mid .. ' is not a match the engine holds')
  end
  -- Back to waiting; a leg whose window had closed is expired again with its discrepancy re-opened.
  -- The pair is remembered: no rule pairs it again.
  redis.call('SADD', P .. 'rj', bank.h .. chain.h)
  local reopened = {}
  for _, l in ipairs({ bank, chain }) do
    l.x, l.mid, l.by, l.rs, l.ru, l.xp = nil, nil, nil, nil, nil, nil
    if l.d and l.d ~= '' then
      l.state = 'expired'
      reopened[#reopened + 1] = l.d
    else
      l.state = 'parked'
      dlAdd(l, window)
    end
    save(l)
    poolAdd(l)
    if l.r ~= '' then refSet(l) end
  end
  out = { t = 'unmatched', mid = mid, bank = public(bank), chain = public(chain), reopened = reopened, n = redis.call('HINCRBY', P .. 'mmn', mid, 1) }
end
local enc = cjson.encode(out)
redis.call('HSET', P .. 'mm', key, enc)
-- A later match of the same pair (after an unmatch) or unmatch (after a match) is a new request.
redis.call('HDEL', P .. 'mm', (op == 'match' and 'unmatch:' or 'match:') .. mid)
return '{"replayed":0,"outcome":' .. enc .. '}'
