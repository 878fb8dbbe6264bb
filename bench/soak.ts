/**
 * An always-on daemon's drift (`npm run bench:soak`): one daemon with the shipped defaults (the
 * fact log, 50 ms batches, `matching.lateRetentionMs` 7 days, so no matched leg is collected during
 * the run) takes a fixed rate for `--minutes`, and every `--interval-seconds` a row says what
 * moved: decision latency of that interval's pairs, the event loop's delay, garbage collection's
 * pauses, CPU per message per component, the process's memory (live heap after a full collection)
 * and Redis's. A last line gives the slopes: what an hour of this load adds, which is what decides
 * whether the daemon can run for weeks.
 *
 * Options: --minutes N (default 10) --rate EV/S (default 1000) --interval-seconds S (default 60)
 * --accounts N (default 1000). Run with --expose-gc (the npm script does) for the live heap.
 */
import { rmSync } from 'node:fs';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { parseConfig } from '../src/config/load.js';
import { startDaemon, type Daemon } from '../src/daemon.js';
import type { BatchReport } from '../src/worker/ackAfterDurable.js';
import { trafficConfig, type TrafficOptions } from '../test/support/drillTraffic.js';
import { cpuAccounting, perMessage } from './cpuAccounting.js';
import type { PublishResult } from './publisher.js';
import { benchClickHouse, benchNames, cleanup, startPublisher } from './benchSupport.js';

const { values: argv } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    rate: { type: 'string', default: '1000' },
    'interval-seconds': { type: 'string', default: '60' },
    accounts: { type: 'string', default: '1000' },
  },
});
const MINUTES = Number(argv.minutes);
const RATE = Number(argv.rate);
const INTERVAL_S = Number(argv['interval-seconds']);
const ACCOUNTS = Number(argv.accounts);
const say = (s: string) => process.stdout.write(`${s}\n`);
const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const nowMs = () => performance.timeOrigin + performance.now();
const MB = 2 ** 20;

const n = benchNames('soak');

/** p-th percentile of sorted values. */
const pct = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]! : Number.NaN);

async function main() {
  const { dataDir, clickhouse } = benchClickHouse('soak', 'soak');
  const config = parseConfig({
    namespace: n.namespace,
    workerId: `${n.namespace}-w0`,
    nats: { ...n.nats, servers: [process.env.NATS_URL ?? '127.0.0.1:4222'] },
    redis: { url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
    clickhouse: { database: 'soak', dataDir, ...(process.env.CLICKHOUSE_URL && { url: process.env.CLICKHOUSE_URL }) },
    // Clean pairs meet within the window; the bank feed never counts as idle during the run.
    matching: { windowMs: 60_000, allowedLatenessMs: 5_000, ledgerIdleMs: 3_600_000 },
    balances: { intervalMs: 3_600_000, onChangeDebounceMs: 3_600_000, driftGraceMs: 3_600_000 },
    // The shipped sink (the fact log, default batch delay), in a stream of the run's own.
    sink: { log: { stream: `SFACTS_${n.namespace}`, subject: `sfacts_${n.namespace}` } },
    ...trafficConfig(ACCOUNTS),
    http: { port: -1 },
    log: { level: 'warn' },
  });
  const redis = new Redis(config.redis.url);
  const nc = await connect({ servers: config.nats.servers });
  const jsm = await jetstreamManager(nc);
  const cpu = await cpuAccounting(redis);
  const durableAt = new Map<string, number>();
  let processed = 0;
  const onBatch = (r: BatchReport) => {
    const t = nowMs();
    processed += r.messages;
    for (const f of r.written) if (f.table === 'matches') durableAt.set(f.row.match_id as string, t);
  };
  let daemon: Daemon | undefined;
  const publisher = startPublisher();
  const traffic: TrafficOptions = { accounts: ACCOUNTS, tag: n.namespace };
  try {
    daemon = await startDaemon(config, { clickhouse, log: pino({ level: 'warn' }), onBatch, ingest: false });
    await daemon.ready;
    const gc = (globalThis as { gc?: () => void }).gc;
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const pauses: number[] = [];
    new PerformanceObserver((l) => {
      for (const e of l.getEntries()) pauses.push(e.duration);
    }).observe({ entryTypes: ['gc'] });
    const redisBytes = async () => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
    const redisKeys = async () => redis.dbsize();
    const memory = () => {
      gc?.();
      return process.memoryUsage();
    };

    say(
      `soak: ${MINUTES} min at ${fmt(RATE)} events/s, a row every ${INTERVAL_S} s; sink ${config.sink.mode}, batches ≤ ${config.sink.maxBatchDelayMs} ms, lateRetentionMs ${config.matching.lateRetentionMs}`,
    );
    say(`live heap after a full collection${gc ? '' : ' (unavailable: run with --expose-gc; heap used as is)'}`);
    say('  min | decided p50 / p99 / max ms | loop delay p99 / max ms | GC max / total ms | CPU µs/msg: JS, other, Redis, NATS = all | RSS, heap, external MiB | Redis MiB, keys');
    const m0 = memory();
    const r0 = await redisBytes();
    const rows: { t: number; rss: number; heap: number; redis: number; processed: number }[] = [{ t: 0, rss: m0.rss, heap: m0.heapUsed, redis: r0, processed: 0 }];
    const pairsPerInterval = Math.round((RATE / 2) * INTERVAL_S);
    const intervals = Math.round((MINUTES * 60) / INTERVAL_S);
    let pending: PublishResult['samples'] = [];
    for (let k = 0; k < intervals; k++) {
      const c0 = cpu.sample();
      const p0 = processed;
      loop.reset();
      pauses.length = 0;
      const pub = await publisher.publish(n, traffic, k * pairsPerInterval, (k + 1) * pairsPerInterval, RATE / 2, 256, false);
      // This interval's pairs: those of the previous one have had a whole interval to be decided.
      const decided: number[] = [];
      for (const [matchId, t] of pending) {
        const d = durableAt.get(matchId);
        if (d !== undefined) decided.push(d - t);
        durableAt.delete(matchId);
      }
      pending = pub.samples;
      decided.sort((a, b) => a - b);
      const per = perMessage(cpu.since(c0), Math.max(1, processed - p0));
      const mem = memory();
      const rb = await redisBytes();
      rows.push({ t: (k + 1) * INTERVAL_S, rss: mem.rss, heap: mem.heapUsed, redis: rb, processed });
      say(
        `${fmt(((k + 1) * INTERVAL_S) / 60, 1).padStart(5)} | ${k === 0 ? '(next row)' : `${fmt(pct(decided, 0.5), 1)} / ${fmt(pct(decided, 0.99), 1)} / ${fmt(decided.at(-1) ?? Number.NaN, 1)}`} | ` +
          `${fmt(loop.percentile(99) / 1e6, 1)} / ${fmt(loop.max / 1e6, 1)} | ${fmt(Math.max(0, ...pauses), 1)} / ${fmt(pauses.reduce((s, x) => s + x, 0))} | ` +
          `${per.main}, ${per.daemon - per.main}, ${per.redis}, ${per.nats} = ${per.total} | ${fmt(mem.rss / MB)}, ${fmt(mem.heapUsed / MB)}, ${fmt(mem.external / MB)} | ${fmt(rb / MB)}, ${fmt(await redisKeys())}`,
      );
    }
    // Slopes over the second half (the first minutes carry start-up, JIT and cache warm-up).
    const half = rows.slice(Math.floor(rows.length / 2));
    const a = half[0]!;
    const b = half.at(-1)!;
    const hours = (b.t - a.t) / 3_600;
    const events = b.processed - a.processed;
    say(
      `drift over the second half (${fmt((b.t - a.t) / 60, 1)} min, ${fmt(events)} events): RSS ${fmt((b.rss - a.rss) / MB / hours)} MiB/h, live heap ${fmt((b.heap - a.heap) / MB / hours)} MiB/h, ` +
        `Redis ${fmt((b.redis - a.redis) / MB / hours)} MiB/h = ${fmt((b.redis - a.redis) / Math.max(1, events))} bytes per event, kept matching.lateRetentionMs (${fmt(config.matching.lateRetentionMs / 86_400_000, 1)} days) + the window`,
    );
  } finally {
    publisher.stop();
    await daemon?.stop().catch(() => undefined);
    await cleanup(jsm, n, redis, [config.sink.log.stream]);
    redis.disconnect();
    await nc.close();
    await clickhouse.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
