import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settleDaemon, startDrill, steadyTraffic, verifyDrill, waitFor, type Drill } from '../support/drill.js';
import { redisCluster, type RedisCluster } from '../support/redisCluster.js';

/**
 * Drills (issue 18) on a Redis Cluster of 3 masters with a replica each, from the redis-server
 * binary: steady traffic with injected faults through a worker on it, then the master holding the
 * matching state ({m}) killed under traffic and its replica promoted. Each time every pair is
 * matched once, every injected discrepancy found, none false. Calls made during the failover fail
 * (CLUSTERDOWN, MOVED, a closed connection) and their messages are redelivered, as for any
 * dependency outage. (The first drill caught the entry-fingerprint pipeline spanning slots, which a
 * few messages at a time did not.) The same steady drill with the match state in six shards
 * (redis.shards, spread over the three masters) gives the same verdict.
 */
describe('drills: a worker on Redis Cluster', () => {
  let cluster: RedisCluster;
  const drills: Drill[] = [];
  beforeAll(async () => {
    cluster = await redisCluster(3);
  }, 60_000);
  afterAll(async () => {
    for (const d of drills) await d.cleanup();
    await cluster?.dispose();
  });

  const drill = async (shards = 1) => {
    const d = await startDrill({ config: { redis: { clusterNodes: cluster.urls, shards } }, traffic: { faultShare: 0.03, chainFirstShare: 0.3 } });
    drills.push(d);
    return d;
  };

  it('matches every pair once and finds exactly the injected discrepancies under steady traffic', async () => {
    const d = await drill();
    const daemon = await d.startDaemon();
    const traffic = steadyTraffic(d, 300);
    await waitFor('traffic flowing', () => daemon.stats.matches > 600, 30_000);
    const pairs = await traffic.stop();
    await settleDaemon(d, daemon);
    const verdict = await verifyDrill(d, pairs);
    expect(verdict.problems).toEqual([]);
    console.info(`Redis Cluster drill: ${pairs.length} pairs through 3 masters, ${verdict.discrepanciesFound} injected discrepancies found, 0 false`);
    // One embedded ClickHouse per process: this drill's goes before the next one opens its own.
    await d.cleanup();
    drills.splice(drills.indexOf(d), 1);
  }, 120_000);

  it('with six state shards: every pair once, exactly the injected discrepancies, legs parked on every master', async () => {
    const d = await drill(6);
    const daemon = await d.startDaemon();
    const traffic = steadyTraffic(d, 300);
    // Parked legs seen in shards on each of the three masters while traffic flows.
    const masters = await Promise.all(daemon.store.shardPrefixes.map((p) => cluster.masterOf(p)));
    const seen = new Set<number>();
    await waitFor(
      'traffic flowing, legs parked on every master',
      async () => {
        (await daemon.store.parkedPerShard()).forEach((p, i) => {
          if (p.bank + p.chain > 0) seen.add(masters[i]!);
        });
        return daemon.stats.matches > 600 && seen.size === 3;
      },
      30_000,
    );
    const pairs = await traffic.stop();
    await settleDaemon(d, daemon);
    const verdict = await verifyDrill(d, pairs);
    expect(verdict.problems).toEqual([]);
    console.info(`Redis Cluster drill, 6 shards: ${pairs.length} pairs through 3 masters, ${verdict.discrepanciesFound} injected discrepancies found, 0 false`);
    await d.cleanup();
    drills.splice(drills.indexOf(d), 1);
  }, 120_000);

  it('loses nothing when the master of the matching state is killed and its replica promoted', async () => {
    const d = await drill();
    const daemon = await d.startDaemon();
    const master = await cluster.masterOf(daemon.store.prefix);
    const traffic = steadyTraffic(d, 300);
    await waitFor(
      'traffic flowing with legs parked',
      async () => {
        const p = await daemon.store.parkedCount();
        return daemon.stats.matches > 300 && p.bank + p.chain > 0;
      },
      20_000,
    );
    await cluster.nodes.find((n) => n.port === master)!.kill('SIGKILL');
    const killedAt = Date.now();
    const matchesAtKill = daemon.stats.matches;
    await waitFor('a replica promoted and matching resumed', () => daemon.stats.matches > matchesAtKill + 300, 60_000);
    const resumedMs = Date.now() - killedAt;
    const promoted = await cluster.masterOf(daemon.store.prefix);
    expect(promoted).not.toBe(master);
    const pairs = await traffic.stop();
    await settleDaemon(d, daemon);
    const verdict = await verifyDrill(d, pairs);
    expect(verdict.problems).toEqual([]);
    console.info(
      `Redis failover drill: {m} master ${master} killed, replica ${promoted} promoted, matching again after ${resumedMs} ms; ${pairs.length} pairs, ${verdict.discrepanciesFound} injected discrepancies found, 0 false`,
    );
    // One embedded ClickHouse per process: this drill's goes before the next one opens its own.
    await d.cleanup();
    drills.splice(drills.indexOf(d), 1);
  }, 180_000);

  it('with six state shards: loses nothing when a master holding two of them is killed', async () => {
    const d = await drill(6);
    const daemon = await d.startDaemon();
    // A master other than the one promoted above (that one has no replica left): the master of a
    // shard whose slot range still has its replica.
    const ports = await Promise.all(daemon.store.shardPrefixes.map((p) => cluster.masterOf(p)));
    let master: number | undefined;
    for (const port of ports) {
      const c = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 0 });
      const replicas = Number(/connected_slaves:(\d+)/.exec(await c.info('replication'))?.[1] ?? 0);
      c.disconnect();
      if (replicas > 0) {
        master = port;
        break;
      }
    }
    expect(master).toBeDefined();
    const shardsThere = ports.filter((p) => p === master).length;
    const traffic = steadyTraffic(d, 300);
    await waitFor('traffic flowing', () => daemon.stats.matches > 300, 20_000);
    await cluster.nodes.find((n) => n.port === master)!.kill('SIGKILL');
    const killedAt = Date.now();
    const matchesAtKill = daemon.stats.matches;
    // The shards of the other masters go on matching during the failover: 300 more matches come
    // sooner than the promotion; the verdict below covers the legs of the killed master's shards.
    await waitFor('300 more matches after the kill', () => daemon.stats.matches > matchesAtKill + 300, 60_000);
    const resumedMs = Date.now() - killedAt;
    await waitFor('a replica promoted', async () => (await cluster.masterOf(daemon.store.shardPrefixes[ports.indexOf(master!)]!)) !== master, 60_000);
    const pairs = await traffic.stop();
    await settleDaemon(d, daemon);
    const verdict = await verifyDrill(d, pairs);
    expect(verdict.problems).toEqual([]);
    console.info(
      `Redis failover drill, 6 shards: master ${master} (${shardsThere} shards) killed, 300 more matches ${resumedMs} ms after; ${pairs.length} pairs, ${verdict.discrepanciesFound} injected discrepancies found, 0 false`,
    );
  }, 180_000);
});
