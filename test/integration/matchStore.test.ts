import { createHash, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { MatchStore, type MatchStoreOptions } from '../../src/state/matchStore.js';
import type { Outcome } from '../../src/domain/outcomes.js';
import type { Leg } from '../../src/domain/types.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const T0 = 1_700_000_000_000;
const WINDOW = 60_000;
const TOLERANCE = 120_000;
const RETENTION = 3_600_000;
const WALLET = '0x1111111111111111111111111111111111111111';
const TOKEN_KEY = '31337:0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';

/** The match script as MatchStore sends it: lib.lua, then matchOrPark.lua. */
const matchScriptText = async () =>
  `${await readFile(new URL('../../src/state/lua/lib.lua', import.meta.url), 'utf8')}\n${await readFile(new URL('../../src/state/lua/matchOrPark.lua', import.meta.url), 'utf8')}`;

const opened: { redis: Redis; store?: MatchStore }[] = [];

function open(options: Partial<MatchStoreOptions> & { namespace?: string } = {}) {
  const redis = new Redis(REDIS_URL, { lazyConnect: false, maxRetriesPerRequest: 1 });
  const store = new MatchStore(redis, {
    namespace: options.namespace ?? `t-${randomUUID()}`,
    toleranceMs: TOLERANCE,
    windowMs: WINDOW,
    retentionMs: RETENTION,
    ...options,
  });
  opened.push({ redis, store });
  return { redis, store };
}

afterEach(async () => {
  for (const { redis, store } of opened.splice(0)) {
    await store?.clear();
    redis.disconnect();
  }
});

const credit = (n: string, over: Partial<Leg> = {}): Leg => ({
  legId: `bank:${n}`,
  side: 'bank',
  flow: 'deposit',
  accountId: 'acc-1',
  wallet: WALLET,
  currency: 'USD',
  tokenKey: '',
  amountKey: '12345',
  amountNative: '12345',
  eventTime: T0,
  reference: null,
  fingerprint: `fp-${n}`,
  ...over,
});
const mint = (n: string, over: Partial<Leg> = {}): Leg => ({
  legId: `chain:${n}`,
  side: 'chain',
  flow: 'deposit',
  accountId: 'acc-1',
  wallet: WALLET,
  currency: 'USD',
  tokenKey: TOKEN_KEY,
  amountKey: '12345',
  amountNative: '123450000000000000000',
  eventTime: T0 + 5_000,
  reference: null,
  fingerprint: `fp-${n}`,
  ...over,
});

function expectT<K extends Outcome['t']>(o: Outcome, t: K): Extract<Outcome, { t: K }> {
  expect(o.t).toBe(t);
  return o as Extract<Outcome, { t: K }>;
}

describe('MatchStore.matchOrPark', () => {
  it('parks a credit, then matches a mint with the same account, currency and amount by attributes', async () => {
    const { store } = open();
    const first = await store.matchOrPark(credit('e1'), 'booked');
    expect(first).toEqual({ replayed: false, outcome: { t: 'parked', legId: 'bank:e1' } });
    expect(await store.parkedCount()).toEqual({ bank: 1, chain: 0 });

    const second = await store.matchOrPark(mint('m1'), 'booked');
    expect(second.replayed).toBe(false);
    const m = expectT(second.outcome, 'match');
    expect(m).toMatchObject({ legId: 'chain:m1', mid: 'match:bank:e1|chain:m1', by: 'attributes', resolves: '' });
    expect(m.other).toMatchObject({ id: 'bank:e1', s: 'bank', f: 'deposit', a: 'acc-1', c: 'USD', m: '12345', t: T0, state: 'parked' });
    expect(await store.parkedCount()).toEqual({ bank: 0, chain: 0 });
  });

  it('sends the legs of one turn as one script call, applies them in call order, and fails a bad leg alone', async () => {
    const { store } = open();
    const commands = store as unknown as { cmd: { reconMatchOrPark: (...a: unknown[]) => Promise<string> } };
    const original = commands.cmd.reconMatchOrPark.bind(commands.cmd);
    let calls = 0;
    commands.cmd.reconMatchOrPark = (...a: unknown[]) => {
      calls++;
      return original(...a);
    };
    try {
      const [parked, matched, bad, other] = await Promise.allSettled([
        store.matchOrPark(credit('e1'), 'booked'),
        store.matchOrPark(mint('m1'), 'booked'),
        store.matchOrPark(credit('bad', { eventTime: 'not a time' as unknown as number }), 'booked'),
        store.matchOrPark(credit('e2', { amountKey: '7', amountNative: '7' }), 'booked'),
      ]);
      expect(calls).toBe(1);
      expect(parked).toEqual({ status: 'fulfilled', value: { replayed: false, outcome: { t: 'parked', legId: 'bank:e1' } } });
      // The mint was queued after the credit, so the script had parked the credit when it came.
      expect(matched.status === 'fulfilled' && matched.value.outcome).toMatchObject({ t: 'match', mid: 'match:bank:e1|chain:m1' });
      expect(bad.status).toBe('rejected');
      expect(String((bad as PromiseRejectedResult).reason)).toContain('bank:bad');
      expect(other).toEqual({ status: 'fulfilled', value: { replayed: false, outcome: { t: 'parked', legId: 'bank:e2' } } });
      expect(await store.parkedCount()).toEqual({ bank: 1, chain: 0 });
    } finally {
      commands.cmd.reconMatchOrPark = original;
    }
  });

  it('rejects a leg whose answer is not an outcome, and only that leg', async () => {
    const { store } = open();
    const commands = store as unknown as { cmd: { reconMatchOrPark: (...a: unknown[]) => Promise<string[]> } };
    const original = commands.cmd.reconMatchOrPark.bind(commands.cmd);
    // The script's real answer for both legs, the second's outcome then damaged on its way back.
    commands.cmd.reconMatchOrPark = async (...a: unknown[]) => {
      const reply = await original(...a);
      return [...reply.slice(0, 3), '{"t":"parked"'];
    };
    try {
      const [first, second] = await Promise.allSettled([store.matchOrPark(credit('j1'), 'booked'), store.matchOrPark(credit('j2', { amountKey: '7', amountNative: '7' }), 'booked')]);
      expect(first).toEqual({ status: 'fulfilled', value: { replayed: false, outcome: { t: 'parked', legId: 'bank:j1' } } });
      expect(second.status).toBe('rejected');
      expect(String((second as PromiseRejectedResult).reason)).toMatch(/bank:j2.*not JSON/);
    } finally {
      commands.cmd.reconMatchOrPark = original;
    }
  });

  it('carries any text the door admits to the script: multi-byte, quotes, backslashes, empty values', async () => {
    const { store } = open();
    // The legs of a call travel packed, each value with its byte length (matchStore.ts packLegs).
    // (Control characters never reach it: inputBounds.ts refuses them in identifiers.)
    const odd = { accountId: 'açc-ü "q" \\ 名', reference: 'RÉF-💶 "x" \\ |~', fingerprint: '' };
    const [parked, matched] = await Promise.all([store.matchOrPark(credit('ü1', odd), 'booked'), store.matchOrPark(mint('ü1', odd), 'booked')]);
    expect(parked.outcome).toEqual({ t: 'parked', legId: 'bank:ü1' });
    const m = expectT(matched.outcome, 'match');
    expect(m).toMatchObject({ legId: 'chain:ü1', by: 'reference' });
    expect(m.other).toMatchObject({ id: 'bank:ü1', a: odd.accountId, r: odd.reference });
  });

  it('returns a chain leg id and its base-unit amount exactly as they were parked', async () => {
    const { store } = open();
    const id = `31337:0x${'ab12'.repeat(16)}:7`;
    await store.matchOrPark(mint(id), 'booked');
    await store.matchOrPark(mint('odd', { amountKey: '5', amountNative: '5000000000000000001' }), 'booked');
    const m = expectT((await store.matchOrPark(credit('e1'), 'booked')).outcome, 'match');
    expect(m.other).toMatchObject({ id: `chain:${id}`, n: '123450000000000000000', k: TOKEN_KEY, w: WALLET });
    const o = expectT((await store.matchOrPark(credit('e2', { amountKey: '5' }), 'booked')).outcome, 'match');
    expect(o.other).toMatchObject({ id: 'chain:odd', n: '5000000000000000001' });
  });

  it('goes on matching after Redis flushed its scripts (runbook: SCRIPT FLUSH resets the Lua VM)', async () => {
    const { redis, store } = open();
    await store.matchOrPark(credit('e1'), 'booked');
    const sha = createHash('sha1')
      .update(await matchScriptText())
      .digest('hex');
    expect(await redis.script('EXISTS', sha)).toEqual([1]);
    await redis.script('FLUSH');
    expect(await redis.script('EXISTS', sha)).toEqual([0]);
    const m = expectT((await store.matchOrPark(mint('m1'), 'booked')).outcome, 'match');
    expect(m.other.id).toBe('bank:e1');
    expect(await store.parkedCount()).toEqual({ bank: 0, chain: 0 });
  });

  it('matches the candidate nearest in event time among two', async () => {
    const { store } = open();
    await store.matchOrPark(credit('far', { eventTime: T0 - 100_000 }), 'booked');
    await store.matchOrPark(credit('near', { eventTime: T0 + 2_000 }), 'booked');
    const m = expectT((await store.matchOrPark(mint('m1'), 'booked')).outcome, 'match');
    expect(m.other.id).toBe('bank:near');
    expect(await store.parkedCount()).toEqual({ bank: 1, chain: 0 });
  });

  it('does not match a candidate outside the tolerance, nor one with a different amount', async () => {
    const { store } = open();
    await store.matchOrPark(credit('old', { eventTime: T0 + 5_000 - TOLERANCE - 1 }), 'booked');
    await store.matchOrPark(credit('other-amount', { amountKey: '12346', amountNative: '12346' }), 'booked');
    expect((await store.matchOrPark(mint('m1'), 'booked')).outcome.t).toBe('parked');
    expect(await store.parkedCount()).toEqual({ bank: 2, chain: 1 });
  });

  it("finds a parked leg in its pool's overflow zset once the pool holds 100 legs, nearest first", async () => {
    const { redis, store } = open();
    // 100 credits of other amounts fill the account's pool; the next ones go to the overflow zset
    // of their amount (lua/lib.lua poolAdd).
    await Promise.all(Array.from({ length: 100 }, (_, i) => store.matchOrPark(credit(`fill${i}`, { amountKey: String(20_000 + i), amountNative: String(20_000 + i) }), 'booked')));
    await store.matchOrPark(credit('far', { eventTime: T0 - 60_000 }), 'booked');
    await store.matchOrPark(credit('near', { eventTime: T0 + 1_000 }), 'booked');
    const shard = createHash('sha1').update('12345').digest('hex').slice(0, 1);
    const base = `${store.prefix}p:deposit:bank:acc-1:USD`;
    expect(await redis.zcard(base)).toBe(100);
    expect(await redis.zcard(`${base}:${shard}`)).toBe(2);
    const m = expectT((await store.matchOrPark(mint('m1'), 'booked')).outcome, 'match');
    expect(m.other).toMatchObject({ id: 'bank:near' });
    expect(expectT((await store.matchOrPark(mint('m2'), 'booked')).outcome, 'match').other).toMatchObject({ id: 'bank:far' });
    expect(await redis.zcard(`${base}:${shard}`)).toBe(0);
  });

  it('matches at exactly the tolerance', async () => {
    const { store } = open();
    await store.matchOrPark(credit('edge', { eventTime: T0 + 5_000 - TOLERANCE }), 'booked');
    expect((await store.matchOrPark(mint('m1'), 'booked')).outcome.t).toBe('match');
  });

  it('prefers the reference over a nearer attribute candidate', async () => {
    const { store } = open();
    await store.matchOrPark(credit('plain', { eventTime: T0 + 5_000 }), 'booked');
    await store.matchOrPark(credit('refd', { eventTime: T0 - 50_000, reference: 'R1' }), 'booked');
    const m = expectT((await store.matchOrPark(mint('m1', { reference: 'R1' }), 'booked')).outcome, 'match');
    expect(m).toMatchObject({ by: 'reference', mid: 'match:bank:refd|chain:m1' });
  });

  it('matches by reference regardless of the event-time tolerance', async () => {
    const { store } = open();
    await store.matchOrPark(credit('e1', { eventTime: T0 - 10 * TOLERANCE, reference: 'R1' }), 'booked');
    expect(expectT((await store.matchOrPark(mint('m1', { reference: 'R1' }), 'booked')).outcome, 'match').by).toBe('reference');
  });

  it('never matches two legs with different references by attributes', async () => {
    const { store } = open();
    await store.matchOrPark(credit('e1', { reference: 'R1' }), 'booked');
    expect((await store.matchOrPark(mint('m1', { reference: 'R2' }), 'booked')).outcome.t).toBe('parked');
    expect(await store.parkedCount()).toEqual({ bank: 1, chain: 1 });
  });

  it('matches by attributes when only one of the legs carries a reference', async () => {
    const { store } = open();
    await store.matchOrPark(credit('e1', { reference: 'R1' }), 'booked');
    expect(expectT((await store.matchOrPark(mint('m1'), 'booked')).outcome, 'match').by).toBe('attributes');
  });

  it('reports AMOUNT_MISMATCH when the reference pairs legs of different amounts', async () => {
    const { store } = open();
    await store.matchOrPark(credit('e1', { reference: 'R1' }), 'booked');
    const out = expectT((await store.matchOrPark(mint('m1', { reference: 'R1', amountKey: '12000' }), 'booked')).outcome, 'mismatch');
    expect(out).toMatchObject({ kind: 'AMOUNT_MISMATCH', by: 'reference', discrepancyId: 'AMOUNT_MISMATCH:bank:e1|chain:m1', resolves: '' });
    expect(out.other.id).toBe('bank:e1');
    expect(await store.parkedCount()).toEqual({ bank: 0, chain: 0 });
  });

  it('reports CURRENCY_MISMATCH when the reference pairs legs of different currencies', async () => {
    const { store } = open();
    await store.matchOrPark(mint('m1', { reference: 'R1', currency: 'EUR' }), 'booked');
    const out = expectT((await store.matchOrPark(credit('e1', { reference: 'R1' }), 'booked')).outcome, 'mismatch');
    expect(out).toMatchObject({ kind: 'CURRENCY_MISMATCH', discrepancyId: 'CURRENCY_MISMATCH:bank:e1|chain:m1' });
  });

  it('flags a second mint carrying the reference of an already matched credit as a duplicate', async () => {
    const { store } = open();
    await store.matchOrPark(credit('e1', { reference: 'R1' }), 'booked');
    expect((await store.matchOrPark(mint('m1', { reference: 'R1' }), 'booked')).outcome.t).toBe('match');
    const dup = expectT((await store.matchOrPark(mint('m2', { reference: 'R1' }), 'booked')).outcome, 'duplicate');
    expect(dup.other).toMatchObject({ id: 'bank:e1', state: 'matched', mid: 'match:bank:e1|chain:m1' });
  });

  it('flags a second mint as a duplicate when the mint came first and the credit matched it', async () => {
    const { store } = open();
    await store.matchOrPark(mint('m1', { reference: 'R1' }), 'booked');
    expect((await store.matchOrPark(credit('e1', { reference: 'R1' }), 'booked')).outcome.t).toBe('match');
    expect((await store.matchOrPark(mint('m2', { reference: 'R1' }), 'booked')).outcome.t).toBe('duplicate');
  });

  it('reports a conflict for the same leg id with a different fingerprint and keeps the first content', async () => {
    const { store } = open();
    await store.matchOrPark(credit('e1'), 'booked');
    const c = expectT((await store.matchOrPark(credit('e1', { amountKey: '99', amountNative: '99', fingerprint: 'other' }), 'booked')).outcome, 'conflict');
    expect(c.other).toMatchObject({ id: 'bank:e1', m: '12345', state: 'parked' });
    // The stored leg still matches on its original amount.
    expect((await store.matchOrPark(mint('m1'), 'booked')).outcome.t).toBe('match');
  });

  it('replays a redelivered leg with its stored outcome and changes nothing', async () => {
    const { store } = open();
    await store.matchOrPark(credit('e1'), 'booked');
    const first = await store.matchOrPark(mint('m1'), 'booked');
    const again = await store.matchOrPark(mint('m1'), 'booked');
    expect(again).toEqual({ replayed: true, outcome: first.outcome });
    expect(await store.matchOrPark(credit('e1'), 'booked')).toEqual({ replayed: true, outcome: { t: 'parked', legId: 'bank:e1' } });
  });

  it('holds a pending posting out of matching until it is booked', async () => {
    const { store } = open();
    expect((await store.matchOrPark(credit('e1'), 'pending')).outcome).toEqual({ t: 'pending', legId: 'bank:e1' });
    expect((await store.matchOrPark(mint('m1'), 'booked')).outcome.t).toBe('parked');
    const booked = await store.matchOrPark(credit('e1'), 'booked');
    expect(booked.replayed).toBe(false);
    expect(expectT(booked.outcome, 'match').other.id).toBe('chain:m1');
    // A late redelivery of the pending status is stale, not a new decision.
    expect((await store.matchOrPark(credit('e1'), 'pending')).replayed).toBe(true);
  });

  it('reports a reversal of a matched credit with its match id and counterpart', async () => {
    const { store } = open();
    await store.matchOrPark(credit('e1'), 'booked');
    await store.matchOrPark(mint('m1'), 'booked');
    const r = expectT((await store.matchOrPark(credit('e1'), 'reversed')).outcome, 'reversal');
    expect(r.mid).toBe('match:bank:e1|chain:m1');
    expect(r.other).toMatchObject({ id: 'chain:m1', state: 'matched' });
  });

  it('withdraws a reversed parked credit so that it never expires nor matches', async () => {
    const { store } = open();
    await store.matchOrPark(credit('e1', { reference: 'R1' }), 'booked');
    expect((await store.matchOrPark(credit('e1', { reference: 'R1' }), 'reversed')).outcome).toEqual({ t: 'withdrawn', legId: 'bank:e1', resolves: '' });
    expect(await store.parkedCount()).toEqual({ bank: 0, chain: 0 });
    expect(await store.claimExpired('bank', T0 + 10 * WINDOW, 100, T0)).toEqual([]);
    expect((await store.matchOrPark(mint('m1', { reference: 'R1' }), 'booked')).outcome.t).toBe('parked');
  });
});

describe('MatchStore expiry', () => {
  it('expires a parked credit only once the watermark reaches its deadline, as MISSING_MINT', async () => {
    const { store } = open();
    await store.matchOrPark(credit('e1'), 'booked');
    const deadline = T0 + WINDOW;
    expect(await store.claimExpired('chain', deadline, 100, T0)).toEqual([]);
    expect(await store.claimExpired('bank', deadline - 1, 100, T0)).toEqual([]);
    const claimed = await store.claimExpired('bank', deadline, 100, T0);
    expect(claimed).toEqual([expect.objectContaining({ id: 'bank:e1', s: 'bank', f: 'deposit', state: 'expired', d: 'MISSING_MINT:bank:e1', t: T0, m: '12345' })]);
    expect(await store.parkedCount()).toEqual({ bank: 0, chain: 0 });
  });

  it('names the missing leg after side and flow', async () => {
    const { store } = open();
    await store.matchOrPark(credit('w1', { flow: 'withdrawal' }), 'booked');
    await store.matchOrPark(mint('m1', { amountKey: '1' }), 'booked');
    await store.matchOrPark(mint('b1', { flow: 'withdrawal', amountKey: '2' }), 'booked');
    expect((await store.claimExpired('bank', T0 + 10 * WINDOW, 100, T0)).map((l) => l.d)).toEqual(['MISSING_BURN:bank:w1']);
    expect((await store.claimExpired('chain', T0 + 10 * WINDOW, 100, T0)).map((l) => l.d).sort()).toEqual(['MISSING_BANK_CREDIT:chain:m1', 'MISSING_BANK_DEBIT:chain:b1']);
  });

  it('lets a late mint match an expired credit and says which discrepancy it resolves', async () => {
    const { store } = open();
    await store.matchOrPark(credit('e1'), 'booked');
    const [expired] = await store.claimExpired('bank', T0 + WINDOW, 100, T0);
    await store.ackClaimed([expired!.id]);
    const m = expectT((await store.matchOrPark(mint('m1', { eventTime: T0 + WINDOW + 1_000 }), 'booked')).outcome, 'match');
    expect(m).toMatchObject({ resolves: 'MISSING_MINT:bank:e1', mid: 'match:bank:e1|chain:m1' });
    expect(m.other.state).toBe('expired');
  });

  it('withdraws a reversed expired credit and resolves its discrepancy', async () => {
    const { store } = open();
    await store.matchOrPark(credit('e1'), 'booked');
    await store.claimExpired('bank', T0 + WINDOW, 100, T0);
    expect((await store.matchOrPark(credit('e1'), 'reversed')).outcome).toEqual({ t: 'withdrawn', legId: 'bank:e1', resolves: 'MISSING_MINT:bank:e1' });
  });

  it('hands an unacknowledged claim out again after the visibility timeout, not before', async () => {
    const { store } = open({ claimVisibilityMs: 1_000 });
    await store.matchOrPark(credit('e1'), 'booked');
    const wm = T0 + WINDOW;
    expect(await store.claimExpired('bank', wm, 100, 10_000)).toHaveLength(1);
    expect(await store.claimExpired('bank', wm, 100, 10_999)).toEqual([]);
    expect(await store.claimExpired('chain', wm, 100, 11_000)).toEqual([]);
    const again = await store.claimExpired('bank', wm, 100, 11_000);
    expect(again).toEqual([expect.objectContaining({ id: 'bank:e1', d: 'MISSING_MINT:bank:e1', state: 'expired' })]);
    // The re-claim restarts the visibility clock.
    expect(await store.claimExpired('bank', wm, 100, 11_999)).toEqual([]);
    expect(await store.claimExpired('bank', wm, 100, 12_000)).toHaveLength(1);
  });

  it('never hands out an acknowledged claim again', async () => {
    const { store } = open({ claimVisibilityMs: 1_000 });
    await store.matchOrPark(credit('e1'), 'booked');
    const claimed = await store.claimExpired('bank', T0 + WINDOW, 100, 10_000);
    await store.ackClaimed(claimed.map((l) => l.id));
    expect(await store.claimExpired('bank', T0 + WINDOW, 100, 1_000_000)).toEqual([]);
  });

  it('skips legs matched since they parked and expires every parked one, across several bounded sweeps', async () => {
    const { store } = open({ sweepBudget: 3 });
    for (let i = 0; i < 12; i++) await store.matchOrPark(credit(`e${i}`, { eventTime: T0 + i * 10 * TOLERANCE, amountKey: String(100 + i) }), 'booked');
    for (let i = 0; i < 12; i += 3) {
      expect((await store.matchOrPark(mint(`m${i}`, { eventTime: T0 + i * 10 * TOLERANCE, amountKey: String(100 + i) }), 'booked')).outcome.t).toBe('match');
    }
    expect(await store.parkedCount()).toEqual({ bank: 8, chain: 0 });
    const claimed = await store.claimExpired('bank', T0 + 200 * TOLERANCE, 100, T0);
    expect(claimed.map((l) => l.id).sort()).toEqual([1, 2, 4, 5, 7, 8, 10, 11].map((i) => `bank:e${i}`).sort());
    expect(await store.parkedCount()).toEqual({ bank: 0, chain: 0 });
    expect(await store.claimExpired('bank', T0 + 200 * TOLERANCE, 100, T0)).toEqual([]);
  });

  it('expires exactly to the millisecond within one second of deadlines', async () => {
    const { store } = open();
    await store.matchOrPark(credit('a', { eventTime: T0 + 100 }), 'booked');
    await store.matchOrPark(credit('b', { eventTime: T0 + 200, amountKey: '2' }), 'booked');
    expect((await store.claimExpired('bank', T0 + WINDOW + 150, 100, T0)).map((l) => l.id)).toEqual(['bank:a']);
    expect(await store.parkedCount()).toEqual({ bank: 1, chain: 0 });
    expect(await store.claimExpired('bank', T0 + WINDOW + 199, 100, T0)).toEqual([]);
    expect((await store.claimExpired('bank', T0 + WINDOW + 200, 100, T0)).map((l) => l.id)).toEqual(['bank:b']);
  });

  it('forgets a leg once the watermark passes its event time plus retention', async () => {
    const { store } = open();
    await store.matchOrPark(credit('e1', { reference: 'R1' }), 'booked');
    expect(await store.gc(T0 + RETENTION - 1)).toBe(0);
    expect(await store.knows('bank:e1')).toBe(true);
    expect(await store.gc(T0 + RETENTION)).toBe(1);
    expect(await store.knows('bank:e1')).toBe(false);
    expect(await store.parkedCount()).toEqual({ bank: 0, chain: 0 });
    expect((await store.matchOrPark(mint('m1', { reference: 'R1' }), 'booked')).outcome.t).toBe('parked');
    // A redelivery after retention is a new leg, not a replay.
    expect((await store.matchOrPark(credit('e1', { reference: 'R1' }), 'booked')).replayed).toBe(false);
  });
});

describe('MatchStore watermarks', () => {
  it('raises a watermark monotonically and records when it was last seen', async () => {
    const { store } = open();
    expect(await store.watermarks()).toEqual({ ledger: -1, ledgerSeenAt: -1, chain: -1, chainSeenAt: -1, ledgerPartitions: [{ ledger: -1, seenAt: -1, drainedAt: -1 }] });
    await store.advanceWatermark('ledger', T0, 100);
    await store.advanceWatermark('ledger', T0 - 5, 200);
    await store.markLedgerDrained(0, 300);
    expect(await store.watermarks()).toMatchObject({ ledger: T0, ledgerSeenAt: 200, chain: -1, ledgerPartitions: [{ ledger: T0, seenAt: 200, drainedAt: 300 }] });
  });
});

describe('MatchStore atomicity', () => {
  it('matches one credit with exactly one of two identical mints sent concurrently from two connections', async () => {
    const namespace = `t-${randomUUID()}`;
    const a = open({ namespace });
    const b = open({ namespace });
    for (let i = 0; i < 20; i++) {
      await a.store.matchOrPark(credit(`e${i}`, { eventTime: T0 + i * 10 * TOLERANCE }), 'booked');
    }
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => [
        a.store.matchOrPark(mint(`a${i}`, { eventTime: T0 + i * 10 * TOLERANCE }), 'booked'),
        b.store.matchOrPark(mint(`b${i}`, { eventTime: T0 + i * 10 * TOLERANCE }), 'booked'),
      ]).flat(),
    );
    for (let i = 0; i < 20; i++) {
      const pair = [results[2 * i]!.outcome.t, results[2 * i + 1]!.outcome.t].sort();
      expect(pair).toEqual(['match', 'parked']);
    }
    expect(await a.store.parkedCount()).toEqual({ bank: 0, chain: 20 });
  });
});
