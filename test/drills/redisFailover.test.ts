import { afterAll, describe, expect, it } from 'vitest';
import { settle, startDrill, steadyTraffic, verifyDrill, waitFor, type Drill } from '../support/drill.js';
import { redisCluster, type RedisCluster } from '../support/redisCluster.js';

/**
 * Drill (issue 18): the worker on a Redis Cluster of 3 masters with a replica each; the master
 * holding the matching state ({m}) is killed under steady traffic and its replica promoted.
 * Nothing may be lost or duplicated: every pair matched once, every injected discrepancy found,
 * none false. Calls made during the failover fail (CLUSTERDOWN, MOVED, a closed connection) and
 * their messages are redelivered, as for any dependency outage.
 */
describe('drill: the Redis master of the matching state killed, its replica promoted', () => {
  let d: Drill | undefined;
  let cluster: RedisCluster | undefined;
  afterAll(async () => {
    await d?.cleanup();
    await cluster?.dispose();
  });

  it('matches every pair once and finds exactly the injected discrepancies across the failover', async () => {
    cluster = await redisCluster(3);
    d = await startDrill({ config: { redis: { clusterNodes: cluster.urls } }, traffic: { faultShare: 0.03, chainFirstShare: 0.3 } });
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
    await settle(d, {
      sweep: () => daemon.sweep(),
      parked: async () => {
        const p = await daemon.store.parkedCount();
        return p.bank + p.chain;
      },
      timeoutMs: 90_000,
    });
    const verdict = await verifyDrill(d, pairs);
    expect(verdict.problems).toEqual([]);
    console.info(
      `Redis failover drill: {m} master ${master} killed, replica ${promoted} promoted, matching again after ${resumedMs} ms; ${pairs.length} pairs, ${verdict.discrepanciesFound} injected discrepancies found, 0 false`,
    );
  }, 180_000);
});
