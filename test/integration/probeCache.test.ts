import { randomUUID } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { daemonProbes } from '../../src/http/daemonProbes.js';
import { startHealthServer, type HealthServer } from '../../src/http/healthServer.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { MatchStore } from '../../src/state/matchStore.js';
import { ensureConsumers, ensureStreams } from '../../src/streams/jetstreamSetup.js';
import { startAnvil, type AnvilNode } from '../support/anvil.js';
import { tempClickHouse, type TempClickHouse } from '../support/clickhouse.js';
import { isolatedNames, testSink } from '../support/harness.js';
import { startRpcProxy, type RpcProxy } from '../support/rpcProxy.js';

/**
 * The health server in front of real NATS, Redis, chdb and anvil behind a counting JSON-RPC proxy:
 * a burst of /readyz and /metrics requests costs the chain provider at most one eth_blockNumber
 * per cache interval (and without the cache, one per request: the proxy does count them).
 */
describe('health probes are cached so a busy scraper cannot spend the RPC quota', () => {
  let anvil: AnvilNode;
  let proxy: RpcProxy;
  let ch: TempClickHouse;
  let nc: NatsConnection;
  let redis: Redis;
  const names = isolatedNames(randomUUID().slice(0, 8));
  const servers: HealthServer[] = [];

  beforeAll(async () => {
    anvil = await startAnvil();
    proxy = await startRpcProxy(anvil.rpcUrl);
    ch = await tempClickHouse();
    nc = await connect({ servers: ['127.0.0.1:4222'] });
    redis = new Redis('redis://127.0.0.1:6379');
  }, 60_000);

  afterAll(async () => {
    for (const s of servers) await s.close();
    const jsm = await jetstreamManager(nc);
    for (const s of [names.nats.ledgerStream, names.nats.chainStream, names.nats.mappingStream, names.nats.deadLetterStream]) await jsm.streams.delete(s).catch(() => undefined);
    await nc?.close();
    await redis?.quit();
    await ch?.close();
    await proxy?.close();
    await anvil?.stop();
  });

  async function serve(probeCacheMs: number) {
    const config = parseConfig({
      namespace: names.namespace,
      nats: names.nats,
      sink: testSink(names, {}),
      clickhouse: { database: ch.database, dataDir: ch.dir },
      chains: [{ chainId: anvil.chainId, rpcUrls: [proxy.url] }],
      http: { port: 0, probeCacheMs },
    });
    const jsm = await jetstreamManager(nc);
    await ensureStreams(jsm, config);
    await ensureConsumers(jsm, config);
    const metrics = createMetrics();
    const store = new MatchStore(redis, { namespace: names.namespace, windowMs: 1_000, toleranceMs: 2_000, retentionMs: 10_000 });
    const probes = daemonProbes({ config, nats: nc, jsm, redis, clickhouse: ch.client, store, metrics, consuming: () => true });
    const server = await startHealthServer({
      host: '127.0.0.1',
      port: 0,
      registry: metrics.registry,
      checks: probes.checks,
      beforeScrape: probes.sample,
      cacheMs: config.http.probeCacheMs,
    });
    servers.push(server);
    return server;
  }
  const blockNumberCalls = () => proxy.calls.filter((c) => c.method === 'eth_blockNumber').length;

  /** `rounds` rounds, `interval` ms apart, of `perRound` concurrent /readyz and as many /metrics. */
  async function burst(server: HealthServer, rounds: number, perRound: number, intervalMs: number) {
    const statuses: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const t0 = Date.now();
      const rs = await Promise.all(Array.from({ length: perRound }, (_, k) => fetch(`${server.address}/${k % 2 ? 'metrics' : 'readyz'}`)));
      for (const r of rs) {
        statuses.push(r.status);
        await r.arrayBuffer();
      }
      await new Promise((r) => setTimeout(r, Math.max(0, intervalMs - (Date.now() - t0))));
    }
    return statuses;
  }

  it('100 requests a round for 6 rounds in 3 s: at most one eth_blockNumber per 1 s interval', async () => {
    const server = await serve(1_000);
    const before = blockNumberCalls();
    const t0 = performance.now();
    const statuses = await burst(server, 6, 100, 500);
    const seconds = (performance.now() - t0) / 1_000;
    const calls = blockNumberCalls() - before;
    // eslint-disable-next-line no-console
    console.log(`cached: ${statuses.length} requests in ${seconds.toFixed(2)} s -> ${calls} eth_blockNumber`);
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(calls).toBeGreaterThanOrEqual(1);
    expect(calls).toBeLessThanOrEqual(Math.ceil(seconds / 1) + 1);
  }, 60_000);

  it('without the cache the same burst costs a call per round at least (the proxy counts them)', async () => {
    const server = await serve(0);
    const before = blockNumberCalls();
    const statuses = await burst(server, 6, 100, 500);
    const calls = blockNumberCalls() - before;
    // eslint-disable-next-line no-console
    console.log(`uncached: ${statuses.length} requests -> ${calls} eth_blockNumber`);
    expect(calls).toBeGreaterThan(6);
  }, 60_000);
});
