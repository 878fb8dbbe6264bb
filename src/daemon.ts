import { startWatchedRuleFile } from './config/watchedRuleFile.js';
import { RecentEntries } from './worker/recentEntries.js';
import { startLedgerDrain } from './jobs/ledgerDrain.js';
import { assignedPartitions } from './streams/partitions.js';
import { loadMatchingRules } from './matching/ruleFile.js';
import { reversedEntryFinder } from './worker/reversalLinking.js';
import type { Redis } from 'ioredis';
import { Gauge } from 'prom-client';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { DestinationStream, Logger } from 'pino';
import { startCases, type Cases } from './cases/startCases.js';
import { startRiskScoring, type RiskScoring } from './jobs/riskScoring.js';
import { startAmountPercentiles, type AmountPercentiles } from './jobs/amountPercentiles.js';
import { withDataStatusTrail } from './cases/dataStatusTrail.js';
import { createDurableWriter } from './worker/durableWriter.js';
import { factLogFlushed, startFactLoader } from './sinks/factLog/factLoader.js';
import { factWriterFor } from './sinks/clickhouse/factWriter.js';
import { startWorkerPipeline } from './worker/workerPipeline.js';
import { countDurableFacts, emptyWorkerStats, type WorkerStats } from './worker/workerStats.js';
import { daemonProbes } from './http/daemonProbes.js';
import { startHealthServer, type HealthServer } from './http/healthServer.js';
import { createLogger } from './observability/logger.js';
import { natsSecurityOptions } from './config/connectionSecurity.js';
import { connectRedis } from './state/redisClient.js';
import type { SecretSources } from './config/secrets.js';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Config } from './config/schema.js';
import { currencyExponent } from './domain/currencies.js';
import { factKey, type Fact } from './domain/facts.js';
import { IdentityMap } from './domain/identityMap.js';
import type { BatchReport } from './worker/ackAfterDurable.js';
import { startSweeper } from './jobs/sweeper.js';
import { startIdentityChangeRecorder } from './worker/identityChangeRecorder.js';
import { createClickHouse } from './sinks/clickhouse/createClickHouse.js';
import { migrate } from './sinks/clickhouse/migrations.js';
import { createDeadLetterSink } from './sinks/deadLetters.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import { EntryFingerprints } from './state/entryFingerprints.js';
import { MatchStore } from './state/matchStore.js';
import { ensureShardLayout } from './state/shardLayout.js';
import { startStateGuard } from './state/stateGuard.js';
import { replicaWait } from './state/replicaWait.js';
import { chainIngester, type ChainIngester } from './streams/chain/chainIngester.js';
import { ensureConsumers, ensureStreams } from './streams/jetstreamSetup.js';
import { createLedgerCodec } from './streams/ledgerCodec.js';
import { amountLimitsOf } from './domain/inputBounds.js';
import { followMappingUpdates } from './streams/mappingUpdates.js';
import { startBalanceReconciler, type BalanceReconciler } from './jobs/balanceReconciler.js';
import { startAml, type AmlRuntime } from './aml/runtime.js';

/** Running totals of the worker (src/worker/workerStats.ts). */
export type DaemonStats = WorkerStats;

/** No percentiles computed yet: thresholds from data are their floors. */
const NO_PERCENTILES: ReadonlyMap<string, bigint> = new Map();

export interface Daemon {
  config: Config;
  log: Logger;
  clickhouse: ClickHouseClient;
  /** Resolves once every identity change seen so far is in ClickHouse. */
  identityChangesFlushed(): Promise<void>;
  /** Resolves once every fact durable so far is in ClickHouse (at once with `sink.mode: direct`; the fact log loaded with `log`). */
  factsLoaded(): Promise<void>;
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
  /** The case workflow when `cases.enabled` (its SLA job's `checkNow` for tests). */
  cases: Cases | null;
  /** The AML rule engine's rules, watch list and state (null unless `aml.enabled`). */
  aml: AmlRuntime | null;
  /** Thresholds from data: percentiles of posting amounts (null unless `aml.enabled`). */
  amountPercentiles: AmountPercentiles | null;
  /** The scheduled risk score (null unless `aml.enabled`; scores only with a `risk` section). */
  riskScoring: RiskScoring | null;
  /** Graceful stop: stop pulling, make in-flight work durable and ack it, drain connections. */
  stop(): Promise<void>;
  /** Resolves when the pipeline ended (after stop, or on a fatal error). */
  done: Promise<void>;
}

export interface StartDaemonOptions {
  log?: Logger | undefined;
  /** Where the daemon's own logger writes its JSON lines when `log` is not given (default stdout). */
  logDestination?: DestinationStream | undefined;
  /** Called for every durable batch (the demo prints from it). */
  onBatch?: ((r: BatchReport) => void) | undefined;
  /** Skip the chain ingesters (a worker that only matches). */
  ingest?: boolean | undefined;
  clickhouse?: ClickHouseClient | undefined;
  /** Where `{ env }` / `{ file }` secret references are read (default: this process's environment). */
  secrets?: SecretSources | undefined;
  /** The balance job's clock (default Date.now): tests move it past the drift grace period instead of sleeping. */
  balancesClock?: (() => number) | undefined;
  /** The case jobs' clock (SLA escalation); tests move it instead of sleeping. */
  casesClock?: (() => number) | undefined;
}

/** Starts a reconciliation worker: connections, migrations, streams, ingesters, pipeline, sweeper. */
export async function startDaemon(config: Config, options: StartDaemonOptions = {}): Promise<Daemon> {
  const log =
    options.log ??
    createLogger(config.log, {
      destination: options.logDestination,
      base: { namespace: config.namespace, worker: config.workerId },
    });
  const metrics = createMetrics();
  const stats = emptyWorkerStats();

  const clickhouse = options.clickhouse ?? createClickHouse(config.clickhouse, log);
  const db = config.clickhouse.database;
  const cluster = config.clickhouse.cluster;
  await migrate(clickhouse, db, log, { cluster });
  const secrets = options.secrets ?? { env: process.env };
  const redis = connectRedis(config.redis, secrets, { enableAutoPipelining: true, lazyConnect: false });
  // ioredis reconnects by itself; without a listener each failed attempt is printed as "unhandled".
  let redisDown = false;
  redis.on('error', (err) => {
    if (!redisDown) log.warn({ err: err.message }, 'redis: connection lost; reconnecting');
    redisDown = true;
  });
  redis.on('ready', () => {
    if (redisDown) log.info('redis: reconnected');
    redisDown = false;
  });
  // The match state in Redis must be laid out in the configured shard count (or be migrated to it)
  // before anything else starts: a refusal leaves nothing running.
  await ensureShardLayout({ redis, namespace: config.namespace, shards: config.redis.shards, migrate: config.redis.migrateShards, log }).catch(async (e: unknown) => {
    await redis.quit().catch(() => undefined);
    if (!options.clickhouse) await clickhouse.close().catch(() => undefined);
    throw e;
  });
  // No async stack traces: each publish and request would capture one (measured ~0.4 ms per 1,000
  // chain events published); errors still carry the server's reason.
  const nats = await connect({ ...natsSecurityOptions(config.nats, secrets), servers: config.nats.servers, name: config.workerId, maxReconnectAttempts: -1, noAsyncTraces: true });
  const js = jetstream(nats);
  const jsm = await jetstreamManager(nats);
  await ensureStreams(jsm, config);
  await ensureConsumers(jsm, config);

  const identities = new IdentityMap(currencyExponent, { accounts: config.accounts, tokens: config.tokens });
  const durable = await createDurableWriter({
    clickhouse,
    database: db,
    jsm,
    js,
    alerts: config.alerts,
    replicas: config.nats.replicas,
    log,
    metrics,
    sink: config.sink,
    distributed: cluster !== undefined,
  });
  // With the case workflow on, a write is durable once its status changes are in the audit chain too.
  let cases: Cases | null = null;
  const writer = { ...withDataStatusTrail(durable, () => cases?.dataTrail ?? null), outbox: durable.outbox };
  const deadLetter = createDeadLetterSink({ js, subjectPrefix: config.nats.deadLetterSubjectPrefix });
  // sink.mode log: facts are durable in the fact log; one worker's loader inserts them into ClickHouse.
  const factLog = config.sink.mode === 'log' ? config.sink.log : null;
  const loader =
    factLog?.loader === true
      ? startFactLoader({
          js,
          jsm,
          stream: factLog.stream,
          consumerName: factLog.consumerName,
          clickhouse: factWriterFor(clickhouse, config.clickhouse, log),
          deadLetter,
          redis,
          leaseKey: `${config.namespace}:{factlog}:lease`,
          holderId: `${config.workerId}:${process.pid}:${Date.now()}`,
          leaseTtlMs: factLog.leaseTtlMs,
          loadEveryMs: factLog.loadEveryMs,
          maxLoadMessages: factLog.maxLoadMessages,
          log: log.child({ component: 'factLoader' }),
          metrics,
        })
      : null;
  const factsLoaded = factLog ? () => factLogFlushed(jsm, factLog) : async () => undefined;
  // Wallets moved between accounts are facts (identity_changes), logged and counted when live.
  const identityChanges = startIdentityChangeRecorder({ writer, log, metrics });
  const mappings = await followMappingUpdates({
    js,
    stream: config.nats.mappingStream,
    identities,
    log,
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
  // Throws ConfigError on an invalid rule file: a worker does not start with rules it cannot read.
  const matchingRules = m.rulesFile
    ? startWatchedRuleFile({
        file: m.rulesFile,
        load: loadMatchingRules,
        label: 'matching',
        describe: (r) => ({ version: r.version, rules: r.rules.map((x) => x.id) }),
        nats,
        reloadSubject: m.rulesReloadSubject,
        pollIntervalMs: m.rulesPollIntervalMs,
        log,
      })
    : null;
  const store = new MatchStore(redis, {
    namespace: config.namespace,
    windowMs: m.windowMs,
    toleranceMs: m.windowMs + m.allowedLatenessMs,
    retentionMs: m.lateRetentionMs,
    requireEpoch: true,
    shards: config.redis.shards,
    shardKey: config.redis.shardKey,
    partitions: config.nats.partitions.count,
    onMatchCall: (legs) => metrics.matchLegsPerCall.observe(legs),
    ...(matchingRules && { rules: () => matchingRules.current() }),
  });
  // The content first seen under each entry id. A record must outlive every state that may still act
  // on its id: legs are remembered lateRetentionMs past their event time (which precedes arrival),
  // so lateRetentionMs plus the window and lateness from first sight covers them.
  const fingerprints = new EntryFingerprints(redis, { namespace: config.namespace, ttlMs: m.lateRetentionMs + m.windowMs + m.allowedLatenessMs });
  // Matching waits for the state's epoch: rebuilt from the facts when Redis lost its memory.
  const stateGuard = startStateGuard({
    redis,
    store,
    clickhouse,
    database: db,
    identities,
    windowMs: m.windowMs,
    retentionMs: m.lateRetentionMs,
    log,
    workerId: config.workerId,
    factsLoaded,
  });
  await stateGuard.ready;
  // The case workflow before anything writes facts, so that every status change reaches its trail.
  if (config.cases.enabled) {
    cases = await startCases({
      config,
      redis,
      clickhouse,
      writer,
      outbox: writer.outbox,
      secrets,
      store,
      log: log.child({ component: 'cases' }),
      factsLoaded,
      ...(options.casesClock && { now: options.casesClock }),
    });
  }
  const codec = createLedgerCodec({ amountLimits: amountLimitsOf(config.limits.maxAmountMinor) });
  // Throws ConfigError on an invalid rule file: a worker does not start with rules it cannot read.
  // Thresholds from data: the engine reads the percentiles the job below keeps computed.
  let amountPercentiles: AmountPercentiles | null = null;
  const aml = config.aml.enabled
    ? startAml({ config, redis, nats, identities, log, percentiles: () => amountPercentiles?.current() ?? NO_PERCENTILES, segmentOf: (c) => identities.segmentOf(c) })
    : null;
  if (aml) {
    amountPercentiles = startAmountPercentiles({
      rules: () => [aml.rules.current(), ...(aml.shadow ? [aml.shadow.rules.current()] : [])],
      clickhouse,
      database: db,
      redis,
      namespace: config.namespace,
      audit: cases?.audit ?? null,
      everyMs: config.aml.percentilesEveryMs,
      log: log.child({ component: 'aml' }),
      // Segment percentiles read each rule set's own window state: the shadow's is apart.
      segments: { storeOf: (r) => (aml.shadow && r === aml.shadow.rules.current() ? aml.shadow.store : aml.store), customers: () => identities.segmentCustomers() },
    });
    await amountPercentiles.refresh();
  }
  // The risk score per customer and period, when the rule file has a `risk` section.
  const riskScoring = aml
    ? startRiskScoring({
        rules: () => aml.rules.current(),
        store: aml.store,
        customers: () => identities.accounts(),
        writer,
        redis,
        namespace: config.namespace,
        everyMs: config.aml.riskScoreEveryMs,
        log: log.child({ component: 'aml' }),
      })
    : null;

  const countFacts = (facts: readonly Fact[]) => countDurableFacts(stats, metrics, facts);

  let balances: BalanceReconciler;
  const ingesters: ChainIngester[] = [];
  // Seconds since each chain's head last moved, as seen by its active poller (a stall shows as a ramp).
  const chainHeadAge = new Gauge({
    name: 'recon_chain_head_age_seconds',
    help: 'Seconds since the chain head last advanced, as seen by the active ingester; 1 in recon_chain_stalled once it exceeds stallTimeoutMs',
    labelNames: ['chain_id'],
    registers: [metrics.registry],
  });
  const chainStalled = new Gauge({ name: 'recon_chain_stalled', help: '1 while the chain head has not moved for stallTimeoutMs', labelNames: ['chain_id'], registers: [metrics.registry] });
  if (options.ingest !== false) {
    for (const chain of config.chains) {
      const ing = chainIngester({
        chain,
        tokens: config.tokens,
        namespace: config.namespace,
        subjectPrefix: config.nats.chainSubjectPrefix,
        partitions: config.nats.partitions.count,
        js,
        redis,
        logger: log.child({ component: 'chain', chainId: chain.chainId }),
        workerId: config.workerId,
        onHeadStatus: (st) => {
          chainHeadAge.set({ chain_id: String(st.chainId) }, st.headAgeMs / 1_000);
          chainStalled.set({ chain_id: String(st.chainId) }, st.stalled ? 1 : 0);
        },
      });
      await ing.start();
      ingesters.push(ing);
    }
  }

  const pipeline = await startWorkerPipeline({
    config,
    js,
    writer,
    replicated: replicaWait(redis, { replicas: config.redis.waitReplicas, timeoutMs: config.redis.waitTimeoutMs }),
    deadLetter,
    store,
    log,
    metrics,
    stats,
    stage: {
      ledgerCodec: codec,
      identities,
      store,
      fingerprints,
      findReversed: reversedEntryFinder(clickhouse, db),
      // Originals a reversal may name before their facts are in ClickHouse (same batch, fact log).
      recentEntries: new RecentEntries({ ttlMs: 120_000, max: 100_000 }),
      ...(aml && { aml: aml.engine }),
    },
    onDurable: (r) => {
      if (r.written.some((f) => f.table === 'ledger_entries' || f.table === 'chain_events')) balances?.changed();
      options.onBatch?.(r);
    },
  });

  const sweeper = startSweeper({
    store,
    writer,
    log,
    allowedLatenessMs: m.allowedLatenessMs,
    ledgerIdleMs: m.ledgerIdleMs,
    feedStallMs: m.feedStallMs,
    retentionMs: m.lateRetentionMs,
    intervalMs: m.sweepIntervalMs,
    onFacts: countFacts,
  });
  // Which of this worker's ledger partitions (the ledger stream, without partitions) are idle, not behind.
  const ledgerDrain = startLedgerDrain({
    jsm,
    store,
    partitions: assignedPartitions(config.nats),
    consumerName: config.nats.consumerName,
    everyMs: Math.max(100, Math.min(1_000, Math.floor(m.ledgerIdleMs / 4))),
    log,
  });
  balances = startBalanceReconciler({
    config,
    clickhouse,
    writer,
    redis,
    log,
    identities,
    onFacts: countFacts,
    durableBlock: (chainId) => store.chainBlock(chainId),
    factsLoaded,
    ...(options.balancesClock && { now: options.balancesClock }),
  });

  let server: HealthServer | undefined;
  if (config.http.port >= 0) {
    const probes = daemonProbes({
      config,
      nats,
      jsm,
      redis,
      clickhouse,
      store,
      metrics,
      consuming: () => pipeline.consuming(),
      mappingFailure: () => mappings.failure(),
    });
    server = await startHealthServer({
      host: config.http.host,
      port: config.http.port,
      registry: metrics.registry,
      checks: probes.checks,
      beforeScrape: probes.sample,
      cacheMs: config.http.probeCacheMs,
      ...(cases && { handle: cases.handle }),
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
      await pipeline.stop();
      await sweeper.stop();
      await ledgerDrain.stop();
      await stateGuard.stop();
      await balances.stop();
      mappings.stop();
      await identityChanges.stop();
      await riskScoring?.stop();
      await amountPercentiles?.stop();
      aml?.stop();
      matchingRules?.stop();
      await cases?.sla.stop();
      await cases?.headExport?.stop();
      await loader?.stop();
      await server?.close();
      await nats.drain().catch(() => undefined);
      await redis.quit().catch(() => undefined);
      if (!options.clickhouse) await clickhouse.close().catch(() => undefined);
      log.info('stopped');
    })();
    return stopped;
  }

  return {
    config,
    log,
    clickhouse,
    redis,
    nats,
    metrics,
    store,
    identities,
    stats,
    ready: pipeline.ready,
    done: pipeline.done,
    stop,
    balances,
    cases,
    aml,
    riskScoring,
    amountPercentiles,
    sweep: () => sweeper.sweepOnce(),
    identityChangesFlushed: () => identityChanges.flushed().then(factsLoaded),
    factsLoaded,
    httpAddress: () => address,
  };
}
