import { describe, expect, it } from 'vitest';
import { parseRuleSet, type RuleFileInput, type RuleOf } from '../../src/aml/ruleFile.js';
import { evaluateRule } from '../../src/aml/rules.js';
import { nearestRank, periodMeasure, segmentPercentileKey, segmentPercentiles, type SegmentMeasureSpec } from '../../src/aml/segments.js';
import type { Movement, WindowEntry } from '../../src/aml/types.js';
import { subjectKeyOf } from '../../src/aml/movements.js';
import { ConfigError } from '../../src/lib/errors.js';
import { D, H, T0 } from './amlFixtures.js';

let n = 0;
const we = (time: number, amount: bigint, o: Partial<WindowEntry> = {}): WindowEntry => ({
  eventId: `chain:e${++n}`,
  source: 'chain',
  dir: 'out',
  amount,
  counterparty: `P${n}`,
  kind: 'transfer',
  time,
  ...o,
});
const spec = (o: Partial<SegmentMeasureSpec> = {}): SegmentMeasureSpec => ({ measure: 'volume', direction: 'out', sources: ['bank', 'chain'], periodMs: 30 * D, historyMs: 0, ...o });

describe('segment percentile maths', () => {
  it('takes the nearest rank: the smallest value with at least p% of the values at or below it', () => {
    const ten = [7n, 3n, 10n, 1n, 9n, 2n, 8n, 5n, 4n, 6n];
    expect(nearestRank(ten, 50)).toBe(5n);
    expect(nearestRank(ten, 90)).toBe(9n);
    expect(nearestRank(ten, 90.01)).toBe(10n);
    expect(nearestRank(ten, 99)).toBe(10n);
    expect(nearestRank([42n], 99.99)).toBe(42n);
    expect(nearestRank([], 99)).toBeUndefined();
    // Exact on amounts no float holds.
    const big = 10n ** 30n;
    expect(nearestRank([big + 1n, big + 3n, big + 2n, big], 75)).toBe(big + 2n);
  });

  it('ranks each segment over its active customers only, and gives none to a segment with too few peers', () => {
    const m = (value: bigint, active = true) => ({ value, active, evidence: [] });
    const customers = [
      ...[1n, 2n, 3n, 4n, 5n].map((v) => ({ segment: 'retail', measure: m(v * 100n) })),
      { segment: 'retail', measure: m(0n, false) },
      { segment: 'retail', measure: m(0n, false) },
      ...[10_000n, 20_000n, 30_000n].map((v) => ({ segment: 'corporate', measure: m(v) })),
      { segment: 'sme', measure: m(7n) },
    ];
    const p80 = segmentPercentiles(customers, 80, 3);
    expect([...p80]).toEqual([
      ['corporate', { value: 30_000n, peers: 3 }],
      ['retail', { value: 400n, peers: 5 }],
    ]);
    expect(segmentPercentiles(customers, 80, 4).has('corporate')).toBe(false);
  });

  it('measures volume and count in (end - period, end] in the direction and sources asked', () => {
    const end = T0 + 40 * D;
    const w = [
      we(end - 30 * D, 1_000n), // on the boundary: before the period
      we(end - 30 * D + 1, 200n),
      we(end - D, 300n, { dir: 'in' }),
      we(end - H, 400n, { source: 'bank', counterparty: '' }),
      we(end, 500n),
      we(end + 1, 9_999n), // after the movement measured at `end`
    ];
    expect(periodMeasure(w, end, spec()).value).toBe(1_100n);
    expect(periodMeasure(w, end, spec({ sources: ['chain'] })).value).toBe(700n);
    expect(periodMeasure(w, end, spec({ direction: 'any' })).value).toBe(1_400n);
    expect(periodMeasure(w, end, spec({ measure: 'count' })).value).toBe(3n);
    expect(periodMeasure(w, end, spec({ direction: 'in', sources: ['bank'] })).active).toBe(false);
  });

  it('counts as new only counterparties with no movement either way in the history before the period', () => {
    const end = T0 + 70 * D;
    const start = end - 30 * D;
    const w = [
      we(start - 40 * D, 100n, { counterparty: 'OLD-BEYOND-HISTORY' }),
      we(start - 5 * D, 100n, { counterparty: 'KNOWN', dir: 'in' }),
      we(start + D, 100n, { counterparty: 'KNOWN' }),
      we(start + 2 * D, 100n, { counterparty: 'OLD-BEYOND-HISTORY' }),
      we(start + 3 * D, 100n, { counterparty: 'NEW-1' }),
      we(start + 4 * D, 100n, { counterparty: 'NEW-1' }),
      we(start + 5 * D, 100n, { counterparty: 'NEW-2' }),
      we(start + 6 * D, 100n, { counterparty: 'PAYER', dir: 'in' }),
    ];
    const m = periodMeasure(w, end, spec({ measure: 'new_counterparties', historyMs: 30 * D }));
    expect(m.value).toBe(3n);
    expect(m.evidence.map((e) => e.counterparty)).toEqual(['OLD-BEYOND-HISTORY', 'NEW-1', 'NEW-2']);
  });
});

describe('peer_segment rule', () => {
  const doc = (rule: Record<string, unknown> = {}): RuleFileInput => ({
    version: 'seg-1',
    rules: [
      { id: 'segment-volume', type: 'peer_segment', scope: 'customer', period: '30d', measure: 'volume', direction: 'out', segmentPercentile: 95, currencies: ['EUR'], minPeers: 5, ...rule },
    ] as RuleFileInput['rules'],
  });
  const ruleOf = (d: RuleFileInput) => {
    const rules = parseRuleSet(d);
    return { rules, rule: rules.rules[0] as RuleOf<'peer_segment'> };
  };
  const end = T0 + 60 * D;
  const move = (amount: bigint): Movement => ({
    eventId: 'chain:last',
    source: 'chain',
    scope: 'customer',
    subject: 'ACC-X',
    subjectKey: subjectKeyOf('customer', 'ACC-X', 'EUR'),
    currency: 'EUR',
    dir: 'out',
    amount,
    counterparty: 'ACC-Y',
    kind: 'transfer',
    time: end,
    touches: [],
  });
  /** The customer moved 3 × 100,000.00 EUR out over the period, the last one now. */
  const window = [we(end - 20 * D, 10_000_000n), we(end - 10 * D, 10_000_000n), { ...we(end, 10_000_000n), eventId: 'chain:last' }];
  const decide = (d: RuleFileInput, segment: string | undefined, data: Map<string, bigint> | undefined, amount = 10_000_000n) => {
    const { rules, rule } = ruleOf(d);
    return evaluateRule(rule, {
      rules,
      movement: move(amount),
      state: { window, previousActivity: null, buckets: new Map() },
      watchlist: new Set(),
      ...(segment !== undefined && { segment }),
      ...(data && { data }),
    });
  };
  const key = (d: RuleFileInput, segment: string) => {
    const { rules } = ruleOf(d);
    return segmentPercentileKey(rules.segmentPercentiles[0]!, segment, 'EUR');
  };

  it('alerts a customer above its segment percentile and not the same customer in a segment where that volume is normal', () => {
    const d = doc();
    const data = new Map([
      [key(d, 'retail'), 500_000n], // retail p95: 5,000.00 EUR a month
      [key(d, 'corporate'), 90_000_000n], // corporate p95: 900,000.00 EUR
    ]);
    const [a] = decide(d, 'retail', data);
    expect(a).toMatchObject({ ruleId: 'segment-volume', ruleType: 'peer_segment', subject: 'ACC-X', windowStart: end - 30 * D, windowEnd: end });
    expect(a!.evidence).toHaveLength(3);
    expect(a!.figures).toEqual([{ name: "value in the period vs the retail segment's p95", value: '30000000', op: '>', threshold: '500000', unit: 'minor:EUR' }]);
    expect(a!.summary).toContain('300000.00 EUR');
    expect(decide(d, 'corporate', data)).toEqual([]);
  });

  it('waits while its segment has no computed percentile, and reads `default` for a customer without one', () => {
    const d = doc();
    expect(decide(d, 'retail', undefined)).toEqual([]);
    expect(decide(d, 'retail', new Map([[key(d, 'corporate'), 1n]]))).toEqual([]);
    expect(decide(d, undefined, new Map([[key(d, 'default'), 1n]]))).toHaveLength(1);
  });

  it('alerts strictly above percentile × factor and at or above its floor', () => {
    const at = doc();
    expect(decide(at, 'retail', new Map([[key(at, 'retail'), 30_000_000n]]))).toEqual([]);
    expect(decide(at, 'retail', new Map([[key(at, 'retail'), 29_999_999n]]))).toHaveLength(1);
    const f = doc({ factor: '1.5' });
    expect(decide(f, 'retail', new Map([[key(f, 'retail'), 20_000_000n]]))).toEqual([]);
    expect(decide(f, 'retail', new Map([[key(f, 'retail'), 19_999_999n]]))).toHaveLength(1);
    const floored = doc({ minValue: { EUR: '300000.01' } });
    expect(decide(floored, 'retail', new Map([[key(floored, 'retail'), 1n]]))).toEqual([]);
    const counted = doc({ measure: 'count', minCount: 3 });
    expect(decide(counted, 'retail', new Map([[key(counted, 'retail'), 2n]]))[0]!.figures.map((f) => f.threshold)).toEqual(['2', '3']);
  });

  it('ignores movements of another direction or currency', () => {
    const d = doc({ direction: 'in' });
    expect(decide(d, 'retail', new Map([[key(d, 'retail'), 0n]]))).toEqual([]);
    const usd = doc({ currencies: ['USD'] });
    expect(decide(usd, 'retail', new Map([[key(usd, 'retail'), 0n]]))).toEqual([]);
  });

  it('validates: customer scope, a floor that fits the measure, a percentile and currencies; one spec per measure', () => {
    const bad = (rule: Record<string, unknown>) => {
      try {
        parseRuleSet(doc(rule));
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as Error).message;
      }
      throw new Error('accepted');
    };
    expect(bad({ scope: 'wallet' })).toContain('peer_segment needs customer scope');
    expect(bad({ measure: 'count', minValue: { EUR: '1' } })).toContain('minValue floors a volume');
    expect(bad({ minCount: 3 })).toContain('minCount floors a count');
    expect(bad({ segmentPercentile: 100 })).toContain('rules.0.segmentPercentile');
    expect(bad({ currencies: ['eur'] })).toContain('rules.0.currencies.0');
    const two = parseRuleSet({
      version: 'seg-2',
      rules: [
        { id: 'a', type: 'peer_segment', segmentPercentile: 99, currencies: ['EUR'] },
        { id: 'b', type: 'peer_segment', segmentPercentile: 99, currencies: ['USD'], suppress: '7d' },
        { id: 'c', type: 'peer_segment', measure: 'new_counterparties', history: '60d', segmentPercentile: 99, currencies: ['EUR'] },
      ],
    });
    expect(two.segmentPercentiles).toEqual([
      { measure: 'volume', direction: 'any', sources: ['bank', 'chain'], periodMs: 30 * D, historyMs: 0, currencies: ['EUR', 'USD'], percentile: 99, minPeers: 20 },
      { measure: 'new_counterparties', direction: 'any', sources: ['bank', 'chain'], periodMs: 30 * D, historyMs: 60 * D, currencies: ['EUR'], percentile: 99, minPeers: 20 },
    ]);
    // The read horizon covers the history a new counterparty is looked for in.
    expect(two.horizonMs).toBe(90 * D);
  });
});
