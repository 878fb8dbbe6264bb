import { describe, expect, it } from 'vitest';
import { parseRuleSet, type RuleFileInput } from '../../src/aml/ruleFile.js';
import { movementsOfChainEvent, movementsOfLedgerEntry } from '../../src/aml/movements.js';
import { customersOf } from '../../src/aml/engine.js';
import { ConfigError } from '../../src/lib/errors.js';
import { BASE_RULES, D, entry, H, ids, rig, T0, transfer, wallet } from './amlFixtures.js';
import { scenarios } from './amlScenarios.js';

describe('AML rules (pure engine, memory state)', () => {
  for (const sc of scenarios()) {
    it(`${sc.expected > 0 ? 'raises' : 'does not raise'} ${sc.rule} — ${sc.name}`, async () => {
      const r = rig({ accounts: sc.accounts });
      for (const w of sc.watch ?? []) r.watch.add(w);
      const { alerts } = await r.feed(sc.events);
      const mine = alerts.filter((a) => a.rule_id === sc.rule);
      expect(
        mine.map((a) => a.summary),
        sc.name,
      ).toHaveLength(sc.expected);
      if (sc.evidence) expect([...mine[0]!.evidence_event_ids].sort()).toEqual([...sc.evidence].sort());
      if (sc.subject) expect(mine[0]!.subject).toBe(sc.subject);
      for (const a of mine) {
        expect(a.rule_version).toBe('test-1');
        expect(JSON.parse(a.figures).length).toBeGreaterThan(0);
      }
      // Redelivery of every event: nothing new, the same alerts re-emitted as replays.
      const again = await r.feed(sc.events);
      expect(again.replayed.every(Boolean)).toBe(true);
      expect(new Set(ids(again.alerts))).toEqual(new Set(ids(alerts)));
    });
  }

  it('explains an alert: rule, version, subject, window, figures against thresholds, evidence', async () => {
    const r = rig({ accounts: [{ accountId: 'ACC-A', wallets: [wallet('a1')] }] });
    const es = [entry('ACC-A', 950_000n, T0), entry('ACC-A', 920_000n, T0 + 5 * H), entry('ACC-A', 990_000n, T0 + 20 * H)];
    const { alerts } = await r.feed(es);
    const [a] = alerts;
    expect(a).toMatchObject({
      alert_id: `structuring:customer:ACC-A:USD:${Math.floor((T0 + 20 * H) / D)}`,
      rule_id: 'structuring',
      rule_type: 'structuring',
      rule_version: 'test-1',
      scope: 'customer',
      subject: 'ACC-A',
      currency: 'USD',
      window_start: T0,
      window_end: T0 + 20 * H,
      event_time: T0 + 20 * H,
      trigger_event_id: `bank:${es[2]!.entryId}`,
    });
    expect(JSON.parse(a!.figures)).toEqual([
      { name: 'movements just below the threshold', value: '3', op: '>=', threshold: '3', unit: 'count' },
      { name: 'their total', value: '2860000', op: '>=', threshold: '1000000', unit: 'minor:USD' },
      { name: 'each movement', value: '[800000, 1000000)', op: 'in', threshold: '2000 bps below 1000000', unit: 'minor:USD' },
    ]);
    expect(a!.summary).toContain('28600.00 USD');
  });

  it('takes a new rule version at the next event and keeps the window state', async () => {
    const r = rig();
    await r.feed([entry('ACC-A', 950_000n, T0), entry('ACC-A', 920_000n, T0 + H)]);
    r.setRules({ ...BASE_RULES, version: 'test-2' });
    const { alerts } = await r.feed([entry('ACC-A', 990_000n, T0 + 2 * H)]);
    expect(alerts.map((a) => [a.rule_id, a.rule_version])).toEqual([['structuring', 'test-2']]);
  });

  it('applies a watch-list update at the next event', async () => {
    const r = rig();
    const bad = wallet('bad');
    expect((await r.feed([transfer(bad, wallet('a1'), 100n, T0)])).alerts).toEqual([]);
    r.watch.add(bad);
    expect(ids((await r.feed([transfer(bad, wallet('a1'), 100n, T0 + 1)])).alerts)).toHaveLength(1);
  });

  it("keeps currencies apart and reads thresholds at each currency's exponent", async () => {
    const r = rig();
    const { alerts } = await r.feed([
      entry('ACC-J', 1_000_000n, T0, { currency: 'JPY', exponent: 0 }), // 1,000,000 JPY ≥ 10,000 JPY
      entry('ACC-K', 9_999_999n, T0, { currency: 'KWD', exponent: 3 }), // 9,999.999 KWD < 10,000
    ]);
    expect(alerts.map((a) => `${a.rule_id}:${a.currency}`)).toEqual(['large-value:JPY']);
  });
});

describe('AML movements', () => {
  const rules = parseRuleSet(BASE_RULES);
  const ids2 = { accountOfWallet: (w: string) => ({ [wallet('a1')]: 'A', [wallet('a2')]: 'A' })[w], walletsOfAccount: () => [], currencyOfToken: () => 'USD', exponentOf: () => 2 };

  it('skips pending and reversed postings and fees', () => {
    expect(movementsOfLedgerEntry(entry('A', 1n, T0, { status: 'pending' }), rules)).toEqual([]);
    expect(movementsOfLedgerEntry(entry('A', 1n, T0, { status: 'reversed' }), rules)).toEqual([]);
    expect(movementsOfLedgerEntry(entry('A', 1n, T0, { txType: 'fee' }), rules)).toEqual([]);
  });

  it('sees a transfer between two wallets of one customer at wallet scope only', () => {
    const ms = movementsOfChainEvent(transfer(wallet('a1'), wallet('a2'), 100n, T0), ids2, rules);
    expect(ms.map((m) => `${m.scope}:${m.subject}:${m.dir}`)).toEqual([`wallet:${wallet('a1')}:out`, `wallet:${wallet('a2')}:in`]);
  });

  it("names the customers a movement involves: the posting's account, the accounts of the wallets a transfer touches", () => {
    const [bank] = movementsOfLedgerEntry(entry('A', 1_000n, T0), rules);
    expect(customersOf(bank!, ids2)).toEqual(['A']);
    // A customer's wallet pays an outside address: at wallet scope, both sides name customer A.
    const ms = movementsOfChainEvent(transfer(wallet('a1'), wallet('x9'), 100n, T0), ids2, rules).filter((m) => m.scope === 'wallet');
    expect(ms.map((m) => customersOf(m, ids2))).toEqual([['A'], ['A']]);
    // Two outside addresses: nobody the bank knows.
    const outside = movementsOfChainEvent(transfer(wallet('x1'), wallet('x2'), 100n, T0), ids2, rules);
    expect(outside.map((m) => customersOf(m, ids2))).toEqual(outside.map(() => []));
  });

  it('floors token amounts to whole minor units', () => {
    const [m] = movementsOfChainEvent({ ...transfer(wallet('e1'), wallet('e2'), 0n, T0), value: 10n ** 16n * 5n + 7n }, ids2, rules);
    expect(m!.amount).toBe(5n);
  });
});

describe('AML rule file', () => {
  it('rejects a bad file, naming each bad field', () => {
    expect(() => parseRuleSet({ version: 1, rules: [{ id: 'x', type: 'large_value', threshold: { USD: '10.001' } }] })).toThrow(ConfigError);
    expect(() => parseRuleSet({ version: 1, rules: [{ id: 'x', type: 'large_value', threshold: { USD: '10.001' } }] })).toThrow(/rules\.0\.threshold\.USD/);
    expect(() => parseRuleSet({ version: 1, rules: [{ id: 'v', type: 'velocity' }] })).toThrow(/absolute floor/);
    expect(() =>
      parseRuleSet({
        version: 1,
        rules: [
          { id: 'a', type: 'watchlist' },
          { id: 'a', type: 'watchlist' },
        ],
      }),
    ).toThrow(/duplicate rule id/);
    expect(() => parseRuleSet({ version: 1, rules: [{ id: 'c', type: 'cycle', scope: 'currency', minAmount: { '*': '1' } }] })).toThrow(/cycle needs/);
  });

  it('parses durations, shares and amounts exactly', () => {
    const r = parseRuleSet({ version: 'v', rules: [{ id: 'p', type: 'pass_through', window: '90m', minAmount: { USD: '5000.50', '*': '7' }, minOutShare: '85.5%' }] });
    const rule = r.rules[0]!;
    expect(rule.type === 'pass_through' && [rule.window, rule.minOutShare]).toEqual([90 * 60_000, 8_550]);
    if (rule.type !== 'pass_through') throw new Error('type');
    expect(r.amount(rule.minAmount, 'USD')).toBe(500_050n);
    expect(r.amount(rule.minAmount, 'BHD')).toBe(7_000n);
  });

  it('validates the shipped rule file', async () => {
    const { loadRuleFile } = await import('../../src/aml/ruleFile.js');
    expect(loadRuleFile('config/aml-rules.yaml').rules.length).toBe(10);
  });
});

describe('AML rules at several time scales', () => {
  const fanIn = (extra: Record<string, unknown> = {}): RuleFileInput => ({
    version: 'scales-1',
    rules: [{ id: 'fan-in', type: 'fan_in', scope: 'customer', minCounterparties: 4, suppress: 0, scales: [{ window: '7d' }, { window: '30d', minCounterparties: 6 }], ...extra }],
  });

  it('runs each scale as a rule of its own, id <id>@<window>, with the thresholds it sets', () => {
    const r = parseRuleSet(fanIn());
    expect(r.rules.map((x) => [x.id, x.type === 'fan_in' && x.window, x.type === 'fan_in' && x.minCounterparties])).toEqual([
      ['fan-in', D, 4],
      ['fan-in@7d', 7 * D, 4],
      ['fan-in@30d', 30 * D, 6],
    ]);
    // Window state is kept for the longest scale.
    expect(r.horizonMs).toBe(30 * D);
  });

  it('refuses a scale the rule cannot have, naming it', () => {
    expect(() => parseRuleSet(fanIn({ scales: [{ window: '7d', minCount: 3 }] }))).toThrow(/rules\.0\.scales\.0\.minCount: a fan_in rule's scale sets window, minCounterparties, minTotal, suppress/);
    expect(() => parseRuleSet(fanIn({ scales: [{ window: '1d' }] }))).toThrow(/rules\.0\.scales\.0\.window: the rule itself runs at 1d/);
    expect(() => parseRuleSet(fanIn({ scales: [{ window: '7d' }, { window: '168h' }] }))).toThrow(/duplicate rule id fan-in@7d/);
    expect(() => parseRuleSet({ version: 1, rules: [{ id: 'big', type: 'large_value', threshold: { USD: '10.00' }, scales: [{ window: '7d' }] }] })).toThrow(
      /a large_value rule has no window to scale/,
    );
  });

  it('sees four payers over five days at the week scale, where the day scale sees none', async () => {
    const r = rig({ accounts: [{ accountId: 'A', wallets: [wallet('a1')] }], rules: fanIn() });
    const { alerts } = await r.feed(Array.from({ length: 4 }, (_, k) => transfer(wallet(`p${k}`), wallet('a1'), 50_000n, T0 + k * 30 * H)));
    expect(alerts.map((a) => a.rule_id)).toEqual(['fan-in@7d']);
    expect(alerts[0]!.customers).toEqual(['A']);
  });
});

describe('AML thresholds from data', () => {
  const doc = (entry: unknown): RuleFileInput => ({ version: 'p', rules: [{ id: 'big', type: 'large_value', threshold: { USD: entry, EUR: '10000.00' } as never }] });

  it('asks for each percentile once, and reads the computed one, never below its floor', () => {
    const r = parseRuleSet(doc({ percentile: 99.5, over: '7d', floor: '1000.00' }));
    expect(r.percentiles).toEqual([{ currency: 'USD', percentile: 99.5, overMs: 7 * D }]);
    const rule = r.rules[0]!;
    const table = rule.type === 'large_value' ? rule.threshold : undefined;
    const key = `USD|99.5|${7 * D}`;
    expect(r.amount(table, 'USD')).toBe(100_000n); // nothing computed: the floor
    expect(r.amount(table, 'USD', new Map([[key, 250_000n]]))).toBe(250_000n);
    expect(r.amount(table, 'USD', new Map([[key, 50_000n]]))).toBe(100_000n); // the floor holds
    expect(r.amount(table, 'EUR', new Map([[key, 1n]]))).toBe(1_000_000n); // fixed entries stay fixed
    expect(parseRuleSet(doc({ percentile: 95 }))).toMatchObject({ percentiles: [{ overMs: 30 * D }] });
    // No floor, nothing computed: the rule waits.
    const bare = parseRuleSet(doc({ percentile: 95 }));
    const r0 = bare.rules[0]!;
    expect(bare.amount(r0.type === 'large_value' ? r0.threshold : undefined, 'USD')).toBeUndefined();
  });

  it('refuses a percentile out of range, an unknown field, and a floor the currency cannot hold', () => {
    expect(() => parseRuleSet(doc({ percentile: 40 }))).toThrow(ConfigError);
    expect(() => parseRuleSet(doc({ percentile: 99, of: 'segment' }))).toThrow(ConfigError);
    expect(() => parseRuleSet(doc({ percentile: 99, floor: '10.001' }))).toThrow(/threshold\.USD\.floor/);
  });
});
