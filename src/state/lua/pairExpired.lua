-- The expiry rules of legs whose window just closed (claimed by expire.lua, their discrepancy not
-- yet durable): a tolerant match, a proposal, or one AMOUNT_MISMATCH naming both legs, with an open
-- leg of the other side no later than the closing leg's deadline in event time (those present
-- when the watermark passed it, whenever the sweep runs). The pairing is stored with the leg (xp),
-- so a claim handed out again, or this call repeated, returns the same pairing.
-- (lib.lua is prepended.)
--
-- ARGV: 1 prefix, 2 window ms, then per leg: legId, its expiry probes (lib.lua parseProbes)
-- Returns a JSON array, one element per leg: the pairing, or false.
P = ARGV[1]
local window = tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV - 1, 2 do
  local l = load(ARGV[i])
  local r = false
  if l and l.xp then
    r = cjson.decode(l.xp)
  elseif l and l.state == 'expired' and not l.rem then
    local best, hit = nil, nil
    for _, p in ipairs(parseProbes(ARGV[i + 1])) do
      if p.key == 'a' and not p.split then
        for _, e in ipairs(poolScan(l.f, otherSide(l.s), l.a, l.c, p, l.t - p.win, math.min(l.t + p.win, l.t + window), 256)) do
          if nearer(l.m, l.t, e[2], e[3], best) then
            local c = loadH(e[1])
            if fitsAtExpiry(l, c, p) then best = c end
          end
        end
        if best then hit = p break end
      end
    end
    if best then
      poolRem(l)
      r = pairAtExpiry(l, best, hit)
      l.xp = cjson.encode(r)
      save(l)
    end
  end
  out[#out + 1] = r
end
return cjson.encode(out)
