import { Cluster, Redis } from 'ioredis';
import type { Address } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shardPrefixes, shardTags, slotOfTag } from '../../src/domain/stateShards.js';
import { scanKeys } from '../../src/state/shardLayout.js';
import { randomWallet, startHarness, type Harness } from '../support/harness.js';
import { redisCluster, type RedisCluster } from '../support/redisCluster.js';

/**
 * The worker on a real Redis Cluster (issue 18, first step): 3 masters with a replica each, from
 * the redis-server binary. The same traffic as on the single Redis gives the same matches and
 * discrepancies; every script and pipeline reaches the master of its hash tag's slot. What it
 * shows too, and prints: unsharded, all matching state is one slot ({m}), so one master holds it;
 * with `redis.shards: 6` (issue 18) the same traffic gives the same results with the legs spread
 * over every shard and the shards over every master.
 */
describe('a worker on Redis Cluster', () => {
  let cluster: RedisCluster;
  const runs: Harness[] = [];
  /** What the traffic ended as on the single Redis (the first test), for the sharded run to match. */
  let singleResult: unknown;

  beforeAll(async () => {
    cluster = await redisCluster(3);
  }, 60_000);
  afterAll(async () => {
    // The one sharing the first run's chdb stops first.
    for (const h of runs.reverse()) await h.stop().catch(() => undefined);
    await cluster?.dispose();
  });

  /** The same traffic; what it ends as: match ids and discrepancy ids with their status. */
  async function traffic(onCluster: boolean, shards = 1) {
    // Twelve accounts: enough for legs in every one of six shards keyed by account.
    const wallets = Array.from({ length: 12 }, () => randomWallet()) as Address[];
    // One chdb per process: the second run takes a database of its own in the first one's.
    const first = runs[0];
    const h = await startHarness({
      ...(first && { shared: { ch: first.ch, database: `recon_cluster_${Math.random().toString(36).slice(2, 8)}` } }),
      accounts: wallets.map((w, i) => ({ accountId: `ACC-${i}`, wallets: [w] })),
      config: {
        ...(onCluster && { redis: { clusterNodes: cluster.urls, shards } }),
        aml: { enabled: true, rulesFile: 'config/aml-rules.yaml', reloadSubject: `aml_${Math.random().toString(36).slice(2, 8)}.reload` },
        matching: { windowMs: 2_000, allowedLatenessMs: 500, ledgerIdleMs: 1_000, sweepIntervalMs: 200, lateRetentionMs: 3_600_000 },
      },
    });
    runs.push(h);
    await h.posting({ entryId: 'c-1', accountId: 'ACC-0', amountMinor: 10_000n });
    await h.mint(wallets[0]!, h.usd(10_000n));
    await h.posting({ entryId: 'c-2', accountId: 'ACC-1', amountMinor: 2_500n, tokenizationRef: 'REF-C2' });
    await h.mint(wallets[1]!, h.usd(2_500n), 'REF-C2');
    await h.posting({ entryId: 'c-3', accountId: 'ACC-2', amountMinor: 700n });
    await h.mint(wallets[2]!, h.usd(900n));
    for (let i = 3; i < wallets.length; i++) {
      await h.posting({ entryId: `c-${i + 1}`, accountId: `ACC-${i}`, amountMinor: BigInt(1_000 * i), ...(i % 3 === 0 && { tokenizationRef: `REF-C${i + 1}` }) });
      await h.mint(wallets[i]!, h.usd(BigInt(1_000 * i)), i % 3 === 0 ? `REF-C${i + 1}` : undefined);
    }
    const result = await h.waitFor(
      'eleven matches and the discrepancies of c-3',
      async () => {
        const m = (await h.matches()).filter((x) => x.status === 'matched');
        const d = await h.discrepancies();
        return (
          m.length === wallets.length - 1 && d.length >= 1 && { matches: m.map((x) => x.match_id.replace(/chain:.*$/, 'chain')).sort(), discrepancies: d.map((x) => `${x.kind}:${x.status}`).sort() }
        );
      },
      30_000,
    );
    return { h, result };
  }

  it('gives the same matches and discrepancies as a single Redis, with the state on the master of its slot', async () => {
    const single = await traffic(false);
    singleResult = single.result;
    const clustered = await traffic(true);
    expect(clustered.result).toEqual(single.result);

    // Where the state went: every key of the run on the master of the {m} (or {aml}, …) slot.
    const ns = clustered.h.config.namespace;
    const perMaster = new Map<number, number>();
    for (const n of cluster.nodes) {
      const c = new Redis(n.port, '127.0.0.1');
      try {
        if (!String(await c.info('replication')).includes('role:master')) continue;
        let count = 0;
        let cursor = '0';
        do {
          const [next, keys] = await c.scan(cursor, 'MATCH', `${ns}:*`, 'COUNT', 1000);
          cursor = next;
          count += keys.length;
        } while (cursor !== '0');
        perMaster.set(n.port, count);
      } finally {
        c.disconnect();
      }
    }
    const matchingMaster = await cluster.masterOf(`${ns}:{m}:`);
    console.log(`keys per master: ${[...perMaster].map(([p, k]) => `${p}: ${k}`).join(', ')} (matching state {m} on ${matchingMaster})`);
    expect(perMaster.size).toBe(3);
    expect(perMaster.get(matchingMaster)).toBeGreaterThan(0);
  }, 120_000);

  it('with six state shards: the same results, legs in every shard, shards on every master', async () => {
    expect(singleResult).toBeDefined();
    const SHARDS = 6;
    const sharded = await traffic(true, SHARDS);
    expect(sharded.result).toEqual(singleResult);

    const ns = sharded.h.config.namespace;
    const client = new Cluster(cluster.urls.map((u) => ({ host: '127.0.0.1', port: Number(new URL(u).port) })));
    try {
      // Legs per shard: the records in each shard's hashes; the {m} prefix holds no leg.
      const legsPerShard: number[] = [];
      for (const p of shardPrefixes(ns, SHARDS)) {
        let legs = 0;
        for await (const keys of scanKeys(client as unknown as Redis, `${p}L:*`)) for (const k of keys) legs += await client.hlen(k);
        legsPerShard.push(legs);
      }
      let unsharded = 0;
      for await (const keys of scanKeys(client as unknown as Redis, `${ns}:{m}:L:*`)) unsharded += keys.length;
      const masters = await Promise.all(shardTags(SHARDS).map((t) => cluster.masterOf(`${ns}:{${t}}:`)));
      // The tags' slots are computed as the cluster computes them.
      for (const t of shardTags(SHARDS)) expect(Number(await client.cluster('KEYSLOT', `${ns}:{${t}}:x`))).toBe(slotOfTag(t));
      console.log(`legs per shard: ${legsPerShard.map((n, i) => `${shardTags(SHARDS)[i]}@${masters[i]}: ${n}`).join(', ')}`);
      expect(legsPerShard.reduce((a, b) => a + b)).toBe(24);
      expect(legsPerShard.every((n) => n > 0)).toBe(true);
      expect(unsharded).toBe(0);
      expect(new Set(masters).size).toBe(3);
      expect(await client.get(`${ns}:{m}:shards`)).toBe(String(SHARDS));
    } finally {
      client.disconnect();
    }
  }, 120_000);
});
