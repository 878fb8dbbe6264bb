import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EntryFingerprints } from '../../src/state/entryFingerprints.js';

/** The content first seen under each entry id, on the local Redis: checks of one turn in one script call. */
describe('entry fingerprints', () => {
  let redis: Redis;
  let fingerprints: EntryFingerprints;
  let calls = 0;

  beforeAll(() => {
    redis = new Redis('redis://127.0.0.1:6379');
    fingerprints = new EntryFingerprints(redis, { namespace: `fp-${randomUUID().slice(0, 8)}`, ttlMs: 60_000 });
    // Count the script calls the store makes (the calls themselves still go to Redis).
    const r = redis as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
    const claim = r.reconClaimFingerprints!.bind(redis);
    r.reconClaimFingerprints = (...a: unknown[]) => {
      calls++;
      return claim(...a);
    };
  });

  afterAll(async () => {
    await fingerprints.clear();
    redis.disconnect();
  });

  it('answers each check of one turn from one script call, in order, the first content winning', async () => {
    calls = 0;
    const turn = await Promise.all([fingerprints.check('a', 'fa'), fingerprints.check('b', 'fb'), fingerprints.check('a', 'fa'), fingerprints.check('c', 'fc'), fingerprints.check('c', 'other')]);
    expect(calls).toBe(1);
    expect(turn).toEqual([{ t: 'new' }, { t: 'new' }, { t: 'same' }, { t: 'new' }, { t: 'conflict', first: 'fc', seenBefore: false }]);
  });

  it('recognises a conflicting copy seen before, and expires each record once, from its first copy', async () => {
    expect(await fingerprints.check('c', 'other')).toEqual({ t: 'conflict', first: 'fc', seenBefore: true });
    expect(await fingerprints.check('b', 'fb')).toEqual({ t: 'same' });
    const ttl = await redis.pttl(fingerprints.keyOf('a'));
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it('fails only the id whose record Redis cannot apply; the others of the call are stored', async () => {
    await redis.set(fingerprints.keyOf('not-a-hash'), 'x');
    calls = 0;
    const turn = await Promise.allSettled([fingerprints.check('before', 'f1'), fingerprints.check('not-a-hash', 'f2'), fingerprints.check('after', 'f3')]);
    expect(calls).toBe(1);
    expect(turn.map((t) => t.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(String((turn[1] as PromiseRejectedResult).reason)).toMatch(/WRONGTYPE|claimFingerprints/);
    expect(await fingerprints.check('after', 'f3')).toEqual({ t: 'same' });
  });

  it('splits a large turn into calls of at most 500 ids', async () => {
    calls = 0;
    const ids = Array.from({ length: 1_200 }, (_, i) => `bulk-${i}`);
    const turn = await Promise.all(ids.map((id) => fingerprints.check(id, `f-${id}`)));
    expect(calls).toBe(3);
    expect(turn.every((c) => c.t === 'new')).toBe(true);
    expect(await fingerprints.check('bulk-1199', 'f-bulk-1199')).toEqual({ t: 'same' });
  });
});
