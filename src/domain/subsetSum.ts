/**
 * The bounded search for a split without a shared reference: which of the open legs of the other
 * side (same account and currency, inside the window) add up to a leg's amount within its rule's
 * allowance. Exact (bigint over a common power of ten), deterministic (the fewest legs, then the
 * earliest), and bounded: more candidates than `maxLegs` is no search at all, with the reason.
 */
import type { AmountRange } from './amountRange.js';

export interface SplitCandidate {
  id: string;
  amountKey: string;
  eventTime: number;
}

export type SplitSearch = { t: 'found'; parts: SplitCandidate[]; subsetsTried: number } | { t: 'none'; subsetsTried: number } | { t: 'bounded'; reason: string };

const units = (text: string, scale: number): bigint => {
  const [i, f = ''] = text.split('.');
  return BigInt(i! + f.padEnd(scale, '0'));
};

/** Subsets of 2..maxParts candidates whose sum lies in `range` (the allowance around the leg's amount). */
export function findSplit(range: AmountRange, candidates: readonly SplitCandidate[], o: { maxLegs: number; maxParts: number }): SplitSearch {
  if (candidates.length > o.maxLegs) return { t: 'bounded', reason: `split search skipped: ${candidates.length} open legs of the other side, beyond the bound of ${o.maxLegs}` };
  const sorted = [...candidates].sort((a, b) => a.eventTime - b.eventTime || a.id.localeCompare(b.id));
  const scale = Math.max(0, ...[range.lo, range.hi ?? '0', ...sorted.map((c) => c.amountKey)].map((s) => s.split('.')[1]?.length ?? 0));
  if (range.lo === '-') return { t: 'none', subsetsTried: 0 };
  const lo = units(range.lo, scale);
  const hi = range.hi === null ? null : units(range.hi, scale);
  const v = sorted.map((c) => units(c.amountKey, scale));
  let tried = 0;
  const n = sorted.length;
  // By size, then in index order: the first subset found is the fewest legs, then the earliest.
  for (let k = 2; k <= Math.min(o.maxParts, n); k++) {
    const idx = Array.from({ length: k }, (_, i) => i);
    for (;;) {
      tried++;
      let sum = 0n;
      for (const i of idx) sum += v[i]!;
      if (sum >= lo && (hi === null || sum <= hi)) return { t: 'found', parts: idx.map((i) => sorted[i]!), subsetsTried: tried };
      // Next combination of k out of n.
      let p = k - 1;
      while (p >= 0 && idx[p] === n - k + p) p--;
      if (p < 0) break;
      idx[p]!++;
      for (let q = p + 1; q < k; q++) idx[q] = idx[q - 1]! + 1;
    }
  }
  return { t: 'none', subsetsTried: tried };
}

/** Sum of decimal amounts, exact. */
export function sumAmounts(amounts: readonly string[]): string {
  const scale = Math.max(0, ...amounts.map((s) => s.split('.')[1]?.length ?? 0));
  const total = amounts.reduce((s, a) => s + units(a, scale), 0n);
  if (scale === 0) return total.toString();
  const t = total.toString().padStart(scale + 1, '0');
  const frac = t.slice(-scale).replace(/0+$/, '');
  return frac ? `${t.slice(0, -scale)}.${frac}` : t.slice(0, -scale);
}
