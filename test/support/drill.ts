/**
 * The frame every fault drill shares: isolated streams and Redis namespace, a migrated ClickHouse
 * (chdb, once per test file), steady synthetic traffic (test/support/drillTraffic.ts) in the
 * background, and the final check that every fact is in ClickHouse exactly once, every injected
 * discrepancy was found, no false one exists, and nothing is left unacked or undelivered.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import { parseConfig } from '../../src/config/load.js';
import type { Config, ConfigInput } from '../../src/config/schema.js';
import { startDaemon, type Daemon, type StartDaemonOptions } from '../../src/daemon.js';
import { ensureConsumers, ensureStreams } from '../../src/streams/jetstreamSetup.js';
import { tempClickHouse, type TempClickHouse } from './clickhouse.js';
import { isolatedNames, testSink } from './harness.js';
import { waitFor as waitUntil } from './waitFor.js';
import {
  backlog,
  closeWindows,
  expectedOf,
  makePair,
  messagesOfPair,
  publishMessage,
  trafficConfig,
  verify,
  type Pair,
  type TrafficOptions,
  type TrafficTarget,
  type Verdict,
} from './drillTraffic.js';

export interface DrillOptions {
  accounts?: number;
  traffic?: Partial<TrafficOptions>;
  config?: Partial<ConfigInput>;
  natsUrl?: string;
  redisUrl?: string;
  /** Skip the in-test chdb (the daemon runs in a child process that owns its data dir). */
  clickhouse?: boolean;
  /** `sink.mode` (default: RECON_TEST_SINK_MODE, else direct). */
  sinkMode?: 'direct' | 'log';
}

export interface Drill {
  names: ReturnType<typeof isolatedNames>;
  input: ConfigInput;
  config: Config;
  ch: TempClickHouse | undefined;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  target: TrafficTarget;
  traffic: TrafficOptions;
  log: Logger;
  /** An in-process daemon on this drill's config (chdb client shared). */
  startDaemon(options?: StartDaemonOptions, overrides?: Partial<Config>): Promise<Daemon>;
  cleanup(): Promise<void>;
}

/** Matching windows long enough that clean pairs always meet and nothing expires on the wall clock. */
export const DRILL_MATCHING = { windowMs: 60_000, allowedLatenessMs: 5_000, ledgerIdleMs: 3_600_000, sweepIntervalMs: 250, lateRetentionMs: 3_600_000 };

export async function startDrill(o: DrillOptions = {}): Promise<Drill> {
  const names = isolatedNames();
  const accounts = o.accounts ?? 50;
  const ch = o.clickhouse === false ? undefined : await tempClickHouse();
  const natsUrl = o.natsUrl ?? '127.0.0.1:4222';
  const { nats: natsOverrides, ...configOverrides } = o.config ?? {};
  const input: ConfigInput = {
    namespace: names.namespace,
    nats: { ...names.nats, servers: [natsUrl], ackWaitMs: 10_000, ...natsOverrides },
    redis: { url: o.redisUrl ?? 'redis://127.0.0.1:6379' },
    clickhouse: { database: ch?.database ?? 'recon', dataDir: ch?.dir ?? join(tmpdir(), `recon-drill-${names.namespace}`) },
    matching: DRILL_MATCHING,
    balances: { intervalMs: 3_600_000, onChangeDebounceMs: 3_600_000, driftGraceMs: 3_600_000 },
    sink: testSink(names, { maxBatchRows: 2_000, maxBatchDelayMs: 50 }, o.sinkMode),
    ...trafficConfig(accounts),
    http: { port: -1 },
    log: { level: 'warn' },
    ...configOverrides,
  };
  const config = parseConfig(input);
  const nc = await connect({ servers: [natsUrl], maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  await ensureStreams(jsm, config);
  await ensureConsumers(jsm, config);
  const log: Logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const daemons: Daemon[] = [];
  return {
    names,
    input,
    config,
    ch,
    nc,
    js,
    jsm,
    log,
    target: { js, ledgerSubject: names.ledgerSubject, chainSubjectPrefix: names.nats.chainSubjectPrefix },
    traffic: { accounts, tag: names.namespace, ...o.traffic },
    async startDaemon(options = {}, overrides = {}) {
      const d = await startDaemon({ ...config, workerId: `${names.namespace}-w${daemons.length}`, ...overrides }, { clickhouse: ch?.client, log, ingest: false, ...options });
      await d.ready;
      daemons.push(d);
      return d;
    },
    async cleanup() {
      for (const d of daemons) await d.stop().catch(() => undefined);
      for (const s of [config.nats.ledgerStream, config.nats.chainStream, config.nats.mappingStream, config.nats.deadLetterStream, ...(config.sink.mode === 'log' ? [config.sink.log.stream] : [])]) {
        await jsm.streams.delete(s).catch(() => undefined);
      }
      await nc.close().catch(() => undefined);
      const r = new Redis(config.redis.url, { maxRetriesPerRequest: 1, lazyConnect: true });
      try {
        await r.connect();
        const keys = await r.keys(`${config.namespace}:*`);
        if (keys.length) await r.del(...keys);
      } catch {
        // A private Redis may already be gone.
      } finally {
        r.disconnect();
      }
      await ch?.close();
    },
  };
}

export interface SteadyTraffic {
  /** Pairs handed to JetStream so far. */
  published(): number;
  /** Stops after the pair in progress; resolves with every pair published. */
  stop(): Promise<Pair[]>;
}

/**
 * Publishes pairs at `pairsPerSecond` in the background (event time = wall clock) until stopped.
 * Publishing retries while JetStream is unavailable, so a drill can restart NATS under it.
 * With `shuffle`, every block of `shuffle` pairs is published in a random order (heavy disorder).
 */
export function steadyTraffic(d: Drill, pairsPerSecond: number, o: { from?: number; shuffle?: number; traffic?: Partial<TrafficOptions> } = {}): SteadyTraffic {
  const pairs: Pair[] = [];
  let stopped = false;
  const traffic = { ...d.traffic, ...o.traffic };
  const loop = (async () => {
    const start = Date.now();
    let i = o.from ?? 0;
    const first = i;
    const block = o.shuffle ?? 1;
    while (!stopped) {
      const due = start + ((i - first) * 1_000) / pairsPerSecond;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const batch: Pair[] = [];
      for (let k = 0; k < block; k++) batch.push(makePair(i + k, traffic, Date.now()));
      const msgs = batch.flatMap((p) => messagesOfPair(p, d.target));
      if (block > 1) {
        for (let k = msgs.length - 1; k > 0; k--) {
          const j = Math.floor(Math.random() * (k + 1));
          [msgs[k], msgs[j]] = [msgs[j]!, msgs[k]!];
        }
      }
      await Promise.all(msgs.map((m) => publishMessage(d.target, m, 120_000)));
      pairs.push(...batch);
      i += block;
    }
  })();
  return {
    published: () => pairs.length,
    async stop() {
      stopped = true;
      await loop;
      return pairs;
    },
  };
}

/**
 * Closes every window (chain progress and a fee posting far ahead), then waits until no leg is
 * parked and both consumers have nothing pending or unacked. `sweep` forces a sweep when the
 * daemon is in-process; otherwise its own sweeper runs on its interval.
 */
export async function settle(d: Drill, o: { sweep?: () => Promise<unknown>; parked: () => Promise<number>; timeoutMs?: number }): Promise<void> {
  const streams = [d.config.nats.ledgerStream, d.config.nats.chainStream];
  // Everything published must be processed before event time jumps ahead: a message redelivered
  // after the jump (a crash's unacked work) would be later than any allowed lateness.
  await waitFor('consumers drained', async () => (await backlog(d.jsm, streams, d.config.nats.consumerName)) === 0, o.timeoutMs ?? 60_000);
  await closeWindows(d.target, Date.now() + d.config.matching.windowMs + d.config.matching.allowedLatenessMs + 60_000, d.names.namespace);
  await waitFor(
    'windows closed and consumers drained',
    async () => {
      await o.sweep?.();
      return (await o.parked()) === 0 && (await backlog(d.jsm, streams, d.config.nats.consumerName)) === 0;
    },
    o.timeoutMs ?? 60_000,
  );
  // With the fact log, facts reach ClickHouse once the loader has worked it off too.
  const l = d.config.sink;
  if (l.mode === 'log') await waitFor('fact log loaded', async () => (await backlog(d.jsm, [l.log.stream], l.log.consumerName)) === 0, o.timeoutMs ?? 60_000);
}

/** `settle` for an in-process daemon: its own sweep, its parked legs. */
export function settleDaemon(d: Drill, daemon: Daemon, timeoutMs = 90_000): Promise<void> {
  return settle(d, {
    sweep: () => daemon.sweep(),
    parked: async () => {
      const p = await daemon.store.parkedCount();
      return p.bank + p.chain;
    },
    timeoutMs,
  });
}

/** Checks ClickHouse against the pairs (plus settle's fee posting, and `deadLetters` more dead letters than the pairs' poison). */
export function verifyDrill(d: Drill, pairs: readonly Pair[], ch = d.ch!.client, database = d.config.clickhouse.database, o: { deadLetters?: number } = {}): Promise<Verdict> {
  const e = expectedOf(pairs, 1);
  e.poison += o.deadLetters ?? 0;
  return verify(ch, database, e);
}

export async function waitFor(what: string, probe: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 100): Promise<void> {
  await waitUntil(what, probe, timeoutMs, everyMs);
}

/** A free TCP port on 127.0.0.1 (closed again: nothing listens on it until someone binds it). */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

/** `n` distinct free TCP ports on 127.0.0.1, all held open together until every one is known. */
export async function freePorts(n: number): Promise<number[]> {
  const servers = Array.from({ length: n }, () => createServer());
  try {
    return await Promise.all(
      servers.map(
        (s) =>
          new Promise<number>((resolve, reject) => {
            s.once('error', reject);
            s.listen(0, '127.0.0.1', () => {
              const a = s.address();
              resolve(typeof a === 'object' && a ? a.port : 0);
            });
          }),
      ),
    );
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((r) => (s.listening ? s.close(() => r()) : r()))));
  }
}

/** A server process the drill owns (a private redis-server or nats-server), restartable on the same port. */
export interface PrivateServer {
  port: number;
  url: string;
  start(): Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  dispose(): Promise<void>;
}

async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const { connect: tcp } = await import('node:net');
  await waitFor(
    `port ${port}`,
    () =>
      new Promise<boolean>((r) => {
        const s = tcp(port, '127.0.0.1');
        s.once('connect', () => {
          s.destroy();
          r(true);
        });
        s.once('error', () => r(false));
      }),
    timeoutMs,
    50,
  );
}

export function privateServer(port: number, url: string, cmd: string, args: string[], onDispose: () => void = () => undefined): PrivateServer {
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  return {
    port,
    url,
    async start() {
      // A server that cannot start (its port taken meanwhile by another process's connection,
      // say) fails the start at once with its own words, instead of a wait for a port.
      const c = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      child = c;
      let stderr = '';
      c.stderr!.on('data', (b: Buffer) => void (stderr = (stderr + b.toString('utf8')).slice(-2_000)));
      let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
      exited = new Promise((r) =>
        c.once('exit', (code, signal) => {
          exit = { code, signal };
          r();
        }),
      );
      const stillRunning = exited.then(() => {
        throw new Error(`${cmd} on port ${port} exited (${exit?.code ?? exit?.signal}) before it listened: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
      });
      stillRunning.catch(() => undefined);
      await Promise.race([waitForPort(port, 20_000), stillRunning]);
    },
    async kill(signal = 'SIGKILL') {
      if (child && child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        await exited;
      }
      child = undefined;
    },
    async dispose() {
      await this.kill();
      onDispose();
    },
  };
}

/** A private in-memory redis-server (nothing on disk: a restart loses every key). */
export async function privateRedis(): Promise<PrivateServer> {
  const port = await freePort();
  const s = privateServer(port, `redis://127.0.0.1:${port}`, 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  await s.start();
  return s;
}

/** A private nats-server with JetStream and a store dir of its own (streams survive a restart). */
export async function privateNats(): Promise<PrivateServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'recon-drill-nats-'));
  const s = privateServer(port, `127.0.0.1:${port}`, 'nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir], () => rmSync(dir, { recursive: true, force: true }));
  await s.start();
  return s;
}
