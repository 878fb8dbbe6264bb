import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStateStore } from '../../src/aml/redisStateStore.js';
import { MemoryStateStore } from '../../src/aml/stateStore.js';
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

  beforeAll(() => { redis = new Redis('redis://127.0.0.1:6379'); });
  afterAll(async () => {
    for (const ns of namespaces) await new RedisStateStore(redis, ns).clear();
    await redis.quit();
  });

  for (const sc of scenarios()) {
    it(`agrees with the memory store: ${sc.name}`, async () => {
      const onRedis = rig({ accounts: sc.accounts, store: store() });
      const inMemory = rig({ accounts: sc.accounts, store: new MemoryStateStore() });
      for (const w of sc.watch ?? []) { onRedis.watch.add(w); inMemory.watch.add(w); }
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
      for (const w of sc.watch ?? []) { w1.watch.add(w); w2.watch.add(w); one.watch.add(w); }
      const single = new Set(ids((await one.feed(sc.events)).alerts));
      // Worker 1 takes the even events, worker 2 the odd ones, concurrently; then both see all again.
      const [r1, r2] = await Promise.all([
        w1.feed(sc.events.filter((_, i) => i % 2 === 0)),
        w2.feed(sc.events.filter((_, i) => i % 2 === 1)),
      ]);
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
});
