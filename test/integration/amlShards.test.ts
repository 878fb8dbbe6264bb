import { Cluster, type Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStateStore } from '../../src/aml/redisStateStore.js';
import { parseRuleSet, type RuleFileInput } from '../../src/aml/ruleFile.js';
import { runRiskPeriod } from '../../src/aml/risk/riskPeriod.js';
import { rehomeAmlWindows, scanKeys } from '../../src/state/shardLayout.js';
import { D, H, T0, rig, transfer, wallet } from '../unit/amlFixtures.js';
import { redisCluster, type RedisCluster } from '../support/redisCluster.js';

const SHARDS = 6;
const RULES: RuleFileInput = {
  version: 'shards-1',
  rules: [
    { id: 'cycle', type: 'cycle', scope: 'customer', window: '7d', minDepth: 2, maxDepth: 4, minAmount: { '*': '1000' }, minReturnShare: '50%', suppress: '7d' },
    { id: 'fan-in', type: 'fan_in', scope: 'customer', window: '7d', minCounterparties: 5 },
  ],
  risk: { currency: 'USD', period: '30d', fanMinCounterparties: 4 },
};
const accounts = Array.from({ length: 16 }, (_, i) => ({ accountId: `ACC-${i}`, wallets: [wallet(i + 1)] }));
const w = (i: number) => wallet(i + 1);
/**
 * A hand-made transfer graph: a loop ACC-0 → 1 → 2 → 3 → 0 in a day (value holding), a fan-in of
 * five one-off payers into ACC-4, a scatter-gather ACC-10 → 11, 12, 13 → ACC-14, and two trading
 * partners paying each other every day (normal, never a cycle).
 */
function traffic() {
  const t = T0 + 40 * D;
  return [
    transfer(w(0), w(1), 200_000n, t),
    transfer(w(1), w(2), 195_000n, t + H),
    transfer(w(2), w(3), 190_000n, t + 2 * H),
    transfer(w(3), w(0), 185_000n, t + 3 * H),
    ...[5, 6, 7, 8, 9].map((p, k) => transfer(w(p), w(4), 50_000n, t + 4 * H + k * H)),
    ...[11, 12, 13].map((m, k) => transfer(w(10), w(m), 30_000n, t + 10 * H + k * H)),
    ...[11, 12, 13].map((m, k) => transfer(w(m), w(14), 29_000n, t + 14 * H + k * H)),
    ...Array.from({ length: 6 }, (_, k) => transfer(w(15), w(5), 10_000n + BigInt(k), t + k * D)),
    ...Array.from({ length: 6 }, (_, k) => transfer(w(5), w(15), 10_000n + BigInt(k), t + k * D + H)),
  ];
}

/** Made once: both layouts see the very same events (ids included). */
const EVENTS = traffic();

/**
 * The AML windows (the rolling transfer graph) in per-shard hash tags on a real Redis Cluster
 * (3 masters with a replica each): with `redis.shards: 6` the window keys spread over every
 * master and the same traffic raises the same alerts and the same risk ranking as with one shard,
 * where every key is under `{aml}` on one master. A partial write retried (one shard's write lost)
 * changes nothing but the lost entry; windows of a one-shard layout move to six.
 */
describe('AML windows in sharded state on Redis Cluster', () => {
  let cluster: RedisCluster;
  let client: Redis;
  const namespaces: string[] = [];

  beforeAll(async () => {
    cluster = await redisCluster(3);
    client = new Cluster(cluster.urls.map((u) => ({ host: '127.0.0.1', port: Number(new URL(u).port) }))) as unknown as Redis;
  }, 60_000);
  afterAll(async () => {
    for (const ns of namespaces) for (const shards of [1, SHARDS]) await new RedisStateStore(client, ns, shards).clear();
    client?.disconnect();
    await cluster?.dispose();
  });

  async function run(shards: number) {
    const ns = `amlshards${shards}_${Math.random().toString(36).slice(2, 8)}`;
    namespaces.push(ns);
    const store = new RedisStateStore(client, ns, shards);
    const r = rig({ accounts, store, rules: RULES });
    const events = EVENTS;
    const { alerts } = await r.feed(events);
    const again = await r.feed(events); // a redelivery of everything changes nothing
    expect(again.replayed.every(Boolean)).toBe(true);
    const risk = await runRiskPeriod({ store, rules: parseRuleSet(RULES), customers: accounts.map((a) => a.accountId), periodEnd: T0 + 50 * D, now: T0 + 50 * D });
    const keys: string[] = [];
    for await (const page of scanKeys(client, `${ns}:*:w:*`)) keys.push(...page);
    const masters = new Set(await Promise.all(keys.map((k) => cluster.masterOf(k))));
    return {
      ns,
      store,
      keys,
      masters,
      alerts: alerts.map((a) => [a.alert_id, a.rule_id, a.subject, [...a.evidence_event_ids].sort()]).sort(),
      risk: { ranking: risk.ranking.map((c) => [c.customer, c.score, c.anchored, c.memberOf]), alerts: risk.alerts.map((a) => [a.subject, a.summary, a.evidence_event_ids]) },
    };
  }

  it('spreads the window keys over every master and raises the same alerts and ranking as one shard', async () => {
    const one = await run(1);
    const six = await run(SHARDS);
    // Unsharded: every window under {aml}, one slot, one master.
    expect(one.keys.every((k) => k.startsWith(`${one.ns}:{aml}:w:`))).toBe(true);
    expect(one.masters.size).toBe(1);
    expect(six.keys.some((k) => k.startsWith(`${six.ns}:{aml}:`))).toBe(false);
    expect(new Set(six.keys.map((k) => k.slice(0, k.indexOf('}') + 1))).size).toBe(SHARDS);
    expect(six.masters.size).toBe(3);
    expect(six.keys).toHaveLength(one.keys.length);
    // The patterns found are the same: the cycle and fan-in rules, and the period's graph typologies.
    expect(one.alerts.map((a) => a[1])).toEqual(['cycle', 'fan-in']);
    expect(one.risk.alerts.length).toBeGreaterThan(0);
    expect(six.alerts).toEqual(one.alerts);
    expect(six.risk).toEqual(one.risk);
    console.log(
      `AML windows: 1 shard ${one.keys.length} keys on 1 master; ${SHARDS} shards ${six.keys.length} keys on ${six.masters.size} masters; ${six.alerts.length} alerts, ${six.risk.alerts.length} risk alerts, same in both`,
    );
  }, 60_000);

  it('restores a window write lost in one shard when the event is redelivered, counting it once', async () => {
    const ns = `amlshardsretry_${Math.random().toString(36).slice(2, 8)}`;
    namespaces.push(ns);
    const store = new RedisStateStore(client, ns, SHARDS);
    const entry = { eventId: 'chain:e-1', source: 'chain' as const, dir: 'out' as const, amount: 1_000n, counterparty: 'ACC-1', kind: 'transfer', time: T0 };
    const req = {
      eventId: 'chain:e-1',
      time: T0,
      movements: [
        { subjectKey: 'customer:ACC-0:USD', entry },
        { subjectKey: 'customer:ACC-1:USD', entry: { ...entry, dir: 'in' as const, counterparty: 'ACC-0' } },
      ],
      readFrom: T0 - D,
      readTo: T0 + D,
      maxEvents: 100,
      retentionMs: 30 * D,
      activityRetentionMs: 400 * D,
      buckets: [{ bucketMs: D, from: Math.floor(T0 / D) - 2, to: Math.floor(T0 / D) }],
      ttlMs: 60_000,
    };
    const first = await store.apply(req);
    if (first.status !== 'open') throw new Error('applied before');
    // As if the worker died after the {aml} script and one shard's write: ACC-1's entry is missing.
    const lost = `${store.windowPrefixOf('customer:ACC-1:USD')}w:customer:ACC-1:USD`;
    expect(store.windowPrefixOf('customer:ACC-1:USD')).not.toBe(store.windowPrefixOf('customer:ACC-0:USD'));
    await client.del(lost);
    const retried = await store.apply(req);
    if (retried.status !== 'open') throw new Error('decided before');
    for (const k of ['customer:ACC-0:USD', 'customer:ACC-1:USD']) {
      expect(retried.subjects.get(k)!.window.map((e) => e.eventId)).toEqual(['chain:e-1']);
      // The day's baseline counted the movement once, not twice.
      expect(retried.subjects.get(k)!.buckets).toEqual(first.subjects.get(k)!.buckets);
    }
    expect([...retried.subjects.get('customer:ACC-0:USD')!.buckets.values()]).toEqual([{ n: 1n, v: 1_000n }]);
  });

  it('moves the windows of a one-shard layout to their shards', async () => {
    const before = await run(1);
    const moved = await rehomeAmlWindows(client, before.ns, SHARDS);
    expect(moved).toBe(before.keys.length);
    const sharded = new RedisStateStore(client, before.ns, SHARDS);
    const keys = before.keys.map((k) => k.slice(k.indexOf(':w:') + 3));
    const a = await before.store.readWindows(keys, T0, T0 + 60 * D, 100);
    const b = await sharded.readWindows(keys, T0, T0 + 60 * D, 100);
    expect([...a.values()].every((w) => w.length === 0)).toBe(true);
    expect([...b.values()].map((w) => w.length).reduce((x, y) => x + y, 0)).toBeGreaterThan(0);
    expect(await rehomeAmlWindows(client, before.ns, SHARDS)).toBe(0);
  }, 60_000);
});
