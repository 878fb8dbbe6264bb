/**
 * Peer segments (issue 19), the pure part: a customer's measure over a period — volume, number of
 * movements, or number of new counterparties — and the percentile of that measure among the
 * customers of a segment (`retail`, `sme`, `corporate`… carried by the identity mapping). The
 * scheduled job (src/jobs/amountPercentiles.ts) and the `peer_segment` rule measure a customer
 * with the same function over the same window state, so a customer is compared with peers
 * measured exactly as it is. Integers only (bigint), no floats.
 */
import type { AmlSource, WindowEntry } from './types.js';

export const SEGMENT_MEASURES = ['volume', 'count', 'new_counterparties'] as const;
export type SegmentMeasure = (typeof SEGMENT_MEASURES)[number];

/** What is measured per customer: one rule's measure, direction, sources and period. */
export interface SegmentMeasureSpec {
  measure: SegmentMeasure;
  direction: 'in' | 'out' | 'any';
  sources: readonly AmlSource[];
  periodMs: number;
  /** `new_counterparties`: how far before the period a counterparty must be absent to be new. */
  historyMs: number;
}

/** A segment percentile a rule asks for: the measure, in which currencies, which percentile, from how many peers. */
export interface SegmentPercentileSpec extends SegmentMeasureSpec {
  currencies: readonly string[];
  percentile: number;
  /** A segment with fewer active customers than this has no percentile (too few peers to compare with). */
  minPeers: number;
}

export interface PeriodMeasure {
  /** Minor units (volume) or a count. */
  value: bigint;
  /** At least one movement of the spec's direction and sources in the period. */
  active: boolean;
  /** The movements the value is made of (for `new_counterparties`, the first with each new one). */
  evidence: WindowEntry[];
}

const dirOk = (d: 'in' | 'out', want: 'in' | 'out' | 'any') => want === 'any' || d === want;

/**
 * The measure of one customer over the period (end - periodMs, end], from its window (movements
 * of every direction; those outside the spec's sources are ignored). A new counterparty is one
 * the customer paid or was paid by in the period (in the spec's direction) and had no movement
 * with, either way, in the `historyMs` before the period.
 */
export function periodMeasure(window: readonly WindowEntry[], end: number, spec: SegmentMeasureSpec): PeriodMeasure {
  const start = end - spec.periodMs;
  const inPeriod = window
    .filter((e) => spec.sources.includes(e.source) && dirOk(e.dir, spec.direction) && e.time > start && e.time <= end)
    .sort((a, b) => a.time - b.time || (a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0));
  const active = inPeriod.length > 0;
  switch (spec.measure) {
    case 'volume':
      return { value: inPeriod.reduce((s, e) => s + e.amount, 0n), active, evidence: inPeriod };
    case 'count':
      return { value: BigInt(inPeriod.length), active, evidence: inPeriod };
    case 'new_counterparties': {
      const known = new Set(window.filter((e) => spec.sources.includes(e.source) && e.counterparty !== '' && e.time > start - spec.historyMs && e.time <= start).map((e) => e.counterparty));
      const first = new Map<string, WindowEntry>();
      for (const e of inPeriod) if (e.counterparty !== '' && !known.has(e.counterparty) && !first.has(e.counterparty)) first.set(e.counterparty, e);
      return { value: BigInt(first.size), active, evidence: [...first.values()] };
    }
  }
}

/**
 * The nearest-rank percentile of `values` (the smallest value with at least `percentile` % of the
 * values at or below it), or undefined for no values. `percentile` has at most two decimals.
 */
export function nearestRank(values: readonly bigint[], percentile: number): bigint | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const bps = BigInt(Math.round(percentile * 100));
  // rank = ceil(bps × n / 10,000), in integers.
  const rank = Number((bps * BigInt(sorted.length) + 9_999n) / 10_000n);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/**
 * The percentile of the measure per segment, over the segment's active customers (customers
 * without a movement of the measure in the period are not its peers: a dormant account says
 * nothing about what is normal); a segment with fewer than `minPeers` of them has none.
 */
export function segmentPercentiles(customers: readonly { segment: string; measure: PeriodMeasure }[], percentile: number, minPeers: number): Map<string, { value: bigint; peers: number }> {
  const bySegment = new Map<string, bigint[]>();
  for (const c of customers) {
    if (!c.measure.active) continue;
    const list = bySegment.get(c.segment);
    if (list) list.push(c.measure.value);
    else bySegment.set(c.segment, [c.measure.value]);
  }
  const out = new Map<string, { value: bigint; peers: number }>();
  for (const [segment, values] of [...bySegment].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (values.length < minPeers) continue;
    out.set(segment, { value: nearestRank(values, percentile)!, peers: values.length });
  }
  return out;
}

/** The key of a segment percentile among the computed values (beside the currency percentiles' keys). */
export function segmentPercentileKey(spec: Omit<SegmentPercentileSpec, 'currencies'>, segment: string, currency: string): string {
  const history = spec.measure === 'new_counterparties' ? spec.historyMs : 0;
  return `segment|${segment}|${currency}|${spec.measure}|${spec.direction}|${[...spec.sources].sort().join('+')}|${spec.periodMs}|${history}|${spec.percentile}|${spec.minPeers}`;
}
