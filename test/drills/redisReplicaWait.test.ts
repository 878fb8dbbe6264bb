import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settleDaemon, startDrill, steadyTraffic, verifyDrill, waitFor, type Drill } from '../support/drill.js';
import { redisCluster, type RedisCluster } from '../support/redisCluster.js';

/** The pid and port of the (one) replica of the master on `masterPort`. */
async function replicaOf(masterPort: number): Promise<{ port: number; pid: number }> {
  const m = new Redis(masterPort, '127.0.0.1');
  try {
    const port = Number(/slave0:ip=[^,]+,port=(\d+)/.exec(String(await m.info('replication')))?.[1]);
    const r = new Redis(port, '127.0.0.1');
    try {
      return { port, pid: Number(/process_id:(\d+)/.exec(String(await r.info('server')))?.[1]) };
    } finally {
      r.disconnect();
    }
  } finally {
    m.disconnect();
  }
}

/**
 * Drill (issue 18): with `redis.waitReplicas: 1` a batch is acked only once a replica of every
 * master holds its state writes (Redis WAIT). The replica of the matching state's master is frozen
 * (SIGSTOP) under steady traffic: acks stop, the batch is retried, nothing is dead-lettered; once
 * it runs again (SIGCONT) every pair is matched once and every injected discrepancy found.
 */
describe('drill: acks wait for Redis replicas', () => {
  let cluster: RedisCluster;
  let d: Drill | undefined;
  let frozen: number | undefined;
  beforeAll(async () => {
    cluster = await redisCluster(3);
  }, 60_000);
  afterAll(async () => {
    if (frozen) process.kill(frozen, 'SIGCONT');
    await d?.cleanup();
    await cluster?.dispose();
  });

  it('holds the acks while the replica of the state is frozen and loses nothing', async () => {
    d = await startDrill({ config: { redis: { clusterNodes: cluster.urls, waitReplicas: 1, waitTimeoutMs: 300 } }, traffic: { faultShare: 0.03 } });
    const daemon = await d.startDaemon();
    const traffic = steadyTraffic(d, 200);
    await waitFor('traffic flowing', () => daemon.stats.matches > 300, 30_000);
    const replica = await replicaOf(await cluster.masterOf(daemon.store.prefix));
    const consumers = [d.config.nats.ledgerStream, d.config.nats.chainStream];
    const floors = async () => {
      let n = 0;
      for (const s of consumers) n += (await d!.jsm.consumers.info(s, d!.config.nats.consumerName)).ack_floor.stream_seq;
      return n;
    };

    process.kill(replica.pid, 'SIGSTOP');
    frozen = replica.pid;
    // A batch already past its WAIT may still be acked; after that, nothing is.
    await new Promise((r) => setTimeout(r, 1_000));
    const before = await floors();
    const retriesBefore = (await daemon.metrics.sinkRetries.get()).values[0]?.value ?? 0;
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await floors(), 'nothing acked while the replica cannot confirm').toBe(before);
    expect((await daemon.metrics.sinkRetries.get()).values[0]?.value ?? 0, 'the batch retried').toBeGreaterThan(retriesBefore);
    expect(daemon.stats.deadLetters, 'a lagging replica is never a dead letter').toBe(0);

    process.kill(replica.pid, 'SIGCONT');
    frozen = undefined;
    await waitFor('acks again', async () => (await floors()) > before, 30_000);
    const pairs = await traffic.stop();
    await settleDaemon(d, daemon);
    const verdict = await verifyDrill(d, pairs);
    expect(verdict.problems).toEqual([]);
    console.info(`replica wait drill: replica ${replica.port} frozen 4 s, acks held; ${pairs.length} pairs, ${verdict.discrepanciesFound} injected discrepancies found, 0 false, facts once`);
  }, 180_000);
});
