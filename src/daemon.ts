import { Redis } from 'ioredis';
import { Gauge } from 'prom-client';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type ConsumerMessages } from '@nats-io/jetstream';
import { map, merge, type Subscription } from 'rxjs';
import type { DestinationStream, Logger } from 'pino';
import { daemonProbes } from './http/daemonProbes.js';
import { startHealthServer, type HealthServer } from './http/healthServer.js';
import { createLogger } from './lib/logger.js';
import { natsSecurityOptions, redisSecurityOptions } from './config/connectionSecurity.js';
import type { SecretSources } from './config/secrets.js';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Config } from './config/schema.js';
import { currencyExponent } from './domain/currencies.js';
import { factKey, type Fact } from './domain/facts.js';
import { IdentityMap } from './domain/identityMap.js';
import { ackAfterDurable, type BatchReport } from './operators/ackAfterDurable.js';
import { batchForSink } from './operators/batchForSink.js';
import { processMessage } from './operators/processMessage.js';
import { startSweeper } from './pipeline/sweeper.js';
import { PoisonEvidence } from './pipeline/poisonEvidence.js';
import { startIdentityChangeRecorder } from './pipeline/identityChangeRecorder.js';
import { createClickHouse } from './sinks/clickhouse/createClickHouse.js';
import { createFactWriter } from './sinks/clickhouse/factWriter.js';
import { startAlertOutbox, withAlertOutbox } from './alerts/alertOutbox.js';
import { migrate } from './sinks/clickhouse/migrations.js';
import { createDeadLetterSink } from './sinks/deadLetters.js';
import { createMetrics, timed, type Metrics } from './sinks/metrics.js';
import { EntryFingerprints } from './state/entryFingerprints.js';
import { MatchStore } from './state/matchStore.js';
import { startStateGuard } from './state/stateGuard.js';
import { chainIngester, type ChainIngester } from './streams/chain/chainIngester.js';
import { jetstreamMessages } from './streams/jetstreamMessages.js';
import { ensureConsumers, ensureStreams } from './streams/jetstreamSetup.js';
import { createLedgerCodec } from './streams/ledgerCodec.js';
import { amountLimitsOf } from './domain/inputBounds.js';
import { followMappingUpdates } from './streams/mappingUpdates.js';
import { startBalanceReconciler, type BalanceReconciler } from './pipeline/balanceReconciler.js';
import { startAml, type AmlRuntime } from './aml/runtime.js';

export interface DaemonStats {
  messages: { ledger: number; chain: number };
  outcomes: Record<string, number>;
  matches: number;
  lateMatches: number;
  discrepanciesOpened: Record<string, number>;
  discrepanciesResolved: number;
  deadLetters: number;
  factsInserted: number;
  /** aml_alerts facts written, per rule id. */
  amlAlerts: Record<string, number>;
}

export interface Daemon {
  config: Config;
  log: Logger;
  clickhouse: ClickHouseClient;
  /** Resolves once every identity change seen so far is durable in ClickHouse. */
  identityChangesFlushed(): Promise<void>;
  redis: Redis;
  nats: NatsConnection;
  metrics: Metrics;
  store: MatchStore;
  identities: IdentityMap;
  stats: DaemonStats;
  /** Resolves once the pipeline is consuming. */
  ready: Promise<void>;
  /** Address of the metrics/health server once listening. */
  httpAddress(): string | null;
  /** One sweep now (tests and the demo use it instead of waiting for the interval). */
  sweep(): Promise<number>;
  balances: BalanceReconciler;
  /** The AML rule engine's rules, watch list and state (null unless `aml.enabled`). */
  aml: AmlRuntime | null;
  /** Graceful stop: stop pulling, make in-flight work durable and ack it, drain connections. */
  stop(): Promise<void>;
  /** Resolves when the pipeline ended (after stop, or on a fatal error). */
  done: Promise<void>;
}

export interface StartDaemonOptions {
  log?: Logger;
  /** Where the daemon's own logger writes its JSON lines when `log` is not given (default stdout). */
  logDestination?: DestinationStream;
  /** Called for every durable batch (the demo prints from it). */
  onBatch?: (r: BatchReport) => void;
  /** Skip the chain ingesters (a worker that only matches). */
  ingest?: boolean;
  clickhouse?: ClickHouseClient;
  /** Where `{ env }` / `{ file }` secret references are read (default: this process's environment). */
  secrets?: SecretSources;
}

/** Starts a reconciliation worker: connections, migrations, streams, ingesters, pipeline, sweeper. */
export async function startDaemon(config: Config, options: StartDaemonOptions = {}): Promise<Daemon> {
  const log = options.log ?? createLogger(config.log, {
    destination: options.logDestination, base: { namespace: config.namespace, worker: config.workerId },
  });
  const metrics = createMetrics();
  const stats: DaemonStats = {
    messages: { ledger: 0, chain: 0 }, outcomes: {}, matches: 0, lateMatches: 0,
    discrepanciesOpened: {}, discrepanciesResolved: 0, deadLetters: 0, factsInserted: 0, amlAlerts: {},
  };

  const clickhouse = options.clickhouse ?? createClickHouse(config.clickhouse, log);
  const db = config.clickhouse.database;
  await migrate(clickhouse, db, log);
  const secrets = options.secrets ?? { env: process.env };
  const redis = new Redis(config.redis.url, { ...redisSecurityOptions(config.redis, secrets), enableAutoPipelining: true, lazyConnect: false });
  // ioredis reconnects by itself; without a listener each failed attempt is printed as "unhandled".
  let redisDown = false;
  redis.on('error', (err) => { if (!redisDown) log.warn({ err: err.message }, 'redis: connection lost; reconnecting'); redisDown = true; });
  redis.on('ready', () => { if (redisDown) log.info('redis: reconnected'); redisDown = false; });
  // No async stack traces: each publish and request would capture one (measured ~0.4 ms per 1,000
  // chain events published); errors still carry the server's reason.
  const nats = await connect({ ...natsSecurityOptions(config.nats, secrets), servers: config.nats.servers, name: config.workerId, maxReconnectAttempts: -1, noAsyncTraces: true });
  const js = jetstream(nats);
  const jsm = await jetstreamManager(nats);
  await ensureStreams(jsm, config);
  await ensureConsumers(jsm, config);

  const identities = new IdentityMap(currencyExponent, { accounts: config.accounts, tokens: config.tokens });
  // Alert-worthy facts go to the ALERTS outbox after ClickHouse and before their input is let go.
  const rawWriter = withAlertOutbox(createFactWriter(clickhouse, db, { log }), await startAlertOutbox(jsm, js, config.alerts));
  // Every fact write (pipeline, sweeper, balances) is a ClickHouse insert: time it and count failures.
  const writer: typeof rawWriter = {
    ...rawWriter,
    write: async (...args) => {
      try {
        return await timed(metrics.clickhouseSeconds, { operation: 'insert' }, () => rawWriter.write(...args));
      } catch (e) {
        metrics.clickhouseErrors.inc({ operation: 'insert' });
        throw e;
      }
    },
  };
  const deadLetter = createDeadLetterSink({ js, subjectPrefix: config.nats.deadLetterSubjectPrefix });
  // Wallets moved between accounts are facts (identity_changes), logged and counted when live.
  const identityChanges = startIdentityChangeRecorder({ writer, log, metrics });
  const mappings = await followMappingUpdates({
    js, stream: config.nats.mappingStream, identities, log,
    onChanges: (changes, meta) => identityChanges.record(changes, meta),
    // Every worker replays the mapping stream, so a bad update is dead-lettered by each of them
    // with the same id: the dead_letters fact stays single (suspect check), the DLQ message is
    // deduplicated within the stream's duplicate window.
    onInvalid: (reason, msg) => {
      deadLetter({ msg, source: 'mapping', code: 'SCHEMA_VIOLATION', reason }, Date.now())
        .then((fact) => writer.write([fact], { suspects: new Set([factKey(fact)]) }))
        .catch((e) => log.error({ err: e, seq: msg.seq }, 'could not dead-letter an invalid mapping update'));
    },
  });
  await mappings.caughtUp;

  const m = config.matching;
  const store = new MatchStore(redis, {
    namespace: config.namespace,
    windowMs: m.windowMs,
    toleranceMs: m.windowMs + m.allowedLatenessMs,
    retentionMs: m.lateRetentionMs,
    requireEpoch: true,
  });
  // The content first seen under each entry id. A record must outlive every state that may still act
  // on its id: legs are remembered lateRetentionMs past their event time (which precedes arrival),
  // so lateRetentionMs plus the window and lateness from first sight covers them.
  const fingerprints = new EntryFingerprints(redis, { namespace: config.namespace, ttlMs: m.lateRetentionMs + m.windowMs + m.allowedLatenessMs });
  // Matching waits for the state's epoch: rebuilt from the facts when Redis lost its memory.
  const stateGuard = startStateGuard({
    redis, store, clickhouse, database: db, identities, windowMs: m.windowMs, retentionMs: m.lateRetentionMs,
    log, workerId: config.workerId,
  });
  await stateGuard.ready;
  const codec = createLedgerCodec({ amountLimits: amountLimitsOf(config.limits.maxAmountMinor) });
  // Throws ConfigError on an invalid rule file: a worker does not start with rules it cannot read.
  const aml = config.aml.enabled ? startAml({ config, redis, nats, identities, log }) : null;

  const countFacts = (facts: readonly Fact[]) => {
    for (const f of facts) {
      metrics.factsWritten.inc({ table: f.table });
      if (f.table === 'matches' && f.row.status === 'matched') {
        stats.matches++;
        if (f.row.late) stats.lateMatches++;
        metrics.matches.inc({ flow: f.row.flow, match_by: f.row.match_by });
      } else if (f.table === 'discrepancy_events') {
        metrics.discrepancies.inc({ kind: f.row.kind, status: f.row.status });
        if (f.row.status === 'open') stats.discrepanciesOpened[f.row.kind] = (stats.discrepanciesOpened[f.row.kind] ?? 0) + 1;
        else stats.discrepanciesResolved++;
      } else if (f.table === 'aml_alerts') {
        stats.amlAlerts[f.row.rule_id] = (stats.amlAlerts[f.row.rule_id] ?? 0) + 1;
      } else if (f.table === 'dead_letters') {
        stats.deadLetters++;
        metrics.deadLetters.inc({ source: f.row.source, code: f.row.reason_code });
      }
    }
  };

  let balances: BalanceReconciler;
  const ingesters: ChainIngester[] = [];
  // Seconds since each chain's head last moved, as seen by its active poller (a stall shows as a ramp).
  const chainHeadAge = new Gauge({
    name: 'recon_chain_head_age_seconds', help: 'Seconds since the chain head last advanced, as seen by the active ingester; 1 in recon_chain_stalled once it exceeds stallTimeoutMs',
    labelNames: ['chain_id'], registers: [metrics.registry],
  });
  const chainStalled = new Gauge({ name: 'recon_chain_stalled', help: '1 while the chain head has not moved for stallTimeoutMs', labelNames: ['chain_id'], registers: [metrics.registry] });
  if (options.ingest !== false) {
    for (const chain of config.chains) {
      const ing = chainIngester({
        chain, tokens: config.tokens, namespace: config.namespace, subjectPrefix: config.nats.chainSubjectPrefix,
        js, redis, logger: log.child({ component: 'chain', chainId: chain.chainId }), workerId: config.workerId,
        onHeadStatus: (st) => {
          chainHeadAge.set({ chain_id: String(st.chainId) }, st.headAgeMs / 1_000);
          chainStalled.set({ chain_id: String(st.chainId) }, st.stalled ? 1 : 0);
        },
      });
      await ing.start();
      ingesters.push(ing);
    }
  }

  let stopping = false;
  const handles: ConsumerMessages[] = [];
  const ledgerConsumer = await js.consumers.get(config.nats.ledgerStream, config.nats.consumerName);
  const chainConsumer = await js.consumers.get(config.nats.chainStream, config.nats.consumerName);
  let markReady!: () => void;
  const ready = new Promise<void>((r) => (markReady = r));
  let started = 0;
  const onStart = (h: ConsumerMessages) => {
    handles.push(h);
    if (++started === 2) markReady();
  };
  const pull = (consumer: typeof ledgerConsumer, source: 'ledger' | 'chain') =>
    jetstreamMessages({ consumer, maxMessages: config.nats.pullBatch, onStart }).pipe(
      map((msg) => {
        stats.messages[source]++;
        metrics.messagesIn.inc({ source });
        if (msg.redelivered) metrics.redeliveries.inc({ source });
        return { msg, source };
      }),
    );

  let resolveDone!: () => void;
  let rejectDone!: (e: unknown) => void;
  const done = new Promise<void>((res, rej) => { resolveDone = res; rejectDone = rej; });
  const subscription: Subscription = merge(pull(ledgerConsumer, 'ledger'), pull(chainConsumer, 'chain'))
    .pipe(
      processMessage({
        ledgerCodec: codec, identities, store, fingerprints, unmappedPolicy: m.unmappedPolicy, log, metrics, ...(aml && { aml: aml.engine }),
        poison: new PoisonEvidence({
          maxDeliveries: config.nats.maxDeliveries, minDelayMs: config.nats.redeliveryDelayMs.min, maxDelayMs: config.nats.redeliveryDelayMs.max,
          // A minute of evidence, and never less than two redelivery delays.
          windowMs: Math.max(60_000, 2 * config.nats.redeliveryDelayMs.max),
        }),
      }),
      batchForSink(config.sink.maxBatchRows, config.sink.maxBatchDelayMs),
      ackAfterDurable({
        writer, deadLetter, log, metrics, stopping: () => stopping, maxBatchMessages: config.sink.maxBatchRows,
        // Independent monotonic maxima: sent together, one pipelined round trip instead of one each.
        advanceWatermarks: (w) => timed(metrics.redisSeconds, { operation: 'advanceWatermark' }, async () => {
          await Promise.all([
            ...(w.ledger !== undefined ? [store.advanceWatermark('ledger', w.ledger)] : []),
            ...(w.chain !== undefined ? [store.advanceWatermark('chain', w.chain)] : []),
            ...[...(w.chainBlocks ?? [])].map(([chainId, block]) => store.advanceChainBlock(chainId, block)),
          ]);
        }),
      }),
    )
    .subscribe({
      next: (r) => {
        stats.factsInserted += r.inserted;
        metrics.duplicatesSkipped.inc(r.skippedDuplicates);
        for (const [k, v] of Object.entries(r.outcomes)) stats.outcomes[k] = (stats.outcomes[k] ?? 0) + v;
        countFacts(r.written);
        if (r.written.some((f) => f.table === 'ledger_entries' || f.table === 'chain_events')) balances?.changed();
        options.onBatch?.(r);
      },
      error: (e) => { log.fatal({ err: e }, 'pipeline failed'); rejectDone(e); },
      complete: () => resolveDone(),
    });

  const sweeper = startSweeper({
    store, writer, log, allowedLatenessMs: m.allowedLatenessMs, ledgerIdleMs: m.ledgerIdleMs, feedStallMs: m.feedStallMs,
    retentionMs: m.lateRetentionMs, intervalMs: m.sweepIntervalMs, onFacts: countFacts,
  });
  balances = startBalanceReconciler({ config, clickhouse, writer, redis, log, identities, onFacts: countFacts, durableBlock: (chainId) => store.chainBlock(chainId) });

  let server: HealthServer | undefined;
  if (config.http.port >= 0) {
    const probes = daemonProbes({
      config, nats, jsm, redis, clickhouse, store, metrics, consuming: () => started === 2 && !stopping,
      mappingFailure: () => mappings.failure(),
    });
    server = await startHealthServer({
      host: config.http.host, port: config.http.port, registry: metrics.registry,
      checks: probes.checks, beforeScrape: probes.sample, cacheMs: config.http.probeCacheMs,
      onProbe: (name, ok, seconds) => {
        const dependency = name.startsWith('chain:') ? 'chain' : name;
        metrics.dependencyUp.set({ dependency }, ok ? 1 : 0);
        metrics.dependencyProbeSeconds.observe({ dependency }, seconds);
      },
    });
  }
  const address = server?.address ?? null;

  let stopped: Promise<void> | undefined;
  async function stop(): Promise<void> {
    stopped ??= (async () => {
      for (const i of ingesters) await i.stop();
      for (const h of handles) h.stop();
      // The sources complete; the last partial batch is flushed, made durable and acked.
      await Promise.race([done.catch(() => undefined), new Promise((r) => setTimeout(r, 30_000))]);
      stopping = true;
      subscription.unsubscribe();
      await sweeper.stop();
      await stateGuard.stop();
      await balances.stop();
      mappings.stop();
      await identityChanges.stop();
      aml?.stop();
      await server?.close();
      await nats.drain().catch(() => undefined);
      await redis.quit().catch(() => undefined);
      if (!options.clickhouse) await clickhouse.close().catch(() => undefined);
      log.info('stopped');
    })();
    return stopped;
  }

  return {
    config, log, clickhouse, redis, nats, metrics, store, identities, stats, ready, done, stop, balances, aml,
    sweep: () => sweeper.sweepOnce(),
    identityChangesFlushed: () => identityChanges.flushed(),
    httpAddress: () => address,
  };
}
