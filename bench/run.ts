/**
 * `npm run bench`: one run measuring, on this machine and its shared NATS and Redis, with
 * ClickHouse embedded (chdb, or CLICKHOUSE_URL):
 *  (a) the ceiling: a bare JetStream consume-and-ack loop over the same streams;
 *  (b) sustained throughput of the full pipeline (decode, match-or-park in Redis, facts durable,
 *      then acked; with the fact log, also loaded into ClickHouse) draining a backlog: its CPU per
 *      message against the ceiling's, and ClickHouse inserts per second and table;
 *  (c) per sink mode (`--sinks`, each a daemon on the same streams and state) and fixed offered load
 *      (`--rate`, a list): latency from the second leg's publish to its match decided and durable,
 *      and to the match fact visible in ClickHouse (its insert returned), CPU per message, inserts
 *      per second; then at saturation;
 *  (d) daemon RSS and Redis bytes per pending (unmatched) leg with many legs parked;
 *  (e) correctness: every injected discrepancy found, no false one, every fact stored once.
 * Chain events are published straight into the CHAIN stream in the ingester's wire format (no
 * anvil): the ingester's own speed is bounded by the RPC node, not by this pipeline.
 * Each phase also reports CPU per message by component (this process, split into its JavaScript
 * thread and the rest, chiefly the embedded ClickHouse; Redis; NATS), read from /proc, and the
 * cores that rate needs: on a machine whose cores all these share, that is what bounds the ratio.
 * The load generator runs in its own process and encodes a phase's messages before its clock
 * starts; at the fixed rate it publishes with core NATS onto the streams' subjects (no ack round
 * trip per message; the run fails unless the streams stored every message).
 * Prints a report and writes bench/results/<timestamp>.json.
 *
 * Options: --pairs N (backlog pairs, 2 events each; default 50000) --rate EV/S[,EV/S…] (fixed offered
 * loads, default 1000,2500) --sinks MODE[,MODE] (sink.mode of the drain (first) and of the latency
 * phases, default log,direct) --latency-seconds S (default 15) --saturation-pairs N (default 30000)
 * --parked N (pending legs for the memory figure, default 1000000) --accounts N (default 1000)
 * --batch-delay-ms MS (the sink's maxBatchDelayMs, default the config's: 50 ms log, 200 direct) --gather-ms MS (nats.gatherMs, default
 * the config's) --load-every-ms MS (sink.log.loadEveryMs, default the config's) --cpu-profile FILE (a V8 CPU profile of
 * the drain (b) alone, for Chrome DevTools or any .cpuprofile reader) --cpu-profile-fixed FILE (the
 * same of the first fixed-rate phase) --heap-profile-fixed FILE (a sampled allocation profile of that
 * phase, collected objects included) --flush-scripts (SCRIPT FLUSH first: a fresh Lua VM in Redis,
 * bench/redisLua.ts).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Session } from 'node:inspector/promises';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { parseConfig } from '../src/config/load.js';
import type { Config } from '../src/config/schema.js';
import { startDaemon, type Daemon } from '../src/daemon.js';
import type { BatchReport } from '../src/worker/ackAfterDurable.js';
import { PreEncodedRows } from '../src/sinks/clickhouse/preEncodedRows.js';
import { ensureConsumers, ensureStreams } from '../src/streams/jetstreamSetup.js';
import { backlog, closeWindows, expectedOf, makePair, trafficConfig, verify, type TrafficOptions } from '../test/support/drillTraffic.js';
import { benchClickHouse, benchNames, cleanup, startPublisher, type BenchNames } from './benchSupport.js';
import { cpuAccounting, perMessage, type CpuAccounting } from './cpuAccounting.js';
import { describeLuaVm, luaVm } from './redisLua.js';
import { FACT_COLUMNS } from '../src/sinks/clickhouse/migrations.js';

/** Position of match_id in a matches row as the writer inserts it (JSONCompactEachRow, schema order). */
const MATCH_ID_COLUMN = Object.keys(FACT_COLUMNS.matches).indexOf('match_id');
if (MATCH_ID_COLUMN !== 0) throw new Error('bench: match_id is no longer the first column of matches; firstColumnStrings needs another column');

/** The first value of each JSONCompactEachRow line, a string (cheaply: the bench shares the daemon's thread). */
function* firstColumnStrings(text: string): Generator<string> {
  for (let at = 0; at < text.length; ) {
    let end = text.indexOf('\n', at);
    if (end < 0) end = text.length;
    const close = text.indexOf('"', at + 2);
    const id = text.slice(at + 2, close);
    yield id.includes('\\') ? (JSON.parse(text.slice(at, end)) as string[])[0]! : id;
    at = end + 1;
  }
}

const { values: argv } = parseArgs({
  options: {
    pairs: { type: 'string', default: '50000' },
    rate: { type: 'string', default: '1000,2500' },
    sinks: { type: 'string', default: 'log,direct' },
    'latency-seconds': { type: 'string', default: '15' },
    'saturation-pairs': { type: 'string', default: '30000' },
    parked: { type: 'string', default: '1000000' },
    accounts: { type: 'string', default: '1000' },
    'batch-delay-ms': { type: 'string' },
    'max-batch-rows': { type: 'string', default: '5000' },
    'max-ack-pending': { type: 'string', default: '4000' },
    'gather-ms': { type: 'string' },
    'load-every-ms': { type: 'string' },
    'cpu-profile': { type: 'string' },
    'flush-scripts': { type: 'boolean', default: false },
    'cpu-profile-fixed': { type: 'string' },
    'heap-profile-fixed': { type: 'string' },
  },
});
const PAIRS = Number(argv.pairs);
/** How long the idle floor is measured before each sink mode's fixed-rate phases. */
const IDLE_FLOOR_MS = 5_000;
const RATES = argv.rate!.split(',').map(Number);
const SINKS = argv.sinks!.split(',') as ('direct' | 'log')[];
if (SINKS.some((m) => m !== 'direct' && m !== 'log')) throw new Error('--sinks takes direct and/or log');
const LATENCY_S = Number(argv['latency-seconds']);
const SAT_PAIRS = Number(argv['saturation-pairs']);
const PARKED = Number(argv.parked);
const ACCOUNTS = Number(argv.accounts);
/** Unset: each sink mode's own default (`sink.maxBatchDelayMs`: 50 ms with the log, 200 direct), which is what a deployment runs. */
const BATCH_DELAY_MS = argv['batch-delay-ms'] === undefined ? undefined : Number(argv['batch-delay-ms']);
const TARGETS = { cpuRatioToCeiling: 2, p99MsAt: { 1000: 100, 2500: 250 } as Record<number, number>, visibleP99Ms: 2_000, cpuUsPerMsgAt1000: 600, redisBytesPerLeg: 300 };

const nowMs = () => performance.timeOrigin + performance.now();
const log = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
const say = (s: string) => process.stdout.write(`${s}\n`);
const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

function configOf(n: BenchNames, database: string, dataDir: string, mode: 'direct' | 'log' = SINKS[0]!): Config {
  return parseConfig({
    namespace: n.namespace,
    workerId: `${n.namespace}-w0`,
    nats: {
      ...n.nats,
      servers: [process.env.NATS_URL ?? '127.0.0.1:4222'],
      maxAckPending: Number(argv['max-ack-pending']),
      ...(argv['gather-ms'] !== undefined && { gatherMs: Number(argv['gather-ms']) }),
    },
    redis: { url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
    clickhouse: { database, dataDir, ...(process.env.CLICKHOUSE_URL && { url: process.env.CLICKHOUSE_URL }) },
    // Event-time windows long enough that clean pairs always meet; injected faults expire at the end.
    matching: { windowMs: 60_000, allowedLatenessMs: 5_000, ledgerIdleMs: 3_600_000, sweepIntervalMs: 1_000, lateRetentionMs: 3_600_000 },
    balances: { intervalMs: 3_600_000, onChangeDebounceMs: 3_600_000, driftGraceMs: 3_600_000 },
    sink: {
      maxBatchRows: Number(argv['max-batch-rows']),
      ...(BATCH_DELAY_MS !== undefined && { maxBatchDelayMs: BATCH_DELAY_MS }),
      mode,
      log: { stream: `BFACTS_${n.namespace}`, subject: `bfacts_${n.namespace}`, ...(argv['load-every-ms'] !== undefined && { loadEveryMs: Number(argv['load-every-ms']) }) },
    },
    ...trafficConfig(ACCOUNTS),
    http: { port: -1 },
    log: { level: 'warn' },
  });
}

/** (a) Consume-and-ack every message of both streams with a bare durable pull consumer. */
async function ceiling(
  jsm: JetStreamManager,
  nc: NatsConnection,
  cfg: Config,
  total: number,
  cpu: CpuAccounting,
): Promise<{ msgsPerSec: number; seconds: number; cpuUsPerMsg: ReturnType<typeof perMessage> }> {
  const js = jetstream(nc);
  const name = 'ceiling';
  for (const s of [cfg.nats.ledgerStream, cfg.nats.chainStream]) {
    await jsm.consumers.add(s, { durable_name: name, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, max_ack_pending: cfg.nats.maxAckPending });
  }
  let count = 0;
  const t0 = nowMs();
  const c0 = cpu.sample();
  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));
  const handles = await Promise.all(
    [cfg.nats.ledgerStream, cfg.nats.chainStream].map(async (s) => {
      const c = await js.consumers.get(s, name);
      const msgs = await c.consume({ max_messages: cfg.nats.pullBatch });
      void (async () => {
        for await (const m of msgs) {
          m.ack();
          if (++count === total) finish();
        }
      })();
      return msgs;
    }),
  );
  await done;
  const seconds = (nowMs() - t0) / 1_000;
  const cpuUsPerMsg = perMessage(cpu.since(c0), total);
  for (const h of handles) h.stop();
  for (const s of [cfg.nats.ledgerStream, cfg.nats.chainStream]) await jsm.consumers.delete(s, name).catch(() => undefined);
  return { msgsPerSec: total / seconds, seconds, cpuUsPerMsg };
}

/** `daemon 40 + redis 60 + nats 20 = 120 µs` and the cores that rate needs. */
function cpuLine(c: ReturnType<typeof perMessage>, msgsPerSec: number): string {
  return `CPU per message: this process ${c.daemon} µs (JavaScript thread ${c.main}, other threads ${c.daemon - c.main}: chdb, libuv, GC) + Redis ${c.redis} µs + NATS ${c.nats} µs = ${c.total} µs (${fmt((c.total * msgsPerSec) / 1e6, 2)} cores at that rate)`;
}

function percentiles(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => (s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!);
  return { n: s.length, p50: q(50), p95: q(95), p99: q(99), max: s[s.length - 1] ?? NaN };
}

async function waitUntil(what: string, probe: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

async function main() {
  const started = new Date();
  const { dataDir, clickhouse } = benchClickHouse('bench', 'bench');
  // Time spent in ClickHouse calls (inserts and existence lookups), to attribute the pipeline's time;
  // inserts per table; when each match fact became visible (its insert returned).
  const chTime = { insertMs: 0, inserts: 0, queryMs: 0, queries: 0 };
  const insertsByTable = new Map<string, number>();
  const durableAt = new Map<string, number>();
  const visibleAt = new Map<string, number>();
  const insertsLine = (seconds: number) =>
    [...insertsByTable]
      .sort((x, y) => y[1] - x[1])
      .map(([t, c]) => `${t} ${fmt(c / seconds, 1)}/s`)
      .join(', ');
  const rawInsert = clickhouse.insert.bind(clickhouse);
  (clickhouse as unknown as Record<string, unknown>).insert = async (params: Parameters<typeof rawInsert>[0]) => {
    const r = await rawInsert(params);
    const table = params.table.split('.').pop()!;
    insertsByTable.set(table, (insertsByTable.get(table) ?? 0) + 1);
    if (table === 'matches' && Array.isArray(params.values)) {
      const t = nowMs();
      for (const v of params.values as unknown[]) {
        if (v instanceof PreEncodedRows) for (const id of firstColumnStrings(v.text)) visibleAt.set(id, t);
        else visibleAt.set(String((v as unknown[])[MATCH_ID_COLUMN]), t);
      }
    }
    return r;
  };
  for (const [method, ms, count] of [
    ['insert', 'insertMs', 'inserts'],
    ['query', 'queryMs', 'queries'],
  ] as const) {
    const original = clickhouse[method].bind(clickhouse) as (...a: unknown[]) => Promise<unknown>;
    (clickhouse as unknown as Record<string, unknown>)[method] = async (...a: unknown[]) => {
      const t = nowMs();
      try {
        return await original(...a);
      } finally {
        chTime[ms] += nowMs() - t;
        chTime[count]++;
      }
    };
  }
  const nc = await connect({ servers: [process.env.NATS_URL ?? '127.0.0.1:4222'] });
  const jsm = await jetstreamManager(nc);
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const publisher = startPublisher();
  const cpu = await cpuAccounting(redis);
  const lua = await luaVm(redis, argv['flush-scripts']);
  console.log(describeLuaVm(lua, argv['flush-scripts']));
  const n1 = benchNames();
  const n2 = benchNames();
  const suffix = `${process.pid}_${Date.now().toString(36)}`;
  const cfg = configOf(n1, `bench_${suffix}`, dataDir);
  const traffic: TrafficOptions = { accounts: ACCOUNTS, faultShare: 0.01, tag: n1.namespace };
  let daemon: Daemon | undefined;
  const result: Record<string, unknown> = {
    startedAt: started.toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
    clickhouse: process.env.CLICKHOUSE_URL ? 'http' : 'chdb',
    chainSource: 'synthetic chain events published into the CHAIN stream in the ingester wire format (no anvil)',
    params: {
      pairs: PAIRS,
      rates: RATES,
      sinks: SINKS,
      latencySeconds: LATENCY_S,
      saturationPairs: SAT_PAIRS,
      parked: PARKED,
      accounts: ACCOUNTS,
      faultShare: 0.01,
      sink: cfg.sink,
      nats: { maxAckPending: cfg.nats.maxAckPending, pullBatch: cfg.nats.pullBatch },
    },
    targets: TARGETS,
    redisLua: lua,
  };
  try {
    await ensureStreams(jsm, cfg);
    await ensureConsumers(jsm, cfg);

    // Backlog for the ceiling and the sustained-throughput run.
    say(`publishing a backlog of ${fmt(PAIRS)} pairs (${fmt(PAIRS * 2)} events, 1% injected discrepancies)…`);
    const pub = await publisher.publish(n1, traffic, 0, PAIRS, null);
    const backlogMsgs = pub.messages;
    say(`  published ${fmt(backlogMsgs)} messages in ${fmt(pub.seconds, 1)} s (${fmt(backlogMsgs / pub.seconds)} msgs/s)`);

    // (a) ceiling
    const ceil = await ceiling(jsm, nc, cfg, backlogMsgs, cpu);
    say(`(a) ceiling: bare consume-and-ack ${fmt(ceil.msgsPerSec)} msgs/s (${fmt(backlogMsgs)} messages in ${fmt(ceil.seconds, 2)} s)`);
    say(`    ${cpuLine(ceil.cpuUsPerMsg, ceil.msgsPerSec)}`);
    result.ceiling = { msgsPerSec: Math.round(ceil.msgsPerSec), messages: backlogMsgs, seconds: ceil.seconds, cpuUsPerMsg: ceil.cpuUsPerMsg };
    result.cpuSources = cpu.sources;

    // (b) sustained throughput: the daemon drains the backlog.
    Object.assign(chTime, { insertMs: 0, inserts: 0, queryMs: 0, queries: 0 });
    insertsByTable.clear();
    let processed = 0;
    let batches = 0;
    const onBatch = (r: BatchReport) => {
      const t = nowMs();
      processed += r.messages;
      batches++;
      for (const f of r.written) if (f.table === 'matches') durableAt.set(f.row.match_id, t);
    };
    const t0 = nowMs();
    daemon = await startDaemon(cfg, { clickhouse, log, onBatch, ingest: false });
    await daemon.ready;
    const tReady = nowMs();
    // The migrations' own inserts are not the drain's.
    Object.assign(chTime, { insertMs: 0, inserts: 0, queryMs: 0, queries: 0 });
    insertsByTable.clear();
    const drainCpu0 = cpu.sample();
    const profiler = argv['cpu-profile'] ? new Session() : null;
    if (profiler) {
      profiler.connect();
      await profiler.post('Profiler.enable');
      await profiler.post('Profiler.start');
    }
    const rssSamples: number[] = [];
    const rssTimer = setInterval(() => rssSamples.push(process.memoryUsage().rss), 250);
    await waitUntil('backlog drained', () => processed >= backlogMsgs, 600_000, 20);
    // Durable and acked; with the fact log, also loaded (the loader's CPU belongs to the drain).
    await daemon.factsLoaded();
    const tDrained = nowMs();
    const drainCpu = perMessage(cpu.since(drainCpu0), backlogMsgs);
    if (profiler) {
      const { profile } = await profiler.post('Profiler.stop');
      writeFileSync(argv['cpu-profile']!, JSON.stringify(profile));
      profiler.disconnect();
      say(`    CPU profile of the drain written to ${argv['cpu-profile']}`);
    }
    clearInterval(rssTimer);
    const drainBatches = batches;
    const drainCh = { ...chTime };
    const drainSeconds = (tDrained - tReady) / 1_000;
    const tput = backlogMsgs / drainSeconds;
    const cpuRatio = drainCpu.total / ceil.cpuUsPerMsg.total;
    const cpuMet = cpuRatio <= TARGETS.cpuRatioToCeiling;
    say(
      `(b) sustained throughput, sink ${cfg.sink.mode}: ${fmt(tput)} msgs/s (${fmt(backlogMsgs)} messages in ${fmt(drainSeconds, 2)} s; daemon start ${fmt((tReady - t0) / 1_000, 2)} s; ${fmt(drainBatches)} sink batches of ${fmt(backlogMsgs / drainBatches)} messages on average; ClickHouse busy ${fmt(drainCh.insertMs / 1_000, 2)} s in ${drainCh.inserts} inserts (${fmt(drainCh.inserts / drainSeconds, 1)}/s; ${insertsLine(drainSeconds)}), ${fmt(drainCh.queryMs / 1_000, 2)} s in ${drainCh.queries} lookups) = ${fmt((tput / ceil.msgsPerSec) * 100, 1)}% of the ceiling's rate`,
    );
    say(`    ${cpuLine(drainCpu, tput)}: ${fmt(cpuRatio, 2)}× the ceiling's ${ceil.cpuUsPerMsg.total} µs [target ≤ ${TARGETS.cpuRatioToCeiling}×: ${cpuMet ? 'MET' : 'MISSED'}]`);
    result.throughput = {
      sink: cfg.sink.mode,
      msgsPerSec: Math.round(tput),
      seconds: drainSeconds,
      ratioToCeiling: tput / ceil.msgsPerSec,
      cpuRatioToCeiling: cpuRatio,
      met: cpuMet,
      sinkBatches: drainBatches,
      clickhouse: drainCh,
      insertsByTable: Object.fromEntries(insertsByTable),
      peakRssMiB: Math.round(Math.max(...rssSamples, 0) / 2 ** 20),
      cpuUsPerMsg: drainCpu,
    };
    await daemon.stop();
    daemon = undefined;

    // (c) latency at fixed offered loads, per sink mode (each a daemon on the same streams and state), then at saturation.
    const stored = async () => {
      let n = 0;
      for (const st of [cfg.nats.ledgerStream, cfg.nats.chainStream]) n += (await jsm.streams.info(st)).state.messages;
      return n;
    };
    let nextPair = PAIRS;
    const fixedResults: Record<string, unknown>[] = [];
    let fixedMet = true;
    for (const mode of SINKS) {
      const cfgMode = configOf(n1, cfg.clickhouse.database, dataDir, mode);
      await ensureStreams(jsm, cfgMode);
      await ensureConsumers(jsm, cfgMode);
      daemon = await startDaemon(cfgMode, { clickhouse, log, onBatch, ingest: false });
      await daemon.ready;
      // The floor: what the idle daemon (its timers, the embedded engine's background threads), Redis
      // and NATS cost with no traffic at all; at a low rate it is a large part of the CPU per message.
      await mergesSettled(clickhouse, 60_000);
      const idle0 = cpu.sample();
      await new Promise((r) => setTimeout(r, IDLE_FLOOR_MS));
      const idle = cpu.since(idle0);
      const perSec = (x: number) => x / (IDLE_FLOOR_MS / 1_000);
      const idleCores = perSec(idle.daemon + idle.redis + idle.nats);
      say(
        `    idle floor, sink ${mode}: ${fmt(idleCores, 3)} cores (this process ${fmt(perSec(idle.daemon), 3)}: JavaScript thread ${fmt(perSec(idle.main), 3)}, other threads ${fmt(perSec(idle.daemon - idle.main), 3)}; Redis ${fmt(perSec(idle.redis), 3)}; NATS ${fmt(perSec(idle.nats), 3)}) = ${fmt(idleCores * 1e3)} µs per message at 1,000 events/s`,
      );
      for (const rate of RATES) {
        const ratePairs = rate / 2;
        const from = nextPair;
        const to = from + Math.round(ratePairs * LATENCY_S);
        nextPair = to;
        say(`(c) latency, sink ${mode}, at ${fmt(rate)} events/s for ${LATENCY_S} s…`);
        // The parts of what ran before (the backlog drain above all) merge first, so that the
        // phase's CPU is its own: a steady load's merges of its own parts still count.
        const settled = await mergesSettled(clickhouse, 60_000);
        say(`    ClickHouse merges of earlier phases settled in ${fmt(settled.ms)} ms${settled.running > 0 ? ` (${settled.running} still running: counted in this phase)` : ''}`);
        const storedBefore = await stored();
        Object.assign(chTime, { insertMs: 0, inserts: 0, queryMs: 0, queries: 0 });
        insertsByTable.clear();
        const cpu0 = cpu.sample();
        const t0 = nowMs();
        // A V8 profile of the first fixed-rate phase, when asked for.
        const fixedProfiler = argv['cpu-profile-fixed'] && fixedResults.length === 0 ? new Session() : null;
        if (fixedProfiler) {
          fixedProfiler.connect();
          await fixedProfiler.post('Profiler.enable');
          await fixedProfiler.post('Profiler.start');
        }
        // Where the phase allocates (sampled, the objects the young and old generation collections
        // reclaimed included): a .heapprofile for Chrome DevTools, when asked for.
        const heapProfiler = argv['heap-profile-fixed'] && fixedResults.length === 0 ? new Session() : null;
        if (heapProfiler) {
          heapProfiler.connect();
          await heapProfiler.post('HeapProfiler.enable');
          await heapProfiler.post('HeapProfiler.startSampling', { samplingInterval: 16_384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true } as never);
        }
        // Unacknowledged core publishes: the generator shares the two cores, so it should cost little.
        const fixed = await publisher.publish(n1, traffic, from, to, ratePairs, 256, false);
        await waitUntil('fixed-rate matches durable', () => fixed.samples.every(([m]) => durableAt.has(m)), 120_000);
        await waitUntil('fixed-rate matches visible', () => fixed.samples.every(([m]) => visibleAt.has(m)), 120_000);
        const seconds = (nowMs() - t0) / 1_000;
        if (fixedProfiler) {
          const { profile } = await fixedProfiler.post('Profiler.stop');
          writeFileSync(argv['cpu-profile-fixed']!, JSON.stringify(profile));
          fixedProfiler.disconnect();
          say(`    CPU profile of this phase written to ${argv['cpu-profile-fixed']}`);
        }
        if (heapProfiler) {
          const { profile } = await heapProfiler.post('HeapProfiler.stopSampling');
          writeFileSync(argv['heap-profile-fixed']!, JSON.stringify(profile));
          heapProfiler.disconnect();
          say(`    allocation profile of this phase written to ${argv['heap-profile-fixed']}`);
        }
        // The phase's CPU, the generator's included (it shares the cores: part of the load on this machine).
        const fixedCpu = perMessage(cpu.since(cpu0), fixed.messages);
        const generatorUs = Math.round((fixed.cpuSeconds * 1e6) / fixed.messages);
        const storedFixed = (await stored()) - storedBefore;
        if (storedFixed !== fixed.messages) throw new Error(`the streams stored ${storedFixed} of the ${fixed.messages} messages published at the fixed rate`);
        const decided = percentiles(fixed.samples.map(([m, t]) => durableAt.get(m)! - t));
        const visible = percentiles(fixed.samples.map(([m, t]) => visibleAt.get(m)! - t));
        const offered = fixed.messages / fixed.seconds;
        const target = TARGETS.p99MsAt[rate];
        const met = (target === undefined || decided.p99 < target) && visible.p99 < TARGETS.visibleP99Ms && (rate !== 1000 || fixedCpu.total <= TARGETS.cpuUsPerMsgAt1000);
        fixedMet &&= met;
        say(
          `    offered ${fmt(offered)} events/s: decided and durable p50 ${fmt(decided.p50, 1)} ms, p95 ${fmt(decided.p95, 1)} ms, p99 ${fmt(decided.p99, 1)} ms, max ${fmt(decided.max, 1)} ms${target !== undefined ? ` [target p99 < ${target} ms]` : ''}; visible in ClickHouse p50 ${fmt(visible.p50, 1)} ms, p99 ${fmt(visible.p99, 1)} ms [target < ${TARGETS.visibleP99Ms} ms] (${fmt(decided.n)} matches): ${met ? 'MET' : 'MISSED'}`,
        );
        say(
          `    ${cpuLine(fixedCpu, offered)}${rate === 1000 ? ` [target ≤ ${TARGETS.cpuUsPerMsgAt1000} µs]` : ''}; the load generator's publishing ${generatorUs} µs more; ClickHouse ${fmt(chTime.inserts / seconds, 1)} inserts/s (${insertsLine(seconds)})`,
        );
        fixedResults.push({
          sink: mode,
          rate,
          offeredEventsPerSec: Math.round(offered),
          decided,
          visible,
          met,
          cpuUsPerMsg: fixedCpu,
          generatorCpuUsPerMsg: generatorUs,
          clickhouseInsertsPerSec: chTime.inserts / seconds,
          insertsPerSecByTable: Object.fromEntries([...insertsByTable].map(([t, c]) => [t, c / seconds])),
        });
      }
      if (mode !== SINKS[SINKS.length - 1]) {
        await daemon.stop();
        daemon = undefined;
      }
    }

    say(`    saturation, sink ${SINKS[SINKS.length - 1]}: ${fmt(SAT_PAIRS * 2)} events as fast as the publisher can…`);
    const processedBefore = processed;
    const satFrom = nextPair;
    const satTo = satFrom + SAT_PAIRS;
    const tSat0 = nowMs();
    const sat = await publisher.publish(n1, traffic, satFrom, satTo, null, 1_024);
    await waitUntil('saturation matches durable', () => sat.samples.every(([m]) => durableAt.has(m)), 300_000);
    const tSat1 = nowMs();
    const latSat = percentiles(sat.samples.map(([m, t]) => durableAt.get(m)! - t));
    const satTput = (processed - processedBefore) / ((tSat1 - tSat0) / 1_000);
    say(
      `    saturation: offered ${fmt(sat.messages / sat.seconds)} events/s, processed ${fmt(satTput)} msgs/s: p50 ${fmt(latSat.p50, 1)} ms, p95 ${fmt(latSat.p95, 1)} ms, p99 ${fmt(latSat.p99, 1)} ms, max ${fmt(latSat.max, 1)} ms`,
    );
    result.latency = {
      fixed: fixedResults,
      saturation: { offeredEventsPerSec: Math.round(sat.messages / sat.seconds), processedMsgsPerSec: Math.round(satTput), ...latSat },
    };
    await daemon!.factsLoaded();

    // (e) correctness: close every window, let the sweeper raise what is missing, then check.
    const farAhead = Date.now() + 120_000;
    await closeWindows({ js: jetstream(nc), ledgerSubject: n1.ledgerSubject, chainSubjectPrefix: n1.nats.chainSubjectPrefix }, farAhead, n1.namespace);
    await waitUntil(
      'windows closed and backlog drained',
      async () => {
        await daemon!.sweep();
        const p = await daemon!.store.parkedCount();
        return p.bank + p.chain === 0 && (await backlog(jsm, [cfg.nats.ledgerStream, cfg.nats.chainStream], cfg.nats.consumerName)) === 0;
      },
      120_000,
      250,
    );
    await daemon!.factsLoaded();
    const pairs = Array.from({ length: satTo }, (_, i) => makePair(i, traffic, 0));
    const expected = expectedOf(pairs, 1);
    const verdict = await verify(clickhouse, cfg.clickhouse.database, expected);
    say(
      `(e) correctness: ${fmt(verdict.discrepanciesFound)}/${fmt(verdict.discrepanciesExpected)} injected discrepancies found, ${verdict.falseDiscrepancies.length} false, ${verdict.missingMatches.length} matches missing, ${verdict.falseMatches.length} false matches; facts stored once: ${Object.entries(
        verdict.counts,
      )
        .map(([t, c]) => `${t} ${fmt(c.raw)}/${fmt(c.final)}/${fmt(c.expected)}`)
        .join(', ')} (raw/FINAL/expected) [${verdict.ok ? 'OK' : `FAILED: ${verdict.problems.join('; ')}`}]`,
    );
    result.correctness = {
      ok: verdict.ok,
      problems: verdict.problems,
      counts: verdict.counts,
      discrepanciesFound: verdict.discrepanciesFound,
      discrepanciesExpected: verdict.discrepanciesExpected,
      falseDiscrepancies: verdict.falseDiscrepancies.length,
      missingMatches: verdict.missingMatches.length,
      falseMatches: verdict.falseMatches.length,
    };
    await daemon!.stop();
    daemon = undefined;

    // (d) memory: a second daemon, its own namespace, PARKED bank legs that never see a mint (skipped with --parked 0).
    let memMet = true;
    if (PARKED > 0) {
      const cfg2 = configOf(n2, `bench_mem_${suffix}`, dataDir);
      await ensureStreams(jsm, cfg2);
      await ensureConsumers(jsm, cfg2);
      say(`(d) memory: parking ${fmt(PARKED)} bank legs with no counterpart…`);
      let processed2 = 0;
      daemon = await startDaemon(cfg2, { clickhouse, log, ingest: false, onBatch: (r) => (processed2 += r.messages) });
      await daemon.ready;
      await redis.call('MEMORY', 'PURGE').catch(() => undefined);
      const usedBefore = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
      const rssBefore = process.memoryUsage().rss;
      const memTraffic: TrafficOptions = { accounts: ACCOUNTS, only: 'missing_mint', tag: n2.namespace };
      const tPark0 = nowMs();
      const parkPub = await publisher.publish(n2, memTraffic, 0, PARKED, null, 2_048);
      await waitUntil('legs parked', () => processed2 >= parkPub.messages, 1_800_000, 100);
      const tPark1 = nowMs();
      const parked = await daemon.store.parkedCount();
      const usedAfter = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
      if (global.gc) global.gc();
      const rssAfter = process.memoryUsage().rss;
      // A sample of what one parked leg's record holds (its packed bytes, without Redis' own overhead).
      const sampleLeg = `bank:${n2.namespace}-E-1`;
      const legRecordBytes = await daemon.store.recordBytes(sampleLeg);
      const perLeg = (usedAfter - usedBefore) / parked.bank;
      memMet = perLeg < TARGETS.redisBytesPerLeg;
      say(
        `    ${fmt(parked.bank)} legs parked in ${fmt((tPark1 - tPark0) / 1_000, 1)} s: Redis +${fmt((usedAfter - usedBefore) / 2 ** 20, 1)} MiB = ${fmt(perLeg)} bytes per pending leg (packed leg record alone ${legRecordBytes} bytes) [target < ${TARGETS.redisBytesPerLeg}: ${memMet ? 'MET' : 'MISSED'}]`,
      );
      say(
        `    daemon RSS ${fmt(rssBefore / 2 ** 20)} MiB before, ${fmt(rssAfter / 2 ** 20)} MiB with the legs parked (the daemon keeps no leg in memory: the process also hosts embedded chdb, which has just stored their ledger entries)${parked.bank < 1_000_000 ? `; at 1,000,000 legs Redis would hold ≈ ${fmt((perLeg * 1_000_000) / 2 ** 20)} MiB` : ''}`,
      );
      result.memory = {
        parkedLegs: parked.bank,
        redisBytesPerPendingLeg: Math.round(perLeg),
        redisDeltaBytes: usedAfter - usedBefore,
        legRecordBytes,
        extrapolatedRedisMiBPerMillion: Math.round((perLeg * 1_000_000) / 2 ** 20),
        met: memMet,
        daemonRssMiBBefore: Math.round(rssBefore / 2 ** 20),
        daemonRssMiBParked: Math.round(rssAfter / 2 ** 20),
        parkSeconds: (tPark1 - tPark0) / 1_000,
        parkMsgsPerSec: Math.round(parkPub.messages / ((tPark1 - tPark0) / 1_000)),
      };
      await daemon.stop();
      daemon = undefined;
    } else {
      say('(d) memory: skipped (--parked 0)');
    }

    const missed = [
      !(result.throughput as { met: boolean }).met && 'CPU per message at saturation',
      !fixedMet && 'latency or CPU at a fixed load',
      !memMet && 'Redis bytes per pending leg',
      !verdict.ok && 'correctness',
    ].filter(Boolean);
    result.summary = missed.length === 0 ? 'all targets met' : `MISSED: ${missed.join(', ')}`;
    say(`summary: ${result.summary}`);
  } finally {
    if (daemon) await daemon.stop().catch(() => undefined);
    publisher.stop();
    await cleanup(jsm, n1, redis, [`BFACTS_${n1.namespace}`]).catch(() => undefined);
    await cleanup(jsm, n2, redis, [`BFACTS_${n2.namespace}`]).catch(() => undefined);
    await redis.quit();
    await nc.close();
    await clickhouse.close().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
    result.finishedAt = new Date().toISOString();
    const dir = new URL('./results/', import.meta.url).pathname;
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${started.toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    say(`results written to ${file}`);
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);

/** Waits (up to `maxMs`) until ClickHouse runs no merge; returns how long it took and what still runs. */
async function mergesSettled(ch: { query(o: { query: string; format: 'JSONEachRow' }): Promise<{ json<T>(): Promise<T[]> }> }, maxMs: number): Promise<{ ms: number; running: number }> {
  const t0 = Date.now();
  for (;;) {
    const rows = await (await ch.query({ query: 'SELECT count() AS n FROM system.merges', format: 'JSONEachRow' })).json<{ n: string | number }>();
    const running = Number(rows[0]?.n ?? 0);
    if (running === 0 || Date.now() - t0 >= maxMs) return { ms: Date.now() - t0, running };
    await new Promise((r) => setTimeout(r, 250));
  }
}
