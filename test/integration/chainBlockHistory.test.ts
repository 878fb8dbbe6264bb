import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { blockHistory, blockHistoryKeys, recordEventIds } from '../../src/streams/chain/blockHistory.js';

const H = (n: number) => `0x${n.toString(16).padStart(64, '0')}`;
const CHAIN = 31_337;
const ids = (hash: string, ...indexes: number[]) => indexes.map((i) => `${CHAIN}:${hash}:${i}`);

const redis = new Redis('redis://127.0.0.1:6379');
const namespaces: string[] = [];
const fresh = (keep = 100) => {
  const ns = `t_bh_${randomBytes(4).toString('hex')}`;
  namespaces.push(ns);
  return { ns, history: blockHistory(redis, ns, CHAIN, keep) };
};
afterEach(async () => {
  for (const ns of namespaces.splice(0)) {
    const keys = await redis.keys(`${ns}:*`);
    if (keys.length) await redis.del(...keys);
  }
});
afterAll(() => redis.disconnect());

describe('block history in Redis', () => {
  it('stores the log indexes of a block, names its events by id, and merges a second put of the same block', async () => {
    const { ns, history } = fresh();
    expect(
      await history.put([
        { number: 10n, hash: H(10), parentHash: H(9), logIndexes: [0, 2] },
        { number: 12n, hash: H(12), parentHash: null, logIndexes: [] },
      ]),
    ).toEqual([]);
    // Compact: log indexes, not event ids (a backfill stores thousands per range).
    expect(JSON.parse((await redis.hget(blockHistoryKeys(ns, CHAIN).blocks, '10'))!)).toEqual({ h: H(10), p: H(9), e: [0, 2] });
    const ten = await history.get(10n);
    expect(ten).toEqual({ number: 10n, hash: H(10), parentHash: H(9), logIndexes: [0, 2] });
    expect(recordEventIds(CHAIN, ten!)).toEqual(ids(H(10), 0, 2));
    expect(await history.get(12n)).toEqual({ number: 12n, hash: H(12), parentHash: null, logIndexes: [] });
    // Another token's events of the same block join the stored ones (in log order); an unknown parent keeps the stored one.
    expect(await history.put([{ number: 10n, hash: H(10), parentHash: null, logIndexes: [1, 2] }])).toEqual([]);
    expect(await history.get(10n)).toEqual({ number: 10n, hash: H(10), parentHash: H(9), logIndexes: [0, 1, 2] });
    expect((await history.highest())?.number).toBe(12n);
    expect((await history.descending(11n, 5)).map((r) => r.number)).toEqual([10n]);
  });

  it('refuses a block stored with another hash and writes nothing of that put', async () => {
    const { history } = fresh();
    await history.put([{ number: 10n, hash: H(10), parentHash: H(9), logIndexes: [0] }]);
    expect(
      await history.put([
        { number: 11n, hash: H(11), parentHash: H(10), logIndexes: [] },
        { number: 10n, hash: H(99), parentHash: H(9), logIndexes: [0] },
      ]),
    ).toEqual([10n]);
    expect(await history.get(11n)).toBeNull();
    expect((await history.get(10n))?.hash).toBe(H(10));
  });

  it('reads and merges records written with full event ids (before log indexes were stored)', async () => {
    const { ns, history } = fresh();
    const k = blockHistoryKeys(ns, CHAIN);
    await redis.hset(k.blocks, '7', JSON.stringify({ h: H(7), p: H(6), e: ids(H(7), 3, 5) }));
    await redis.zadd(k.numbers, 7, '7');
    expect(await history.get(7n)).toEqual({ number: 7n, hash: H(7), parentHash: H(6), logIndexes: [3, 5] });
    await history.put([{ number: 7n, hash: H(7), parentHash: H(6), logIndexes: [4, 5] }]);
    expect(await history.get(7n)).toEqual({ number: 7n, hash: H(7), parentHash: H(6), logIndexes: [3, 4, 5] });
  });

  it('keeps only the highest block numbers and forgets orphans above a fork point', async () => {
    const { history } = fresh(3);
    for (let n = 1; n <= 6; n++) await history.put([{ number: BigInt(n), hash: H(n), parentHash: H(n - 1), logIndexes: [n] }]);
    expect((await history.descending(100n, 10)).map((r) => r.number)).toEqual([6n, 5n, 4n]);
    expect(await history.deleteAbove(4n)).toBe(2);
    expect((await history.descending(100n, 10)).map((r) => [r.number, r.logIndexes])).toEqual([[4n, [4]]]);
  });
});
