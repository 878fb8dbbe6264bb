import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { MatchStore } from '../../src/state/matchStore.js';
import { factsOfRetraction } from '../../src/domain/outcomeFacts.js';
import type { Leg } from '../../src/domain/types.js';

const T0 = 1_700_000_000_000;
const WINDOW = 60_000;
const stores: { redis: Redis; store: MatchStore }[] = [];
function open() {
  const redis = new Redis('redis://127.0.0.1:6379');
  const store = new MatchStore(redis, { namespace: `t-${randomUUID()}`, windowMs: WINDOW, toleranceMs: 2 * WINDOW, retentionMs: 3_600_000 });
  stores.push({ redis, store });
  return store;
}
afterEach(async () => {
  for (const { redis, store } of stores.splice(0)) {
    await store.clear();
    redis.disconnect();
  }
});

const credit = (n: string, over: Partial<Leg> = {}): Leg => ({
  legId: `bank:${n}`,
  side: 'bank',
  flow: 'deposit',
  accountId: 'acc-1',
  wallet: '',
  currency: 'USD',
  tokenKey: '',
  amountKey: '500',
  amountNative: '500',
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
  wallet: '0xw',
  currency: 'USD',
  tokenKey: '1:0xt',
  amountKey: '500',
  amountNative: '5000000000000000000',
  eventTime: T0 + 1_000,
  reference: null,
  fingerprint: `fp-${n}`,
  ...over,
});
const retraction = (eventId: string) => ({ eventId, chainId: 1, blockNumber: 7n, blockHash: '0xorphan' });

describe('retracting a chain leg orphaned by a reorg', () => {
  it('re-opens the matched credit so the re-mined event matches it, and retracts the old match', async () => {
    const store = open();
    await store.matchOrPark(credit('e1'), 'booked');
    const first = await store.matchOrPark(mint('1:0xorphan:0'), 'booked');
    expect(first.outcome.t).toBe('match');

    const r = await store.retract('chain:1:0xorphan:0');
    expect(r.replayed).toBe(false);
    expect(r.outcome).toMatchObject({ t: 'retracted', prior: 'matched', mid: 'match:bank:e1|chain:1:0xorphan:0', other: { id: 'bank:e1' } });
    expect(await store.parkedCount()).toEqual({ bank: 1, chain: 0 });
    const facts = factsOfRetraction(retraction('1:0xorphan:0'), r.outcome, T0);
    expect(facts.map((f) => f.table)).toEqual(['chain_event_retractions', 'matches']);
    expect(facts[1]!.row).toMatchObject({ match_id: 'match:bank:e1|chain:1:0xorphan:0', status: 'retracted', version: 3 });

    const again = await store.matchOrPark(mint('1:0xcanonical:0'), 'booked');
    expect(again.outcome).toMatchObject({ t: 'match', mid: 'match:bank:e1|chain:1:0xcanonical:0' });
  });

  it('is idempotent: a second retraction of the same leg changes nothing and returns the stored outcome', async () => {
    const store = open();
    await store.matchOrPark(credit('e1'), 'booked');
    await store.matchOrPark(mint('1:0xorphan:0'), 'booked');
    const a = await store.retract('chain:1:0xorphan:0');
    const b = await store.retract('chain:1:0xorphan:0');
    expect(b).toEqual({ replayed: true, outcome: a.outcome });
    expect(await store.parkedCount()).toEqual({ bank: 1, chain: 0 });
  });

  it('resolves the MISSING_BANK_CREDIT of an expired orphaned mint and takes a parked one out of its window', async () => {
    const store = open();
    await store.matchOrPark(mint('1:0xa:0'), 'booked');
    await store.matchOrPark(mint('1:0xb:0', { amountKey: '900' }), 'booked');
    const expired = await store.claimExpired('chain', T0 + 1_000 + WINDOW, 10);
    expect(expired.map((l) => l.id).sort()).toEqual(['chain:1:0xa:0', 'chain:1:0xb:0']);
    await store.ackClaimed(expired.map((l) => l.id));
    const r = await store.retract('chain:1:0xa:0');
    expect(r.outcome).toMatchObject({ t: 'retracted', prior: 'expired', resolves: 'MISSING_BANK_CREDIT:chain:1:0xa:0' });
    const facts = factsOfRetraction(retraction('1:0xa:0'), r.outcome, T0);
    expect(facts[1]!.row).toMatchObject({ discrepancy_id: 'MISSING_BANK_CREDIT:chain:1:0xa:0', status: 'resolved' });

    await store.matchOrPark(mint('1:0xc:0', { amountKey: '700' }), 'booked');
    const parked = await store.retract('chain:1:0xc:0');
    expect(parked.outcome).toMatchObject({ prior: 'parked', resolves: '', mid: '' });
    expect(await store.claimExpired('chain', T0 + 10 * WINDOW, 10)).toEqual([]);
  });

  it('re-opens both legs of a mismatch and resolves the mismatch', async () => {
    const store = open();
    await store.matchOrPark(credit('e1', { reference: 'R' }), 'booked');
    const mm = await store.matchOrPark(mint('1:0xorphan:0', { reference: 'R', amountKey: '400' }), 'booked');
    expect(mm.outcome.t).toBe('mismatch');
    const r = await store.retract('chain:1:0xorphan:0');
    expect(r.outcome).toMatchObject({ prior: 'mismatched', resolves: 'AMOUNT_MISMATCH:bank:e1|chain:1:0xorphan:0', other: { id: 'bank:e1' } });
    const again = await store.matchOrPark(mint('1:0xcanonical:0', { reference: 'R' }), 'booked');
    expect(again.outcome).toMatchObject({ t: 'match', by: 'reference' });
  });

  it('records only the retraction for an event that never was a leg (a transfer or an orphan)', async () => {
    const store = open();
    const r = await store.retract('chain:1:0xnothing:3');
    expect(r.outcome.t).toBe('unknown');
    expect(factsOfRetraction(retraction('1:0xnothing:3'), r.outcome, T0).map((f) => f.table)).toEqual(['chain_event_retractions']);
  });
});
