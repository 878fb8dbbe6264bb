/**
 * Exact amount ranges for tolerant matching. A bank amount b (integer minor units) and a chain
 * amount c (minor units, possibly fractional for tokens with more decimals than the currency) meet
 * under a tolerance (abs + bps of b) and a fee schedule (fixed + bps of b) when
 *
 *   b - tol(b) - feeDown(b)  <=  c  <=  b + tol(b) + feeUp(b)
 *
 * where the fee lowers the later book: the mint of a deposit (feeDown), the bank payout of a
 * withdrawal (feeUp). Given one leg, the other leg's amounts form an interval; this computes it
 * exactly with bigint arithmetic (the match script only compares decimal strings against it).
 */

/** A non-negative decimal as an integer over a power of ten. */
interface Decimal {
  units: bigint;
  scale: number;
}

const TEN = 10n;

function parseDecimal(text: string): Decimal {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (!m) throw new RangeError(`not a non-negative decimal: ${text}`);
  const frac = m[2] ?? '';
  return { units: BigInt(m[1]! + frac), scale: frac.length };
}

/** Canonical text of units / 10^scale (no trailing fractional zeros, like minorUnitsKey). */
export function formatDecimal(units: bigint, scale: number): string {
  if (units < 0n) throw new RangeError('negative amount');
  if (scale === 0) return units.toString();
  const s = units.toString().padStart(scale + 1, '0');
  const whole = s.slice(0, -scale);
  const frac = s.slice(-scale).replace(/0+$/, '');
  return frac ? `${whole}.${frac}` : whole;
}

const ceilDiv = (a: bigint, b: bigint) => (a <= 0n ? -(-a / b) : (a + b - 1n) / b);
const floorDiv = (a: bigint, b: bigint) => (a >= 0n ? a / b : -((-a + b - 1n) / b));

export interface Allowance {
  absMinor: bigint;
  tolBps: number;
  feeFixedMinor: bigint;
  feeBps: number;
  /** Which book the fee lowers: the chain's (deposit: minted less) or the bank's (withdrawal: paid out less). */
  feeLowers: 'chain' | 'bank';
}

/** Interval of the other leg's amount, as canonical decimal strings; null when empty. `hi` null: unbounded. */
export interface AmountRange {
  lo: string;
  hi: string | null;
}

/** The chain amounts a bank amount meets. */
export function chainRangeOfBank(bankAmount: string, a: Allowance): AmountRange {
  const { units: b, scale: bs } = parseDecimal(bankAmount);
  // Everything over 10^(bs + 4): bps are ten-thousandths.
  const scale = bs + 4;
  const bScaled = b * 10_000n;
  const one = 10n ** BigInt(scale);
  const down = a.feeLowers === 'chain' ? { fixed: a.feeFixedMinor, bps: a.feeBps } : { fixed: 0n, bps: 0 };
  const up = a.feeLowers === 'bank' ? { fixed: a.feeFixedMinor, bps: a.feeBps } : { fixed: 0n, bps: 0 };
  const lo = bScaled - (a.absMinor + down.fixed) * one - b * BigInt(a.tolBps + down.bps);
  const hi = bScaled + (a.absMinor + up.fixed) * one + b * BigInt(a.tolBps + up.bps);
  return { lo: formatDecimal(lo < 0n ? 0n : lo, scale), hi: formatDecimal(hi, scale) };
}

/** The bank amounts (whole minor units) a chain amount meets, or null when none does. */
export function bankRangeOfChain(chainAmount: string, a: Allowance): AmountRange | null {
  const { units: c, scale } = parseDecimal(chainAmount);
  const one = TEN ** BigInt(scale);
  const down = a.feeLowers === 'chain' ? { fixed: a.feeFixedMinor, bps: a.feeBps } : { fixed: 0n, bps: 0 };
  const up = a.feeLowers === 'bank' ? { fixed: a.feeFixedMinor, bps: a.feeBps } : { fixed: 0n, bps: 0 };
  // c <= b (1 + (tol+up)/1e4) + abs + up.fixed   =>   b >= (c - abs - up.fixed) 1e4 / (1e4 + tol + up)
  const loNum = (c - (a.absMinor + up.fixed) * one) * 10_000n;
  const loDen = BigInt(10_000 + a.tolBps + up.bps) * one;
  let lo = ceilDiv(loNum, loDen);
  if (lo < 0n) lo = 0n;
  // c >= b (1 - (tol+down)/1e4) - abs - down.fixed   =>   b <= (c + abs + down.fixed) 1e4 / (1e4 - tol - down)
  const k = 10_000 - a.tolBps - down.bps;
  if (k <= 0) return { lo: lo.toString(), hi: null };
  const hi = floorDiv((c + (a.absMinor + down.fixed) * one) * 10_000n, BigInt(k) * one);
  if (hi < lo) return null;
  return { lo: lo.toString(), hi: hi.toString() };
}

/** Exact comparison of two canonical non-negative decimal strings (what the match script does in Lua). */
export function compareDecimal(x: string, y: string): number {
  const a = parseDecimal(x);
  const b = parseDecimal(y);
  const s = Math.max(a.scale, b.scale);
  const ax = a.units * TEN ** BigInt(s - a.scale);
  const bx = b.units * TEN ** BigInt(s - b.scale);
  return ax < bx ? -1 : ax > bx ? 1 : 0;
}

/** Whether a bank and a chain amount meet under the allowance (the definition the ranges invert). */
export function amountsMeet(bankAmount: string, chainAmount: string, a: Allowance): boolean {
  const r = chainRangeOfBank(bankAmount, a);
  return compareDecimal(chainAmount, r.lo) >= 0 && (r.hi === null || compareDecimal(chainAmount, r.hi) <= 0);
}

/** Signed bank - chain difference as an exact decimal string ("0.5", "-12"). */
export function amountDifference(bankAmount: string, chainAmount: string): string {
  // An exact match (most of them): no decimal arithmetic.
  if (bankAmount === chainAmount) return '0';
  const a = parseDecimal(bankAmount);
  const b = parseDecimal(chainAmount);
  const s = Math.max(a.scale, b.scale);
  const d = a.units * TEN ** BigInt(s - a.scale) - b.units * TEN ** BigInt(s - b.scale);
  return d < 0n ? `-${formatDecimal(-d, s)}` : formatDecimal(d, s);
}
