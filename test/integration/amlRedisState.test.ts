import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStateStore } from '../../src/aml/redisStateStore.js';
import { MemoryStateStore, type ApplyRequest } from '../../src/aml/stateStore.js';
import { SchemaViolation } from '../../src/lib/errors.js';
import { ids, rig } from '../unit/amlFixtures.js';
import { scenarios } from '../unit/amlScenarios.js';

/**
 * The AML window state on real Redis: every rule scenario raises on Redis exactly what it raises
 * on the memory store; two workers sharing Redis and splitting the events raise what one does; a
 * redelivered event changes nothing.
 */
describe('AML state in Redis', () => {
  let redis: Redis;
  const namespaces: string[] = [];
  const store = () => {
    const ns = `taml${randomUUID().slice(0, 8)}`;
    namespaces.push(ns);
    return new RedisStateStore(redis, ns);
  };

  beforeAll(() => {
    redis = new Redis('redis://127.0.0.1:6379');
  });
  afterAll(async () => {
    for (const ns of namespaces) await new RedisStateStore(redis, ns).clear();
    await redis.quit();
  });

  for (const sc of scenarios()) {
    it(`agrees with the memory store: ${sc.name}`, async () => {
      const onRedis = rig({ accounts: sc.accounts, store: store() });
      const inMemory = rig({ accounts: sc.accounts, store: new MemoryStateStore() });
      for (const w of sc.watch ?? []) {
        onRedis.watch.add(w);
        inMemory.watch.add(w);
      }
      const a = await onRedis.feed(sc.events);
      const b = await inMemory.feed(sc.events);
      expect(a.alerts).toEqual(b.alerts);
      expect(a.alerts.filter((x) => x.rule_id === sc.rule)).toHaveLength(sc.expected);
      const again = await onRedis.feed(sc.events);
      expect(again.replayed.every(Boolean)).toBe(true);
      expect(again.alerts).toEqual(a.alerts);
    });
  }

  it('two workers sharing Redis, fed concurrently and redelivering, raise the alerts one worker raises', async () => {
    const all = scenarios().filter((s) => s.expected > 0);
    const shared = store();
    for (const sc of all) {
      const w1 = rig({ accounts: sc.accounts, store: shared });
      const w2 = rig({ accounts: sc.accounts, store: shared });
      const one = rig({ accounts: sc.accounts, store: new MemoryStateStore() });
      for (const w of sc.watch ?? []) {
        w1.watch.add(w);
        w2.watch.add(w);
        one.watch.add(w);
      }
      const single = new Set(ids((await one.feed(sc.events)).alerts));
      // Worker 1 takes the even events, worker 2 the odd ones, concurrently; then both see all again.
      const [r1, r2] = await Promise.all([w1.feed(sc.events.filter((_, i) => i % 2 === 0)), w2.feed(sc.events.filter((_, i) => i % 2 === 1))]);
      const redelivered = await w2.feed(sc.events);
      expect(redelivered.replayed.every(Boolean), sc.name).toBe(true);
      const raised = [...ids(r1.alerts), ...ids(r2.alerts)];
      expect(new Set(raised), sc.name).toEqual(single);
      expect(raised.length, `${sc.name}: each alert raised once`).toBe(single.size);
      expect(new Set(ids(redelivered.alerts))).toEqual(single);
      // The scenarios reuse account names: start the next one from clean state.
      await shared.clear();
    }
  });

  describe('baseline sums that cannot overflow', () => {
    const HOUR = 3_600_000;
    const T0 = 1_780_000_000_000;
    const k = Math.floor(T0 / HOUR);
    const INT64_MAX = 2n ** 63n - 1n;
    /** One movement into `subject`, bucket `k` of an hour, and the bucket read back. */
    const request = (eventId: string, amount: bigint, subject = 'customer:A:USD'): ApplyRequest => ({
      eventId,
      time: T0,
      readFrom: T0,
      readTo: T0,
      maxEvents: 1,
      retentionMs: HOUR,
      activityRetentionMs: HOUR,
      ttlMs: 60_000,
      buckets: [{ bucketMs: HOUR, from: k, to: k }],
      movements: [{ subjectKey: subject, entry: { eventId, source: 'bank', dir: 'in', amount, counterparty: '', kind: 'deposit', time: T0 } }],
    });
    const bucketOf = async (s: RedisStateStore, subject = 'customer:A:USD') => {
      const r = await s.apply(request(`read-${randomUUID()}`, 0n, subject));
      if (r.status !== 'open') throw new Error('expected open');
      return r.subjects.get(subject)!.buckets.get(`${HOUR}:${k}:in`)!;
    };
    /** Applies in rounds of 500 concurrent scripts (one connection: they are pipelined). */
    const applyAll = async (s: RedisStateStore, amounts: bigint[], subject?: string) => {
      for (let i = 0; i < amounts.length; i += 500) {
        await Promise.all(amounts.slice(i, i + 500).map((a, j) => s.apply(request(`ev-${i + j}`, a, subject))));
      }
    };

    it('an int64 HINCRBY overflows where these sums are (why the script no longer uses it)', async () => {
      const key = `${store().prefix}probe`;
      await redis.hincrby(key, 'v', INT64_MAX.toString());
      await expect(redis.hincrby(key, 'v', '1')).rejects.toThrow(/overflow/);
      await redis.del(key);
    });

    it('sums 10,000 amounts just under 10^15 minor units exactly, past 2^63', async () => {
      const s = store();
      const near = 10n ** 15n - 1n;
      await applyAll(
        s,
        Array.from({ length: 10_000 }, () => near),
      );
      const b = await bucketOf(s);
      expect(b.n).toBe(10_001n); // the read itself is a movement of 0
      expect(b.v).toBe(10_000n * near);
      expect(b.v > INT64_MAX).toBe(true);
    });

    it('sums amounts at int64 max, and far beyond it, exactly', async () => {
      const s = store();
      const amounts = [INT64_MAX, INT64_MAX, INT64_MAX, 2n ** 200n, 1n, INT64_MAX, 10n ** 14n - 1n, 10n ** 14n];
      await applyAll(s, amounts);
      expect((await bucketOf(s)).v).toBe(amounts.reduce((a, b) => a + b, 0n));
    });

    it('agrees with bigint addition on amounts of every length, carries included', async () => {
      const s = store();
      let seed = 7;
      const rand = (n: number) => {
        seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
        return seed % n;
      };
      const amounts: bigint[] = [];
      for (let i = 0; i < 600; i++) {
        const len = 1 + rand(45);
        // Runs of nines force a carry through every limb.
        const digits = rand(4) === 0 ? '9'.repeat(len) : Array.from({ length: len }, (_, j) => String(j === 0 ? 1 + rand(9) : rand(10))).join('');
        amounts.push(BigInt(digits));
      }
      amounts.push(0n);
      await applyAll(s, amounts);
      expect((await bucketOf(s)).v).toBe(amounts.reduce((a, b) => a + b, 0n));
      // A redelivery adds nothing.
      await applyAll(s, amounts);
      expect((await bucketOf(s)).v).toBe(amounts.reduce((a, b) => a + b, 0n));
    });

    it('refuses a negative amount as bad input, naming the field, and writes nothing', async () => {
      const s = store();
      const err = await s.apply(request('neg', -5n)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SchemaViolation);
      expect((err as Error).message).toMatch(/amount is negative/);
      expect(await redis.keys(`${s.prefix}*`)).toEqual([]);
    });
  });
});
