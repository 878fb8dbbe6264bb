-- Writes legs rebuilt from the facts (stateGuard.ts) in the layout of lib.lua (prepended), flagged
-- as rebuilt: a redelivery of a rebuilt parked leg's message matches it again.
-- ARGV: 1 prefix, 2 window ms, 3 retention ms, then 19 values per leg: legId, side, flow, account,
--       wallet, currency, tokenKey, amountKey, amountNative, eventTime, reference, fingerprint,
--       status, state, x, mid, by, rs, d ('' for none)
P = ARGV[1]
local window, retention = tonumber(ARGV[2]), tonumber(ARGV[3])
local INDEXED_REF = { parked = true, expired = true, matched = true, mismatched = true }
local n = 0
for i = 4, #ARGV, 19 do
  local id = ARGV[i]
  local l = load(id) or { id = id }
  local was = l.was
  l.h, l.tid, l.was = handleOf(id), nil, was
  l.s, l.f, l.a, l.w, l.c, l.k = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
  l.m, l.n, l.t, l.r, l.p = ARGV[i + 7], ARGV[i + 8], tonumber(ARGV[i + 9]), ARGV[i + 10], ARGV[i + 11]
  l.st, l.state, l.rb = ARGV[i + 12], ARGV[i + 13], true
  local ext = { x = ARGV[i + 14], mid = ARGV[i + 15], by = ARGV[i + 16], rs = ARGV[i + 17], d = ARGV[i + 18] }
  for k, v in pairs(ext) do if v ~= '' then l[k] = v end end
  save(l)
  gcAdd(l, retention)
  if l.state == 'parked' or l.state == 'expired' then poolAdd(l) end
  if l.state == 'parked' then dlAdd(l, window) end
  if l.r ~= '' and INDEXED_REF[l.state] then refSet(l) end
  n = n + 1
end
return n
