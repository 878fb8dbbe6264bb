import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { shardOf, shardPrefixes } from '../../src/domain/stateShards.js';
import type { Leg } from '../../src/domain/types.js';
import { ConfigError } from '../../src/lib/errors.js';
import { legHandle, MatchStore, type MatchStoreOptions } from '../../src/state/matchStore.js';
import { ensureShardLayout, scanKeys } from '../../src/state/shardLayout.js';

/**
 * The match state split over shards (issue 18) on the real Redis: each leg's scripts run under its
 * shard's prefix, batches become one call per shard, and whatever reads or sweeps the state visits
 * every shard. The cluster run is test/integration/redisCluster.test.ts.
 */
const T0 = 1_700_000_000_000;
const WINDOW = 60_000;
const WALLET = '0x1111111111111111111111111111111111111111';
const TOKEN_KEY = '31337:0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
const SHARDS = 4;
const log = pino({ level: 'silent' });

const opened: { redis: Redis; stores: MatchStore[] }[] = [];
function open(options: Partial<MatchStoreOptions> = {}) {
  const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
  const namespace = options.namespace ?? `t-${randomUUID()}`;
  const make = (o: Partial<MatchStoreOptions> = {}) => {
    const s = new MatchStore(redis, { namespace, toleranceMs: 2 * WINDOW, windowMs: WINDOW, retentionMs: 3_600_000, shards: SHARDS, ...options, ...o });
    opened.at(-1)!.stores.push(s);
    return s;
  };
  opened.push({ redis, stores: [] });
  return { redis, namespace, store: make(), make };
}
afterEach(async () => {
  for (const { redis, stores } of opened.splice(0)) {
    for (const s of stores) await s.clear();
    redis.disconnect();
  }
});

const leg = (side: 'bank' | 'chain', n: string, accountId: string, over: Partial<Leg> = {}): Leg => ({
  legId: `${side}:${n}`,
  side,
  flow: 'deposit',
  accountId,
  wallet: WALLET,
  currency: 'USD',
  tokenKey: side === 'chain' ? TOKEN_KEY : '',
  amountKey: '12345',
  amountNative: side === 'chain' ? '12345' : '12345',
  eventTime: side === 'chain' ? T0 + 5_000 : T0,
  reference: null,
  fingerprint: `fp-${n}`,
  ...over,
});

/** How many keys each shard prefix holds. */
async function keysPerShard(redis: Redis, namespace: string, shards: number): Promise<number[]> {
  const out: number[] = [];
  for (const p of shardPrefixes(namespace, shards)) {
    let n = 0;
    for await (const keys of scanKeys(redis, `${p}*`)) n += keys.length;
    out.push(n);
  }
  return out;
}

describe('a sharded match state', () => {
  it('keeps each leg under its shard’s prefix and matches pairs sent together in one turn (one call per shard)', async () => {
    const { redis, namespace, store } = open();
    const accounts = Array.from({ length: 16 }, (_, i) => `ACC-${i}`);
    // All credits in one turn of the event loop: one batch, split per shard.
    const parked = await Promise.all(accounts.map((a, i) => store.matchOrPark(leg('bank', `e${i}`, a, { amountKey: String(100 + i) }), 'booked')));
    expect(parked.map((r) => r.outcome.t)).toEqual(accounts.map(() => 'parked'));
    const per = await store.parkedPerShard();
    const expected = Array.from({ length: SHARDS }, (_, s) => accounts.filter((a) => shardOf({ accountId: a, reference: null }, SHARDS, 'account') === s).length);
    expect(per.map((p) => p.bank)).toEqual(expected);
    expect(expected.filter((n) => n > 0).length).toBeGreaterThan(1);
    expect(await store.parkedCount()).toEqual({ bank: 16, chain: 0 });
    // Each record is in its own shard's hash and in no other.
    for (const [i, a] of accounts.entries()) {
      const h = legHandle(`bank:e${i}`);
      const s = shardOf({ accountId: a, reference: null }, SHARDS, 'account');
      for (const [j, p] of store.shardPrefixes.entries()) expect(await redis.hexists(`${p}L:${h.slice(0, 2)}`, h)).toBe(j === s ? 1 : 0);
    }
    // Nothing of a shard's state under the shared {m} prefix.
    expect(await redis.exists(`${namespace}:{m}:n`)).toBe(0);

    const matched = await Promise.all(accounts.map((a, i) => store.matchOrPark(leg('chain', `m${i}`, a, { amountKey: String(100 + i) }), 'booked')));
    expect(matched.map((r) => r.outcome.t)).toEqual(accounts.map(() => 'match'));
    expect(await store.parkedCount()).toEqual({ bank: 0, chain: 0 });
  });

  it('never pairs legs of two shards (an amount on two accounts stays two parked legs)', async () => {
    const { store } = open();
    const shard = (x: string) => shardOf({ accountId: x, reference: null }, SHARDS, 'account');
    const a = 'ACC-0';
    const b = ['ACC-1', 'ACC-2', 'ACC-3', 'ACC-4', 'ACC-5'].find((x) => shard(x) !== shard(a))!;
    // The same reference: on one shard a reference pair across accounts would match.
    await store.matchOrPark(leg('bank', 'e1', a, { reference: 'R-1' }), 'booked');
    const r = await store.matchOrPark(leg('chain', 'm1', b, { reference: 'R-1' }), 'booked');
    expect(r.outcome.t).toBe('parked');
  });

  it('names the other shard in the reason of a leg whose reference counterpart waits there', async () => {
    const { store } = open();
    const shard = (x: string) => shardOf({ accountId: x, reference: null }, SHARDS, 'account');
    const b = ['ACC-1', 'ACC-2', 'ACC-3', 'ACC-4', 'ACC-5'].find((x) => shard(x) !== shard('ACC-0'))!;
    await store.matchOrPark(leg('bank', 'e1', 'ACC-0', { reference: 'R-7' }), 'booked');
    await store.matchOrPark(leg('chain', 'm1', b, { reference: 'R-7' }), 'booked');
    await store.matchOrPark(leg('bank', 'e2', 'ACC-0', { reference: 'R-8', amountKey: '5' }), 'booked');
    const claimed = await store.claimExpired('bank', T0 + WINDOW, 100, T0);
    await store.pairExpired(claimed);
    const byId = new Map(claimed.map((l) => [l.id, l]));
    expect(byId.get('bank:e1')?.note).toBe(
      `a chain leg with reference R-7 waits in state shard ${shard(b)}, this leg is in shard ${shard('ACC-0')}: legs of different shards are not paired (docs/runbook.md#sharded-state)`,
    );
    // No counterpart anywhere: no note.
    expect(byId.get('bank:e2')?.note).toBeUndefined();
  });

  it('finds a reference pair across accounts when sharded by reference', async () => {
    const { store } = open({ shardKey: 'reference' });
    await store.matchOrPark(leg('bank', 'c1', 'CUST-1', { reference: 'BATCH-42', amountKey: '25000' }), 'booked');
    await store.matchOrPark(leg('bank', 'c2', 'CUST-2', { reference: 'BATCH-42', amountKey: '75000' }), 'booked');
    expect((await store.matchOrPark(leg('chain', 'omni', 'OMNIBUS', { reference: 'BATCH-42', amountKey: '100000' }), 'booked')).outcome.t).not.toBe('parked');
  });

  it('sweeps, acknowledges and forgets in every shard', async () => {
    const { store, redis } = open({ claimVisibilityMs: 1_000 });
    const accounts = Array.from({ length: 12 }, (_, i) => `ACC-${i}`);
    for (const [i, a] of accounts.entries()) await store.matchOrPark(leg('bank', `e${i}`, a), 'booked');
    // A limit smaller than the legs: the sweeper calls again until a call returns fewer.
    const first = await store.claimExpired('bank', T0 + WINDOW, 5, T0);
    expect(first).toHaveLength(5);
    const rest = await store.claimExpired('bank', T0 + WINDOW, 100, T0);
    expect([...first, ...rest].map((l) => l.id).sort()).toEqual(accounts.map((_, i) => `bank:e${i}`).sort());
    expect(rest.every((l) => l.d.startsWith('MISSING_MINT:'))).toBe(true);
    await store.ackClaimed([...first, ...rest].map((l) => l.id));
    for (const p of store.shardPrefixes) expect(await redis.zcard(`${p}claimed`)).toBe(0);
    expect(await store.claimExpired('bank', T0 + WINDOW, 100, T0 + 1_000_000)).toEqual([]);
    expect(await store.gc(T0 + 3_600_000 + 1)).toBe(12);
    for (const [i] of accounts.entries()) expect(await store.knows(`bank:e${i}`)).toBe(false);
  });

  it('reaches a leg known by its id alone: reversal, retraction, manual match; refuses a manual match across shards', async () => {
    const { store } = open();
    const accounts = ['ACC-0', 'ACC-1', 'ACC-2', 'ACC-3', 'ACC-4', 'ACC-5'];
    const shard = (a: string) => shardOf({ accountId: a, reference: null }, SHARDS, 'account');
    const a = accounts.find((x) => shard(x) !== 0)!;
    const other = accounts.find((x) => shard(x) !== shard(a))!;
    await store.matchOrPark(leg('bank', 'e1', a), 'booked');
    await store.matchOrPark(leg('chain', 'm1', a), 'booked');
    const retracted = await store.retract('chain:m1');
    expect(retracted.outcome).toMatchObject({ t: 'retracted', other: { id: 'bank:e1' } });
    const reversed = await store.reverseLeg('bank:e1', 'rev-1');
    expect(reversed.outcome).toMatchObject({ t: 'withdrawn', legId: 'bank:e1' });

    await store.matchOrPark(leg('bank', 'e2', a, { amountKey: '1' }), 'booked');
    await store.matchOrPark(leg('chain', 'm2', a, { amountKey: '2' }), 'booked');
    expect((await store.manualMatch('match', 'bank:e2', 'chain:m2')).outcome.t).toBe('matched');

    await store.matchOrPark(leg('chain', 'm3', other, { amountKey: '3' }), 'booked');
    await store.matchOrPark(leg('bank', 'e3', a, { amountKey: '4' }), 'booked');
    const refused = await store.manualMatch('match', 'bank:e3', 'chain:m3');
    expect(refused.outcome).toMatchObject({ t: 'refused', reason: expect.stringContaining('different shards') as string });
    expect((await store.retract('chain:never-seen')).outcome).toEqual({ t: 'unknown' });
  });

  it('restores rebuilt legs into their shards', async () => {
    const { store } = open();
    const legs = Array.from({ length: 10 }, (_, i) => leg('bank', `r${i}`, `ACC-${i}`));
    expect(await store.restore(legs.map((l) => ({ leg: l, status: 'booked' as const, state: 'parked', extra: {} })))).toBe(10);
    const per = await store.parkedPerShard();
    expect(per.map((p) => p.bank)).toEqual(Array.from({ length: SHARDS }, (_, s) => legs.filter((l) => store.shardOfLeg(l) === s).length));
    // A rebuilt leg matches its counterpart as any parked leg does.
    expect((await store.matchOrPark(leg('chain', 'm9', 'ACC-9'), 'booked')).outcome.t).toBe('match');
  });

  it('keeps the watermarks and stalls shared, under {m}', async () => {
    const { store, redis, namespace } = open();
    await store.advanceWatermark('ledger', T0, 5);
    await store.markStall('FEED_STALLED:x', true);
    expect(await redis.hget(`${namespace}:{m}:wm`, 'ledger')).toBe(String(T0));
    expect((await store.watermarks()).ledger).toBe(T0);
    expect(await store.openStalls()).toEqual(['FEED_STALLED:x']);
  });
});

describe('the stored shard count', () => {
  it('is recorded on a new namespace; a start with another count is refused, and migrates only when told to', async () => {
    const { redis, namespace, store, make } = open();
    expect(await ensureShardLayout({ redis, namespace, shards: SHARDS, migrate: false, log })).toBe(SHARDS);
    expect(await redis.get(`${namespace}:{m}:shards`)).toBe(String(SHARDS));
    for (let i = 0; i < 8; i++) await store.matchOrPark(leg('bank', `e${i}`, `ACC-${i}`), 'booked');
    await store.advanceWatermark('chain', T0, 1);
    await redis.set(`${store.shardPrefixes[0]}epoch`, 'w:1');

    const six = make({ shards: 6 });
    await expect(ensureShardLayout({ redis, namespace, shards: 6, migrate: false, log })).rejects.toBeInstanceOf(ConfigError);
    expect((await keysPerShard(redis, namespace, SHARDS)).reduce((a, b) => a + b)).toBeGreaterThan(0);

    expect(await ensureShardLayout({ redis, namespace, shards: 6, migrate: true, log })).toBe(SHARDS);
    expect(await redis.get(`${namespace}:{m}:shards`)).toBe('6');
    // The old layout is gone, the shared watermarks stay; the state guard rebuilds from the facts.
    expect(await keysPerShard(redis, namespace, SHARDS)).toEqual([0, 0, 0, 0]);
    expect(await keysPerShard(redis, namespace, 6)).toEqual([0, 0, 0, 0, 0, 0]);
    expect((await six.watermarks()).chain).toBe(T0);
    expect(await ensureShardLayout({ redis, namespace, shards: 6, migrate: false, log })).toBe(6);
  });

  it('takes the state of a version that did not shard ({m} only) for one shard', async () => {
    const { redis, namespace, make } = open();
    const legacy = make({ shards: 1 });
    await legacy.matchOrPark(leg('bank', 'e1', 'ACC-1'), 'booked');
    await redis.set(`${namespace}:{m}:epoch`, 'w:1');
    await expect(ensureShardLayout({ redis, namespace, shards: 3, migrate: false, log })).rejects.toThrow(/1 shard\(s\).*redis.shards = 3/);
    expect(await ensureShardLayout({ redis, namespace, shards: 1, migrate: false, log })).toBe(1);
    expect(await legacy.knows('bank:e1')).toBe(true);
  });
});
