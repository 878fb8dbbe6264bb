import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { Outcome, StoredLeg } from '../../src/domain/outcomes.js';
import type { Leg } from '../../src/domain/types.js';
import { parseMatchingRules, type MatchingRuleSet } from '../../src/matching/ruleFile.js';
import { MatchStore } from '../../src/state/matchStore.js';

/**
 * The matching rule cascade in the real Lua scripts on a real Redis: tolerances and fees, tranches
 * (1:N and N:1 by reference), partials, pairing when a window closes, proposals confirmed and
 * rejected, two workers racing for the same legs, and a retracted tranche.
 */
const REDIS_URL = 'redis://127.0.0.1:6379';
const T0 = 1_700_000_000_000;
const WINDOW = 60_000;
const TOLERANCE = 120_000;
const RETENTION = 3_600_000;
const WALLET = '0x1111111111111111111111111111111111111111';
const TOKEN_KEY = '31337:0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';

const RULES = parseMatchingRules({
  version: 'v7',
  rules: [
    { id: 'exact-reference', key: 'reference' },
    { id: 'tranches', key: 'reference', split: true },
    { id: 'exact-attributes', key: 'accountAmount' },
    { id: 'deposit-fee', key: 'accountAmount', flows: ['deposit'], fees: { USD: { fixedMinor: 50 } } },
    { id: 'token-rounding', key: 'accountAmount', tolerance: { absMinor: 1 } },
    { id: 'nearest', key: 'accountAmount', stage: 'expiry', tolerance: { bps: 500 }, confidence: 'proposed' },
    { id: 'pair-mismatch', key: 'accountAmount', stage: 'expiry', tolerance: { bps: 10_000 }, outcome: 'mismatch' },
  ],
});

const opened: { redis: Redis; store: MatchStore }[] = [];
function open(namespace = `t-${randomUUID()}`, rules: MatchingRuleSet = RULES) {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const store = new MatchStore(redis, { namespace, toleranceMs: TOLERANCE, windowMs: WINDOW, retentionMs: RETENTION, rules: () => rules });
  opened.push({ redis, store });
  return store;
}
afterEach(async () => {
  for (const { redis, store } of opened.splice(0)) {
    await store.clear();
    redis.disconnect();
  }
});

const credit = (n: string, amountKey: string, over: Partial<Leg> = {}): Leg => ({
  legId: `bank:${n}`,
  side: 'bank',
  flow: 'deposit',
  accountId: 'acc-1',
  wallet: WALLET,
  currency: 'USD',
  tokenKey: '',
  amountKey,
  amountNative: amountKey,
  eventTime: T0,
  reference: null,
  fingerprint: `fp-${n}`,
  ...over,
});
const mint = (n: string, amountKey: string, over: Partial<Leg> = {}): Leg => ({
  legId: `chain:${n}`,
  side: 'chain',
  flow: 'deposit',
  accountId: 'acc-1',
  wallet: WALLET,
  currency: 'USD',
  tokenKey: TOKEN_KEY,
  amountKey,
  amountNative: `${amountKey.replace('.', '')}0000000000000000`,
  eventTime: T0 + 5_000,
  reference: null,
  fingerprint: `fp-${n}`,
  ...over,
});
function expectT<K extends Outcome['t']>(o: Outcome, t: K): Extract<Outcome, { t: K }> {
  expect(o.t).toBe(t);
  return o as Extract<Outcome, { t: K }>;
}
const run = async (store: MatchStore, leg: Leg) => (await store.matchOrPark(leg, 'booked')).outcome;
/** What the sweeper does when windows close: claim the expired legs, then apply the expiry rules. */
async function expire(store: MatchStore, side: 'bank' | 'chain', at = T0 + 2 * RETENTION): Promise<StoredLeg[]> {
  const legs = await store.claimExpired(side, at, 100, T0);
  await store.pairExpired(legs);
  return legs;
}

describe('matching rules: tolerances and fees', () => {
  it('matches a deposit of 1,000.00 minted as 999.50 under the fee rule and records the rule', async () => {
    const store = open();
    await run(store, credit('e1', '100000'));
    const m = expectT(await run(store, mint('m1', '99950')), 'match');
    expect(m).toMatchObject({ by: 'attributes', rule: 'deposit-fee@v7', other: { id: 'bank:e1' } });
  });

  it('one minor unit beyond the fee is no match: both legs wait', async () => {
    const store = open();
    await run(store, credit('e1', '100000'));
    expectT(await run(store, mint('m1', '99949')), 'parked');
    expect(await store.parkedCount()).toEqual({ bank: 1, chain: 1 });
  });

  it('prefers the exact amount over a tolerant one, and a fraction of a cent from an 18-decimal token is rounding', async () => {
    const store = open();
    await run(store, credit('e1', '100000'));
    await run(store, credit('e2', '99999'));
    expect(expectT(await run(store, mint('m1', '99999')), 'match')).toMatchObject({ rule: 'exact-attributes@v7', other: { id: 'bank:e2' } });
    // Above the credit: not a fee (a fee only lowers the mint), but within the rounding tolerance.
    expect(expectT(await run(store, mint('m2', '100000.9999')), 'match')).toMatchObject({ rule: 'token-rounding@v7', other: { id: 'bank:e1' } });
  });

  it('a redelivery replays the stored outcome with the rule that made it, even after the rules changed', async () => {
    const ns = `t-${randomUUID()}`;
    const store = open(ns);
    await run(store, credit('e1', '100000'));
    const first = await store.matchOrPark(mint('m1', '99950'), 'booked');
    const other = open(ns, parseMatchingRules({ version: 'v8', rules: [{ id: 'exact-attributes', key: 'accountAmount' }] }));
    const again = await other.matchOrPark(mint('m1', '99950'), 'booked');
    expect(again).toEqual({ replayed: true, outcome: first.outcome });
  });
});

describe('matching rules: tranches and partials', () => {
  it('1:N: one credit minted in two tranches carrying its reference', async () => {
    const store = open();
    await run(store, credit('e1', '100000', { reference: 'R-1' }));
    const a = expectT(await run(store, mint('m1', '60000', { reference: 'R-1' })), 'match');
    expect(a).toMatchObject({ by: 'tranche', remaining: '40000', mid: 'match:bank:e1|chain:m1' });
    const b = expectT(await run(store, mint('m2', '40000', { reference: 'R-1' })), 'match');
    expect(b).toMatchObject({ remaining: '0', mid: 'match:bank:e1|chain:m2' });
    // The credit is fully met: a third mint with the reference is a duplicate.
    expectT(await run(store, mint('m3', '1000', { reference: 'R-1' })), 'duplicate');
    expect(await store.parkedCount()).toEqual({ bank: 0, chain: 0 });
  });

  it('N:1 with the parts first: two credits waiting with one reference, then the mint of their sum', async () => {
    const store = open();
    await run(store, credit('e1', '60000', { reference: 'B-9' }));
    await run(store, credit('e2', '40000', { reference: 'B-9' }));
    const s = expectT(await run(store, mint('m1', '100000', { reference: 'B-9' })), 'split');
    expect(s.remaining).toBe('0');
    expect(s.parts.map((p) => p.mid).sort()).toEqual(['match:bank:e1|chain:m1', 'match:bank:e2|chain:m1']);
    expect(await store.parkedCount()).toEqual({ bank: 0, chain: 0 });
  });

  it("N:1 across accounts: customers' credits of one bank batch, minted by one omnibus batch mint carrying the batch id", async () => {
    const store = open();
    await run(store, credit('c1', '25000', { accountId: 'CUST-1', reference: 'BATCH-42' }));
    await run(store, credit('c2', '75000', { accountId: 'CUST-2', reference: 'BATCH-42' }));
    const s = expectT(await run(store, mint('omni', '100000', { accountId: 'OMNIBUS', reference: 'BATCH-42' })), 'split');
    expect(s.remaining).toBe('0');
    expect(s.parts.map((p) => p.other.a).sort()).toEqual(['CUST-1', 'CUST-2']);
  });

  it('a partial: the remainder is PARTIALLY_MATCHED when the window closes, and a late tranche resolves it', async () => {
    const store = open();
    await run(store, credit('e1', '100000', { reference: 'R-2' }));
    await run(store, mint('m1', '60000', { reference: 'R-2' }));
    const [l] = await expire(store, 'bank', T0 + WINDOW);
    expect(l).toMatchObject({ id: 'bank:e1', d: 'PARTIALLY_MATCHED:bank:e1', rem: '40000' });
    const late = expectT(await run(store, mint('m2', '40000', { reference: 'R-2', eventTime: T0 + 2 * WINDOW })), 'match');
    expect(late).toMatchObject({ resolves: 'PARTIALLY_MATCHED:bank:e1', remaining: '0' });
  });

  it('a retracted tranche re-opens its amount on the credit', async () => {
    const store = open();
    await run(store, credit('e1', '100000', { reference: 'R-3' }));
    await run(store, mint('m1', '60000', { reference: 'R-3' }));
    await run(store, mint('m2', '40000', { reference: 'R-3' }));
    const r = await store.retract('chain:m2');
    expect(r.outcome).toMatchObject({ t: 'retracted', mid: 'match:bank:e1|chain:m2', other: { id: 'bank:e1' } });
    const [l] = await expire(store, 'bank', T0 + WINDOW);
    expect(l).toMatchObject({ id: 'bank:e1', d: 'PARTIALLY_MATCHED:bank:e1', rem: '40000' });
  });
});

describe('matching rules: when a window closes', () => {
  it('pairs a late counterpart that arrived before the sweep: the discrepancy opens and resolves, as when it arrives after', async () => {
    const store = open();
    await run(store, credit('e1', '100000'));
    // Beyond window + lateness: it parks rather than matching on arrival.
    expectT(await run(store, mint('m1', '100000', { eventTime: T0 + TOLERANCE + 10_000 })), 'parked');
    const [l] = await expire(store, 'bank', T0 + WINDOW);
    expect(l).toMatchObject({ d: 'MISSING_MINT:bank:e1', pair: { t: 'match', mid: 'match:bank:e1|chain:m1', resolves: 'MISSING_MINT:bank:e1', rule: 'late-counterpart@builtin' } });
    // The other order gives the same match and resolves the same discrepancy.
    const store2 = open();
    await run(store2, credit('e1', '100000'));
    await expire(store2, 'bank', T0 + WINDOW);
    expect(expectT(await run(store2, mint('m1', '100000', { eventTime: T0 + TOLERANCE + 10_000 })), 'match')).toMatchObject({
      mid: 'match:bank:e1|chain:m1',
      resolves: 'MISSING_MINT:bank:e1',
    });
  });

  it('an amount typed wrong with no reference: one AMOUNT_MISMATCH naming both legs, no MISSING_* at all', async () => {
    const store = open();
    await run(store, credit('e1', '100000'));
    await run(store, mint('m1', '10000'));
    const [l] = await expire(store, 'bank', T0 + WINDOW);
    expect(l).toMatchObject({ d: 'AMOUNT_MISMATCH:bank:e1|chain:m1', pair: { t: 'mismatch', discrepancyId: 'AMOUNT_MISMATCH:bank:e1|chain:m1', resolves: '', resolvesOther: '' } });
    expect(await expire(store, 'chain')).toEqual([]);
    expect(await store.parkedCount()).toEqual({ bank: 0, chain: 0 });
  });

  it('a proposal confirmed by an operator becomes a match, at most once', async () => {
    const store = open();
    await run(store, credit('e1', '100000'));
    await run(store, mint('m1', '98000'));
    const [l] = await expire(store, 'bank', T0 + WINDOW);
    const pair = l!.pair as Extract<NonNullable<StoredLeg['pair']>, { t: 'proposal' }>;
    expect(pair).toMatchObject({ t: 'proposal', pid: 'proposal:bank:e1|chain:m1', rule: 'nearest@v7' });
    const [a, b] = await Promise.all([store.decideProposal(pair.pid, 'bank:e1', 'chain:m1', 'confirm'), open(store.prefix.slice(0, -5)).decideProposal(pair.pid, 'bank:e1', 'chain:m1', 'reject')]);
    // Two operators racing: one decision wins; the other is told what was decided.
    expect([a.replayed, b.replayed].sort()).toEqual([false, true]);
    expect(a.outcome).toEqual(b.outcome);
    expect(a.outcome).toMatchObject({ t: 'confirmed', mid: 'match:bank:e1|chain:m1', bankD: 'MISSING_MINT:bank:e1' });
    expect(await expire(store, 'chain')).toEqual([]);
  });

  it('a rejected proposal sends both legs back to wait and is never proposed again', async () => {
    const store = open();
    await run(store, credit('e1', '100000'));
    await run(store, mint('m1', '98000'));
    await expire(store, 'bank', T0 + WINDOW);
    const r = await store.decideProposal('proposal:bank:e1|chain:m1', 'bank:e1', 'chain:m1', 'reject');
    expect(r.outcome.t).toBe('rejected');
    // The mint's window closes: neither the rejected proposal again nor a mismatch pairing of the
    // pair an operator said does not belong together: its own MISSING_BANK_CREDIT.
    const [c] = await expire(store, 'chain');
    expect(c).toMatchObject({ d: 'MISSING_BANK_CREDIT:chain:m1', state: 'expired' });
    expect(c!.pair).toBeUndefined();
  });
});

describe('matching rules: two workers racing for the same legs', () => {
  it('a credit is matched by exactly one of two equal mints sent by two workers at once', async () => {
    const ns = `t-${randomUUID()}`;
    const w1 = open(ns);
    const w2 = open(ns);
    await run(w1, credit('e1', '100000'));
    const outcomes = await Promise.all([run(w1, mint('m1', '99950')), run(w2, mint('m2', '99950'))]);
    expect(outcomes.map((o) => o.t).sort()).toEqual(['match', 'parked']);
  });

  it('two tranches racing on two workers allocate the credit once each', async () => {
    const ns = `t-${randomUUID()}`;
    const w1 = open(ns);
    const w2 = open(ns);
    await run(w1, credit('e1', '100000', { reference: 'R-9' }));
    const outs = await Promise.all([run(w1, mint('m1', '60000', { reference: 'R-9' })), run(w2, mint('m2', '40000', { reference: 'R-9' }))]);
    expect(outs.map((o) => (o.t === 'match' ? o.remaining : o.t)).sort()).toEqual(['0', expect.stringMatching(/^(40000|60000)$/)]);
    expect(await w1.parkedCount()).toEqual({ bank: 0, chain: 0 });
  });
});

describe('manual match and unmatch', () => {
  it('a manual match racing the stream for the same credit: exactly one wins, the other is refused', async () => {
    for (let round = 0; round < 5; round++) {
      const ns = `t-${randomUUID()}`;
      const op = open(ns);
      const stream = open(ns);
      await run(op, credit('e1', '100000'));
      await run(op, mint('m1', '77000')); // too far off for any arrival rule: both wait
      const [manual, exact] = await Promise.all([op.manualMatch('match', 'bank:e1', 'chain:m1'), run(stream, mint('m2', '100000'))]);
      if (manual.outcome.t === 'matched') expect(exact.t).toBe('parked');
      else {
        expect(manual.outcome).toMatchObject({ t: 'refused', reason: 'bank:e1 is matched, not open' });
        expect(exact).toMatchObject({ t: 'match', other: { id: 'bank:e1' } });
      }
    }
  });

  it('a manual match resolves what was open, is idempotent, and the stream never takes its legs', async () => {
    const store = open(`t-${randomUUID()}`, parseMatchingRules({ version: 'exact', rules: [{ id: 'exact-attributes', key: 'accountAmount' }] }));
    await run(store, credit('e1', '100000'));
    await run(store, mint('m1', '77000'));
    const [l] = await expire(store, 'bank', T0 + WINDOW);
    expect(l!.d).toBe('MISSING_MINT:bank:e1');
    const m = await store.manualMatch('match', 'bank:e1', 'chain:m1');
    expect(m).toMatchObject({ replayed: false, outcome: { t: 'matched', mid: 'match:bank:e1|chain:m1', resolves: ['MISSING_MINT:bank:e1', ''], n: 1 } });
    expect((await store.manualMatch('match', 'bank:e1', 'chain:m1')).replayed).toBe(true);
    // An exact mint for the credit now finds nothing open: it waits.
    expectT(await run(store, mint('m2', '100000')), 'parked');
  });

  it('unmatch re-opens both legs and their discrepancies; no rule pairs them again', async () => {
    const store = open();
    await run(store, credit('e1', '100000'));
    await run(store, mint('m1', '100000'));
    const u = await store.manualMatch('unmatch', 'bank:e1', 'chain:m1');
    expect(u.outcome).toMatchObject({ t: 'unmatched', mid: 'match:bank:e1|chain:m1', reopened: {}, n: 1 });
    expect(await store.parkedCount()).toEqual({ bank: 1, chain: 1 });
    // Their windows close: each its own MISSING_*, never the same match again.
    const [b] = await expire(store, 'bank', T0 + 2 * WINDOW);
    expect(b).toMatchObject({ d: 'MISSING_MINT:bank:e1', state: 'expired' });
    expect(b!.pair).toBeUndefined();
    // The same request again is the stored outcome; unmatching what is not a match is refused.
    expect((await store.manualMatch('unmatch', 'bank:e1', 'chain:m1')).replayed).toBe(true);
    await run(store, mint('m9', '5'));
    expect((await store.manualMatch('unmatch', 'bank:e1', 'chain:m9')).outcome).toMatchObject({ t: 'refused', reason: 'match:bank:e1|chain:m9 is not a match the engine holds' });
  });
});

describe('split found by search (no shared reference)', () => {
  const SEARCH = (confidence: 'confirmed' | 'proposed', maxLegs = 12) =>
    parseMatchingRules({
      version: 's1',
      rules: [
        { id: 'exact-attributes', key: 'accountAmount' },
        { id: 'batch-split', key: 'accountAmount', stage: 'expiry', split: true, confidence, maxLegs },
      ],
    });

  it('N:1: several credits minted by one batch mint, found when the mint window closes', async () => {
    const store = open(`t-${randomUUID()}`, SEARCH('confirmed'));
    await run(store, credit('e1', '30000'));
    await run(store, credit('e2', '50000'));
    await run(store, credit('x9', '12345')); // not part of it
    await run(store, credit('e3', '20000'));
    await run(store, mint('m1', '100000'));
    const [l] = await expire(store, 'chain');
    const pair = l!.pair as Extract<NonNullable<StoredLeg['pair']>, { t: 'split' }>;
    expect(pair).toMatchObject({ t: 'split', rule: 'batch-split@s1', resolves: 'MISSING_BANK_CREDIT:chain:m1' });
    expect(pair.parts.map((p) => p.other.id).sort()).toEqual(['bank:e1', 'bank:e2', 'bank:e3']);
    // Only the credit that was not part of it is left to close as missing.
    expect((await expire(store, 'bank')).map((x) => x.d)).toEqual(['MISSING_MINT:bank:x9']);
  });

  it('a proposed split waits for an operator; confirmed, its parts are matches', async () => {
    const store = open(`t-${randomUUID()}`, SEARCH('proposed'));
    await run(store, credit('e1', '30000'));
    await run(store, credit('e2', '70000'));
    await run(store, mint('m1', '100000'));
    const [l] = await expire(store, 'chain');
    expect(l!.pair).toMatchObject({ t: 'splitProposal', pid: 'proposal:split:chain:m1' });
    expect(await expire(store, 'bank')).toEqual([]);
    const d = await store.decideProposal('proposal:split:chain:m1', 'chain:m1', '', 'confirm');
    expect(d.outcome).toMatchObject({ t: 'confirmedSplit', resolves: 'MISSING_BANK_CREDIT:chain:m1' });
  });

  it('a rejected split proposal is never proposed again', async () => {
    const store = open(`t-${randomUUID()}`, SEARCH('proposed'));
    await run(store, credit('e1', '30000'));
    await run(store, credit('e2', '70000'));
    await run(store, mint('m1', '100000'));
    await expire(store, 'chain');
    expect((await store.decideProposal('proposal:split:chain:m1', 'chain:m1', '', 'reject')).outcome.t).toBe('rejectedSplit');
    const bank = await expire(store, 'bank');
    expect(bank.map((x) => [x.d, x.pair])).toEqual([
      ['MISSING_MINT:bank:e1', undefined],
      ['MISSING_MINT:bank:e2', undefined],
    ]);
  });

  it('beyond its bound it does not search, and the discrepancy says why', async () => {
    const store = open(`t-${randomUUID()}`, SEARCH('confirmed', 3));
    for (const [i, a] of ['10000', '20000', '30000', '40000'].entries()) await run(store, credit(`e${i}`, a));
    await run(store, mint('m1', '15000'));
    const [l] = await expire(store, 'chain');
    expect(l!.pair).toBeUndefined();
    expect(l!.note).toBe('split search skipped: 4 open legs of the other side, beyond the bound of 3 (rule batch-split@s1)');
  });
});
