import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { detectPatterns, type PatternParams } from '../../src/aml/graph/patterns.js';
import { buildTransferGraph } from '../../src/aml/graph/transferGraph.js';
import { scorePeriod } from '../../src/aml/risk/riskPeriod.js';
import { scoreCustomers, type RiskParams } from '../../src/aml/risk/riskScore.js';
import { parseRuleSet } from '../../src/aml/ruleFile.js';
import { parseAmlSim } from '../../src/generator/amlsim/amlSimDataset.js';
import { activityRanking, labeledAccounts, precisionAtK, scoreLabeled } from '../../src/generator/amlsim/scoreLabeled.js';
import { DAY, P, patterns, windowsOf, type T } from '../support/amlGraphFixtures.js';

const R: RiskParams = {
  weights: { fan_in: 40, fan_out: 40, cycle: 60, scatter_gather: 60, gather_scatter: 60, bipartite: 60, stack: 80 },
  memberShareBps: 7_000,
  fanMembersByHubFreshShare: true,
  freshEdgePoints: 5,
  freshSharePoints: 40,
  alertThreshold: 50,
  escalateThreshold: 100,
};

const typologies = (t: readonly T[], p: Partial<PatternParams> = {}) => patterns(t, p).map((h) => `${h.typology}@${h.anchor}`);

describe('graph typologies on the period transfer graph', () => {
  it('finds a fan-in whose payers arrive over three weeks, with its transfers as evidence', () => {
    const t: T[] = [1, 5, 9, 13, 17].map((d, i): T => [`s${i}`, 'hub', 300 + i, d]);
    const hits = patterns(t).filter((h) => h.typology === 'fan_in');
    expect(hits).toHaveLength(1);
    expect(hits[0]!.anchor).toBe('hub');
    expect(hits[0]!.evidence.map((e) => e.eventId)).toEqual(['chain:t0', 'chain:t1', 'chain:t2', 'chain:t3', 'chain:t4']);
  });

  it('does not flag a payroll fan-out: the same employees paid every week are a recurring relation', () => {
    const t: T[] = [];
    for (const week of [0, 7, 14, 21]) for (let e = 0; e < 8; e++) t.push(['employer', `emp${e}`, 2_000, week + 1]);
    expect(typologies(t)).toEqual([]);
    // The same employer paying eight new people once each is a fan-out.
    expect(typologies([0, 1, 2, 3, 4, 5, 6, 7].map((e): T => ['employer', `new${e}`, 2_000, e + 1]))).toContain('fan_out@employer');
  });

  it('treats two trading partners paying each other as normal, not as a cycle', () => {
    const t: T[] = [];
    for (let d = 0; d < 28; d += 2) t.push(['a', 'b', 900, d], ['b', 'a', 880, d + 1]);
    expect(typologies(t)).toEqual([]);
    const g = buildTransferGraph(
      windowsOf([
        ['a', 'b', 900, 1],
        ['b', 'a', 890, 2],
      ]),
      0,
      30 * DAY,
    );
    expect(g.freshOut('a')).toEqual([]); // one transfer each way: two-way partners, not one-off
    expect(g.pairCount('a', 'b')).toBe(2);
  });

  it('finds a 7-hop loop whose hops happen in any time order, once', () => {
    const ring = ['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6'];
    const days = [3, 17, 14, 14, 9, 7, 16];
    const t = ring.map((m, i): T => [m, ring[(i + 1) % ring.length]!, 500 + 40 * i, days[i]!]);
    const hits = patterns(t).filter((h) => h.typology === 'cycle');
    expect(hits).toHaveLength(1);
    expect(new Set(hits[0]!.members)).toEqual(new Set(ring));
    expect(hits[0]!.evidence).toHaveLength(7);
  });

  it('does not close a loop where value does not hold, nor one longer than the limit', () => {
    const ring = ['m0', 'm1', 'm2', 'm3'];
    const leaky = ring.map((m, i): T => [m, ring[(i + 1) % 4]!, i === 2 ? 20 : 800, i + 1]);
    expect(typologies(leaky).filter((x) => x.startsWith('cycle'))).toEqual([]);
    const long = Array.from({ length: 12 }, (_, i): T => [`n${String(i).padStart(2, '0')}`, `n${String((i + 1) % 12).padStart(2, '0')}`, 700, i + 1]);
    expect(typologies(long).filter((x) => x.startsWith('cycle'))).toEqual([]);
    expect(typologies(long, { cycleMaxLength: 12 }).filter((x) => x.startsWith('cycle'))).toEqual(['cycle@n00']);
  });

  it('lets one hop of a loop run over a recurring relationship, not two', () => {
    const ring = ['m0', 'm1', 'm2', 'm3', 'm4'];
    const t = ring.map((m, i): T => [m, ring[(i + 1) % 5]!, 600, i + 1]);
    const oneRecurring: T[] = [...t, ['m1', 'm2', 300, 20], ['m1', 'm2', 300, 27]];
    expect(typologies(oneRecurring).filter((x) => x.startsWith('cycle'))).toEqual(['cycle@m0']);
    expect(typologies(oneRecurring, { cycleMaxRecurringHops: 0 }).filter((x) => x.startsWith('cycle'))).toEqual([]);
    const twoRecurring: T[] = [...oneRecurring, ['m3', 'm4', 300, 20]];
    expect(typologies(twoRecurring).filter((x) => x.startsWith('cycle'))).toEqual([]);
  });

  it('finds scatter-gather only when the gathers follow the scatters', () => {
    const t: T[] = [];
    ['x', 'y', 'z'].forEach((m, i) => {
      t.push(['orig', m, 400, 2 + i], [m, 'dest', 380, 10 + i]);
    });
    const hit = patterns(t).find((h) => h.typology === 'scatter_gather');
    expect(hit?.anchor).toBe('orig');
    expect(hit?.members).toEqual(['orig', 'x', 'y', 'z', 'dest']);
    expect(hit?.evidence).toHaveLength(6);
    const reversed: T[] = [];
    ['x', 'y', 'z'].forEach((m, i) => {
      reversed.push(['orig', m, 400, 20 + i], [m, 'dest', 380, 2 + i]);
    });
    expect(typologies(reversed).filter((x) => x.startsWith('scatter'))).toEqual([]);
  });

  it('finds gather-scatter: one-off payers, then one-off payees', () => {
    const t: T[] = [
      ['p1', 'mule', 900, 2],
      ['p2', 'mule', 700, 3],
      ['mule', 'q1', 500, 9],
      ['mule', 'q2', 600, 12],
    ];
    expect(typologies(t)).toEqual(['gather_scatter@mule']);
    const before: T[] = [
      ['mule', 'q1', 500, 1],
      ['mule', 'q2', 600, 1],
      ['p1', 'mule', 900, 8],
      ['p2', 'mule', 700, 9],
    ];
    expect(typologies(before)).toEqual([]);
  });
});

describe('risk score per customer', () => {
  it('ranks several weak signals on one customer above a busy account with one strong one', () => {
    const t: T[] = [];
    for (let d = 0; d < 28; d++) for (const c of ['c1', 'c2', 'c3']) t.push([c, 'busy', 100, d], ['busy', c, 90, d]);
    [1, 4, 8, 12].forEach((d, i) => {
      t.push([`f${i}`, 'busy', 500, d]);
    });
    // `quiet`: a gather-scatter, and a member of a fan-out, and little else.
    t.push(['p1', 'quiet', 900, 2], ['p2', 'quiet', 700, 3], ['quiet', 'q1', 500, 9], ['quiet', 'q2', 600, 12]);
    [1, 2, 3].forEach((d, i) => {
      t.push(['boss', `o${i}`, 300, d]);
    });
    t.push(['boss', 'quiet', 300, 5]);
    const g = buildTransferGraph(windowsOf(t), 0, 30 * DAY);
    const ranking = scoreCustomers(g, detectPatterns(g, P), R);
    const rank = (c: string) => ranking.findIndex((r) => r.customer === c);
    expect(rank('quiet')).toBeLessThan(rank('busy'));
    const quiet = ranking[rank('quiet')]!;
    expect(quiet.anchored).toEqual(['gather_scatter']);
    expect(quiet.memberOf).toEqual(['fan_out']);
    expect(quiet.level).toBe('escalate');
  });

  it("scales a fan member's share by the hub's one-off share on the fan's side, not the hub's weight", () => {
    // `shop` has 12 regular payers (each pays every week) and 4 one-off ones; `mule` only 4 one-off payers.
    const t: T[] = [];
    for (let c = 0; c < 12; c++) for (const d of [1, 8, 15, 22]) t.push([`reg${c}`, 'shop', 50, d]);
    [2, 6, 10, 14].forEach((d, i) => {
      t.push([`new${i}`, 'shop', 80, d], [`pay${i}`, 'mule', 80, d]);
    });
    const g = buildTransferGraph(windowsOf(t), 0, 30 * DAY);
    const hits = detectPatterns(g, P);
    expect(hits.map((h) => `${h.typology}@${h.anchor}`).sort()).toEqual(['fan_in@mule', 'fan_in@shop']);
    const score = (p: RiskParams) => new Map(scoreCustomers(g, hits, p).map((c) => [c.customer, c.score]));
    const scaled = score(R);
    const flat = score({ ...R, fanMembersByHubFreshShare: false });
    // Members: 70 % of 40 = 28 points, times 4 / 16 for the shop's payers, times 4 / 4 for the mule's.
    expect(flat.get('new0')! - scaled.get('new0')!).toBe(28 - 7);
    expect(flat.get('pay0')).toBe(scaled.get('pay0'));
    expect(scaled.get('shop')).toBe(flat.get('shop'));
    expect(scaled.get('pay0')!).toBeGreaterThan(scaled.get('new0')!);
  });

  it('alerts name the customer, carry the contributing transfers and the rule version', () => {
    const rules = parseRuleSet({ version: 'v9', risk: { currency: 'EUR' } });
    const t: T[] = [1, 5, 9, 13, 17].map((d, i): T => [`s${i}`, 'hub', 300, d]);
    const r = scorePeriod(windowsOf(t), rules, rules.risk!, 0, 30 * DAY, 0);
    expect(r.alerts.map((a) => [a.subject, a.rule_version, a.evidence_event_ids.length, a.severity])).toEqual([['hub', 'v9', 5, 'critical']]);
    expect(r.ranking[0]!.customer).toBe('hub');
  });

  it('validates the risk section of the rule file and widens the window horizon to the period', () => {
    const rules = parseRuleSet({ version: '1', risk: { currency: 'EUR', period: '30d' } });
    expect(rules.horizonMs).toBe(30 * DAY);
    expect(rules.scopes.has('customer')).toBe(true);
    expect(rules.risk?.cycleMaxLength).toBe(10);
    expect(() => parseRuleSet({ version: '1', risk: { currency: 'EUR', alertThreshold: 200, escalateThreshold: 100 } })).toThrow(/alertThreshold > escalateThreshold/);
  });
});

describe('independent labeled set (IBM AMLSim)', () => {
  const d = parseAmlSim(readFileSync('test/fixtures/amlsim/transactions.csv', 'utf8'), readFileSync('test/fixtures/amlsim/alert_members.csv', 'utf8'));

  it('loads 7,805 transfers over 30 days and 58 labeled instances whose transfers all exist', () => {
    expect(d.events).toHaveLength(7_805);
    expect(d.days).toBe(30);
    expect(d.instances).toHaveLength(58);
    const ids = new Set(d.events.map((e) => `chain:${e.eventId}`));
    for (const i of d.instances) {
      expect(i.eventIds.length).toBeGreaterThan(0);
      for (const id of i.eventIds) expect(ids.has(id)).toBe(true);
    }
    expect(labeledAccounts(d.instances).size).toBe(415);
  });

  it('scores recall by evidence and by subject, precision by subject, and precision@k', () => {
    const inst = [
      { typology: 'fan_in', members: ['h', 'a'], eventIds: ['e1'] },
      { typology: 'cycle', members: ['x', 'y'], eventIds: ['e2'] },
    ];
    const s = scoreLabeled(
      inst,
      [
        { rule_id: 'r', subject: 'a', evidence_event_ids: ['e9'] },
        { rule_id: 'r', subject: 'q', evidence_event_ids: ['e2'] },
      ],
      1_000,
    );
    expect(s.typologies).toEqual([
      { typology: 'cycle', instances: 1, byEvidence: 1, bySubject: 0 },
      { typology: 'fan_in', instances: 1, byEvidence: 0, bySubject: 1 },
    ]);
    expect(s.rules).toEqual([{ rule: 'r', alerts: 2, labeledSubjects: 1 }]);
    expect(s.alertsPer1000).toBe(2);
    expect(precisionAtK(['h', 'q', 'x'], labeledAccounts(inst), 3)).toEqual([1, 0.5, 2 / 3]);
    expect(
      activityRanking([
        { from: 'a', to: 'b' },
        { from: 'b', to: 'c' },
      ]),
    ).toEqual(['b', 'a', 'c']);
  });
});
