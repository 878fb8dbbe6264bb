import type { ClickHouseClient } from '@clickhouse/client';
import { assignedPartitions } from '../streams/partitions.js';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Redis } from 'ioredis';
import { createPublicClient, http, type PublicClient } from 'viem';
import type { Config } from '../config/schema.js';
import type { Metrics } from '../observability/metrics.js';
import type { MatchStore } from '../state/matchStore.js';
import type { ReadinessCheck } from './healthServer.js';
import { cachedProbe } from './probeCache.js';

export interface DaemonProbesOptions {
  config: Config;
  nats: NatsConnection;
  jsm: JetStreamManager;
  redis: Redis;
  clickhouse: ClickHouseClient;
  store: MatchStore;
  metrics: Metrics;
  /** True once both durable consumers are bound and consuming, false again once stopping. */
  consuming: () => boolean;
  /** Null while the mapping update follower runs, else why it stopped (readiness fails with it). */
  mappingFailure?: () => string | null;
}

export interface DaemonProbes {
  /** /readyz: NATS, Redis, ClickHouse, each chain RPC, the consumers, the mapping follower. */
  checks: Record<string, ReadinessCheck>;
  /** Before a scrape: consumer lag, parked legs, watermark lag, chain head and head lag. */
  sample(): Promise<void>;
}

/**
 * A chain answers when any of its RPC URLs returns the head block number. The answer is shared by
 * the readiness check and the scrape's sampling and reused for `http.probeCacheMs`, so however
 * often both are asked, the provider sees at most one eth_blockNumber per URL per interval.
 */
function chainClients(config: Config): { chainId: number; head: () => Promise<bigint> }[] {
  return config.chains.map((c) => {
    const clients = c.rpcUrls.map((url) => createPublicClient({ transport: http(url, { retryCount: 0, timeout: 2_000 }) }));
    return { chainId: c.chainId, head: cachedProbe(() => chainHead(clients), config.http.probeCacheMs) };
  });
}

async function chainHead(clients: PublicClient[]): Promise<bigint> {
  return Promise.any(clients.map((c) => c.getBlockNumber({ cacheTime: 0 })));
}

/**
 * The daemon's readiness probes and sampled gauges. Every probe talks to its dependency (a NATS
 * round trip, a Redis PING, a ClickHouse `SELECT 1`, an `eth_blockNumber`): a connection object
 * that merely exists is not readiness. Consumer lag comes from JetStream consumer info, so it
 * counts what every worker sharing the durable consumer still has to do.
 */
export function daemonProbes(o: DaemonProbesOptions): DaemonProbes {
  const { config, metrics } = o;
  const chains = chainClients(config);
  // The streams of the partitions this worker consumes (one ledger and one chain without partitions).
  const parts = assignedPartitions(config.nats);
  const streams = parts.flatMap((p) => [p.ledgerStream, p.chainStream]);
  const ledgerStreams = new Set(parts.map((p) => p.ledgerStream));

  const checks: Record<string, ReadinessCheck> = {
    nats: async () => {
      if (o.nats.isClosed()) throw new Error('connection closed');
      await o.nats.rtt();
    },
    redis: async () => {
      const pong = await o.redis.ping();
      if (pong !== 'PONG') throw new Error(`unexpected PING reply ${pong}`);
    },
    clickhouse: async () => {
      const rs = await o.clickhouse.query({ query: 'SELECT 1 AS ok', format: 'JSONEachRow' });
      await rs.json();
    },
    consumers: async () => {
      if (!o.consuming()) throw new Error('durable consumers not bound (starting or stopping)');
      await Promise.all(streams.map((s) => o.jsm.consumers.info(s, config.nats.consumerName)));
    },
  };
  if (o.mappingFailure) {
    const failure = o.mappingFailure;
    checks.mappings = async () => {
      const why = failure();
      metrics.mappingFollowerUp.set(why === null ? 1 : 0);
      if (why !== null) throw new Error(why);
    };
  }
  for (const c of chains) {
    checks[`chain:${c.chainId}`] = async () => {
      const head = await c.head();
      metrics.chainHeadBlock.set({ chain_id: String(c.chainId) }, Number(head));
    };
  }

  async function sample(): Promise<void> {
    // Per role (ledger, chain): summed over the partitions this worker consumes.
    const lag = [
      Promise.all(streams.map((stream) => o.jsm.consumers.info(stream, config.nats.consumerName))).then((infos) => {
        for (const role of ['ledger', 'chain'] as const) {
          const mine = infos.filter((_, i) => ledgerStreams.has(streams[i]!) === (role === 'ledger'));
          const sum = (f: (ci: (typeof infos)[number]) => number) => mine.reduce((n, ci) => n + f(ci), 0);
          metrics.consumerPending.set(
            { stream: role },
            sum((ci) => ci.num_pending),
          );
          metrics.consumerAckPending.set(
            { stream: role },
            sum((ci) => ci.num_ack_pending),
          );
          metrics.consumerRedelivered.set(
            { stream: role },
            sum((ci) => ci.num_redelivered),
          );
        }
      }),
    ];
    // sink.mode log: what waits in the fact log for the loader, as stream="facts".
    if (config.sink.mode === 'log') {
      const l = config.sink.log;
      lag.push(
        o.jsm.consumers.info(l.stream, l.consumerName).then((ci) => {
          metrics.consumerPending.set({ stream: 'facts' }, ci.num_pending);
          metrics.consumerAckPending.set({ stream: 'facts' }, ci.num_ack_pending);
          metrics.consumerRedelivered.set({ stream: 'facts' }, ci.num_redelivered);
        }),
      );
    }
    const parked = o.store.parkedCount().then((p) => {
      metrics.parkedLegs.set({ side: 'bank' }, p.bank);
      metrics.parkedLegs.set({ side: 'chain' }, p.chain);
    });
    const wm = o.store.watermarks().then((w) => {
      const now = Date.now();
      if (w.ledger >= 0) metrics.watermarkLagSeconds.set({ source: 'ledger' }, (now - w.ledger) / 1_000);
      if (w.chain >= 0) metrics.watermarkLagSeconds.set({ source: 'chain' }, (now - w.chain) / 1_000);
    });
    const heads = chains.map(async (c) => {
      const head = await c.head();
      const chainId = String(c.chainId);
      metrics.chainHeadBlock.set({ chain_id: chainId }, Number(head));
      const durable = await o.store.chainBlock(c.chainId);
      if (durable !== null) metrics.chainHeadLagBlocks.set({ chain_id: chainId }, Number(head - durable));
    });
    if (o.mappingFailure) metrics.mappingFollowerUp.set(o.mappingFailure() === null ? 1 : 0);
    await Promise.allSettled([...lag, parked, wm, ...heads]);
  }

  return { checks, sample };
}
