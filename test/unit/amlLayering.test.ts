import { describe, expect, it } from 'vitest';
import type { PatternParams } from '../../src/aml/graph/patterns.js';
import { scorePeriod } from '../../src/aml/risk/riskPeriod.js';
import { parseRuleSet } from '../../src/aml/ruleFile.js';
import { DAY, patterns, windowsOf, type T } from '../support/amlGraphFixtures.js';

const layering = (t: readonly T[], p: Partial<PatternParams> = {}) =>
  patterns(t, p)
    .filter((h) => h.typology === 'bipartite' || h.typology === 'stack')
    .map((h) => `${h.typology}@${h.anchor}`);

/** Every member of `from` pays every member of `to` once, `amount` each, from `day` on. */
function layer(from: readonly string[], to: readonly string[], amount: number, day: number): T[] {
  return from.flatMap((f, i) => to.map((x, j): T => [f, x, amount, day + (i + j) / 10]));
}

describe('bipartite layering', () => {
  // Three sources pay two intermediaries 1,000 each; each intermediary passes 3,000 to two sinks.
  const bipartite: T[] = [...layer(['s1', 's2', 's3'], ['m1', 'm2'], 1_000, 2), ...layer(['m1', 'm2'], ['z1', 'z2'], 1_450, 6)];

  it('finds sources paying intermediaries that pay sinks, value held, once, with every transfer as evidence', () => {
    const hits = patterns(bipartite).filter((h) => h.typology === 'bipartite');
    expect(hits).toHaveLength(1);
    expect(hits[0]!.anchor).toBe('m1');
    expect(hits[0]!.members).toEqual(['m1', 'm2', 's1', 's2', 's3', 'z1', 'z2']);
    expect(hits[0]!.evidence).toHaveLength(6 + 4);
    expect(layering(bipartite)).toEqual(['bipartite@m1']);
  });

  it('does not flag intermediaries that keep most of the value, nor ones that paid out before collecting', () => {
    const leaky: T[] = [...layer(['s1', 's2', 's3'], ['m1', 'm2'], 1_000, 2), ...layer(['m1', 'm2'], ['z1', 'z2'], 700, 6)];
    expect(layering(leaky)).toEqual([]);
    expect(layering(leaky, { layerMinHeldShareBps: 4_000 })).toEqual(['bipartite@m1']);
    const early: T[] = [...layer(['m1', 'm2'], ['z1', 'z2'], 1_450, 1), ...layer(['s1', 's2', 's3'], ['m1', 'm2'], 1_000, 5)];
    expect(layering(early)).toEqual([]);
  });

  it('does not flag outflows later than the layer window after the first collection', () => {
    const slow: T[] = [...layer(['s1', 's2', 's3'], ['m1', 'm2'], 1_000, 1), ...layer(['m1', 'm2'], ['z1', 'z2'], 1_450, 20)];
    expect(layering(slow)).toEqual([]);
    expect(layering(slow, { layerWindowMs: 21 * DAY })).toEqual(['bipartite@m1']);
  });

  it('needs two intermediaries sharing a payer and a payee: two unrelated pass-throughs are no group', () => {
    const apart: T[] = [...layer(['s1', 's2'], ['m1'], 1_000, 2), ...layer(['m1'], ['z1', 'z2'], 1_000, 6), ...layer(['s3', 's4'], ['m2'], 1_000, 2), ...layer(['m2'], ['z3', 'z4'], 1_000, 6)];
    expect(layering(apart)).toEqual([]);
    expect(layering(bipartite, { bipartiteMinMiddles: 3 })).toEqual([]);
  });

  it('links no group through a payer with more one-off payees than layerMaxDegree, nor beyond the search budget', () => {
    expect(layering(bipartite, { layerMaxDegree: 1 })).toEqual([]);
    expect(layering(bipartite, { layerSearchBudget: 1 })).toEqual(['bipartite@m1']);
    expect(layering(bipartite, { layerSearchBudget: 0 })).toEqual([]);
  });

  it('is off with layering: false', () => {
    expect(layering(bipartite, { layering: false })).toEqual([]);
  });
});

describe('stack layering', () => {
  const stack: T[] = [...layer(['a1', 'a2'], ['m1', 'm2'], 1_000, 1), ...layer(['m1', 'm2'], ['n1', 'n2', 'n3'], 650, 4), ...layer(['n1', 'n2', 'n3'], ['z1', 'z2'], 620, 8)];

  it('finds value moving group to group through two layers of intermediaries, once', () => {
    const hits = patterns(stack);
    expect(hits.filter((h) => h.typology === 'bipartite').map((h) => h.anchor)).toEqual(['m1', 'n1']);
    const stacks = hits.filter((h) => h.typology === 'stack');
    expect(stacks).toHaveLength(1);
    expect(stacks[0]!.anchor).toBe('m1');
    expect(new Set(stacks[0]!.members)).toEqual(new Set(['a1', 'a2', 'm1', 'm2', 'n1', 'n2', 'n3', 'z1', 'z2']));
    // Every transfer of the three transitions, each once.
    expect(stacks[0]!.evidence).toHaveLength(4 + 6 + 6);
    expect(new Set(stacks[0]!.evidence.map((e) => e.eventId)).size).toBe(16);
  });

  it('needs stackMinLayers groups in succession', () => {
    expect(layering(stack, { stackMinLayers: 3 })).toEqual(['bipartite@m1', 'bipartite@n1']);
    const three: T[] = [...stack.filter(([, to]) => !to.startsWith('z')), ...layer(['n1', 'n2', 'n3'], ['o1', 'o2'], 650, 8), ...layer(['o1', 'o2'], ['z1', 'z2'], 975, 12)];
    expect(layering(three, { stackMinLayers: 3 })).toContain('stack@m1');
  });

  it('does not stack two groups when only one intermediary of the first pays the second', () => {
    const thin: T[] = [...layer(['a1', 'a2'], ['m1', 'm2'], 1_000, 1), ...layer(['m1', 'm2'], ['x1', 'x2'], 1_000, 4), ['m1', 'n1', 100, 5], ...layer(['b1', 'b2'], ['n1', 'n2'], 1_000, 6)];
    thin.push(...layer(['n1', 'n2'], ['z1', 'z2'], 1_020, 9));
    expect(layering(thin)).toEqual(['bipartite@m1', 'bipartite@n1']);
  });
});

describe('layering look-alikes', () => {
  it('does not flag a payroll: one employer paying many employees monthly, who spend it at the same shops', () => {
    const t: T[] = [];
    for (let e = 0; e < 12; e++) t.push(['employer', `emp${e}`, 2_500, 1], [`emp${e}`, 'landlord', 900, 3], [`emp${e}`, 'grocer', 600, 5 + (e % 3)]);
    expect(layering(t)).toEqual([]);
  });

  it('does not flag trading partners: many-to-many between two groups, but both ways', () => {
    const t: T[] = [];
    for (const [a, b] of [
      ['a1', 'b1'],
      ['a1', 'b2'],
      ['a2', 'b1'],
      ['a2', 'b2'],
    ] as const) {
      t.push([a, b, 900, 2], [b, a, 880, 9]);
    }
    t.push(...layer(['s1', 's2'], ['a1', 'a2'], 900, 1));
    expect(layering(t)).toEqual([]);
  });

  it('does not flag a marketplace: many buyers pay many sellers, who keep the takings or pay their usual suppliers', () => {
    const sellers = ['sell1', 'sell2', 'sell3', 'sell4'];
    const t: T[] = [];
    for (let b = 0; b < 8; b++) for (let k = 0; k < 3; k++) t.push([`buy${b}`, sellers[(b + k) % 4]!, 100 + 10 * b, 1 + b + k]);
    // Weekly stock from one wholesaler: a recurring relation, never one-off.
    for (const s of sellers) for (const d of [3, 10, 17, 24]) t.push([s, 'wholesaler', 150, d]);
    expect(layering(t)).toEqual([]);
    // The same sellers also paying two one-off suppliers a small part of their takings: value not held.
    const withSuppliers: T[] = [...t, ...layer(sellers, ['supA', 'supB'], 40, 12)];
    expect(layering(withSuppliers)).toEqual([]);
    // What would make it layering: the sellers passing their takings on to the same one-off payees.
    const passedOn: T[] = [...t.filter(([, to]) => to !== 'wholesaler'), ...layer(sellers, ['supA', 'supB'], 380, 12)];
    expect(layering(passedOn)).toEqual(['bipartite@sell1']);
  });
});

describe('layering in the risk score', () => {
  const t: T[] = [...layer(['s1', 's2', 's3'], ['m1', 'm2'], 1_000, 2), ...layer(['m1', 'm2'], ['z1', 'z2'], 1_450, 6)];

  it('alerts the anchor of a bipartite layering, naming it and carrying the contributing transfers', () => {
    const rules = parseRuleSet({ version: 'v3', risk: { currency: 'EUR' } });
    const r = scorePeriod(windowsOf(t), rules, rules.risk!, 0, 30 * DAY, 0);
    const m1 = r.alerts.find((a) => a.subject === 'm1');
    expect(m1?.summary).toMatch(/anchor of [a-z_, ]*bipartite/);
    expect(m1?.customers).toEqual(['m1']);
    expect(m1?.evidence_event_ids).toHaveLength(10);
    expect(r.ranking.find((c) => c.customer === 'm2')?.memberOf).toContain('bipartite');
    const off = parseRuleSet({ version: 'v3', risk: { currency: 'EUR', layering: false } });
    expect(scorePeriod(windowsOf(t), off, off.risk!, 0, 30 * DAY, 0).hits.filter((h) => h.typology === 'bipartite')).toEqual([]);
  });

  it('validates the layering fields of the rule file', () => {
    const rules = parseRuleSet({ version: '1', risk: { currency: 'EUR', layerWindow: '10d', layerMinHeldShare: '75%', weights: { stack: 90 } } });
    expect(rules.risk?.layerWindow).toBe(10 * DAY);
    expect(rules.risk?.layerMinHeldShare).toBe(7_500);
    expect(rules.risk?.weights).toMatchObject({ stack: 90, bipartite: 60, fan_in: 40 });
    expect(() => parseRuleSet({ version: '1', risk: { currency: 'EUR', bipartiteMinMiddles: 1 } })).toThrow(/bipartiteMinMiddles/);
  });
});
