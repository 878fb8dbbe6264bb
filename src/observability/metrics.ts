import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Latency buckets (seconds) for calls to Redis and ClickHouse: 0.5 ms to 10 s. */
const CALL_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** End-to-end buckets (seconds): a match is durable within ~100 ms normally, minutes when a leg is late. */
const E2E_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];
const SIZE_BUCKETS = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

/**
 * The daemon's Prometheus metrics. Units are in the names (`_seconds`, `_blocks`, `_messages`,
 * `_rows`, `_total` for counters); labels have bounded cardinality (source, stream, outcome, kind,
 * table, operation, chain id, channel: never an account, a wallet or an id). Every series with a
 * known label set is created at zero up front, so `rate()` and `absent()` work from the first scrape.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'recon_process_' });
  const r = [registry];
  const m = {
    registry,
    messagesIn: new Counter({ name: 'recon_messages_in_total', help: 'JetStream messages received, by source (ledger, chain)', labelNames: ['source'], registers: r }),
    outcomes: new Counter({
      name: 'recon_correlation_outcomes_total',
      help: 'Messages made durable, by source and correlation outcome (match, parked, mismatch, orphan, progress, …)',
      labelNames: ['source', 'outcome'],
      registers: r,
    }),
    discrepancies: new Counter({ name: 'recon_discrepancy_events_total', help: 'Discrepancy status changes written, by kind and status', labelNames: ['kind', 'status'], registers: r }),
    matches: new Counter({ name: 'recon_matches_total', help: 'Match facts written, by flow and how they matched', labelNames: ['flow', 'match_by'], registers: r }),
    deadLetters: new Counter({ name: 'recon_dead_letters_total', help: 'Messages dead-lettered, by source and reason code', labelNames: ['source', 'code'], registers: r }),
    factsWritten: new Counter({ name: 'recon_facts_written_total', help: 'Fact rows made durable in ClickHouse, by table', labelNames: ['table'], registers: r }),
    duplicatesSkipped: new Counter({ name: 'recon_fact_duplicates_skipped_total', help: 'Facts not re-inserted because they were already durable', registers: r }),
    batchMessages: new Histogram({ name: 'recon_sink_batch_messages', help: 'JetStream messages per durable batch', buckets: SIZE_BUCKETS, registers: r }),
    batchRows: new Histogram({ name: 'recon_sink_batch_rows', help: 'Fact rows per durable batch', buckets: SIZE_BUCKETS, registers: r }),
    batchSeconds: new Histogram({
      name: 'recon_sink_batch_duration_seconds',
      help: 'Time from a batch being cut to its messages being acked (writes, retries, watermarks)',
      buckets: CALL_BUCKETS,
      registers: r,
    }),
    sinkRetries: new Counter({ name: 'recon_sink_retries_total', help: 'Batches retried because a sink (ClickHouse, Redis, the dead-letter stream) failed', registers: r }),
    redeliveries: new Counter({
      name: 'recon_redeliveries_total',
      help: 'Messages JetStream delivered again (not acked in time, or nak after a transient failure), by source',
      labelNames: ['source'],
      registers: r,
    }),
    poisonMessages: new Counter({
      name: 'recon_poison_messages_total',
      help: 'Messages dead-lettered after failing every delivery up to nats.maxDeliveries while others went through, by source and failure kind (unanticipated, dependency)',
      labelNames: ['source', 'kind'],
      registers: r,
    }),
    sinkRejections: new Counter({
      name: 'recon_sink_rejected_messages_total',
      help: 'Messages dead-lettered because ClickHouse refused their facts for good (found by bisecting the batch)',
      registers: r,
    }),
    sinkBisects: new Counter({ name: 'recon_sink_bisect_writes_total', help: 'Partial writes made while bisecting a batch ClickHouse refused', registers: r }),
    transientFailures: new Counter({
      name: 'recon_transient_failures_total',
      help: 'Messages nak-ed for redelivery after a transient failure (Redis down), by source',
      labelNames: ['source'],
      registers: r,
    }),
    endToEndSeconds: new Histogram({
      name: 'recon_end_to_end_latency_seconds',
      help: 'From the second leg of a match (since=publish: its JetStream publish time; since=event_time: the later business time of the two legs) to the match fact being durable',
      labelNames: ['since'],
      buckets: E2E_BUCKETS,
      registers: r,
    }),
    matchLegsPerCall: new Histogram({
      name: 'recon_match_legs_per_call',
      help: 'Legs per match-or-park script call: how many share one Redis round trip (nats.gatherMs)',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
      registers: r,
    }),
    redisSeconds: new Histogram({ name: 'recon_redis_duration_seconds', help: 'Redis script calls, by operation', labelNames: ['operation'], buckets: CALL_BUCKETS, registers: r }),
    clickhouseSeconds: new Histogram({
      name: 'recon_clickhouse_duration_seconds',
      help: 'ClickHouse calls, by operation (insert: one batch write, with its duplicate check)',
      labelNames: ['operation'],
      buckets: CALL_BUCKETS,
      registers: r,
    }),
    clickhouseErrors: new Counter({ name: 'recon_clickhouse_errors_total', help: 'Failed ClickHouse calls, by operation', labelNames: ['operation'], registers: r }),
    factLoadSeconds: new Histogram({
      name: 'recon_fact_load_duration_seconds',
      help: 'One load of the fact log into ClickHouse (sink.mode log): its inserts, duplicate checks and acks',
      buckets: CALL_BUCKETS,
      registers: r,
    }),
    factLoadMessages: new Counter({ name: 'recon_fact_load_messages_total', help: 'Fact log messages loaded into ClickHouse and acked', registers: r }),
    factLoadRows: new Counter({ name: 'recon_fact_load_rows_total', help: 'Rows the fact loader inserted into ClickHouse (duplicates skipped are not counted)', registers: r }),
    factLoadRetries: new Counter({ name: 'recon_fact_load_retries_total', help: 'Loads of the fact log retried after a failure (ClickHouse down)', registers: r }),
    factLoadDeadLetters: new Counter({ name: 'recon_fact_load_dead_letters_total', help: 'Fact log messages refused for good and dead-lettered', registers: r }),
    consumerPending: new Gauge({
      name: 'recon_consumer_pending_messages',
      help: 'Messages in the stream not yet delivered to the durable consumer (sampled from JetStream consumer info)',
      labelNames: ['stream'],
      registers: r,
    }),
    consumerAckPending: new Gauge({ name: 'recon_consumer_ack_pending_messages', help: 'Messages delivered but not yet acked (bounded by max_ack_pending)', labelNames: ['stream'], registers: r }),
    consumerRedelivered: new Gauge({ name: 'recon_consumer_redelivered_messages', help: 'Messages currently being redelivered, per consumer info', labelNames: ['stream'], registers: r }),
    parkedLegs: new Gauge({ name: 'recon_parked_legs', help: 'Legs waiting for their counterpart, by side', labelNames: ['side'], registers: r }),
    watermarkLagSeconds: new Gauge({ name: 'recon_watermark_lag_seconds', help: 'Wall clock minus event-time watermark, by source', labelNames: ['source'], registers: r }),
    chainHeadBlock: new Gauge({ name: 'recon_chain_head_block', help: 'Latest block number reported by the chain RPC (sampled)', labelNames: ['chain_id'], registers: r }),
    chainHeadLagBlocks: new Gauge({
      name: 'recon_chain_head_lag_blocks',
      help: 'Chain head minus the last block published as progress by this ingester (includes the confirmation depth)',
      labelNames: ['chain_id'],
      registers: r,
    }),
    dependencyUp: new Gauge({
      name: 'recon_dependency_up',
      help: '1 when the last readiness probe of a dependency succeeded (nats, redis, clickhouse, chain, consumers)',
      labelNames: ['dependency'],
      registers: r,
    }),
    dependencyProbeSeconds: new Histogram({
      name: 'recon_dependency_probe_duration_seconds',
      help: 'Readiness probe round trips, by dependency',
      labelNames: ['dependency'],
      buckets: CALL_BUCKETS,
      registers: r,
    }),
    identityChanges: new Counter({
      name: 'recon_identity_changes_total',
      help: 'Wallets linked, moved or unlinked by mapping updates received while running (not the replay at start), by kind',
      labelNames: ['kind'],
      registers: r,
    }),
    mappingFollowerUp: new Gauge({ name: 'recon_mapping_follower_up', help: '1 while the mapping update subscription runs; 0 once it ended or failed (readiness fails too)', registers: r }),
    /** Set by the alert notifier: 1 while a channel's circuit breaker is open (deliveries suspended). */
    alertChannelCircuitOpen: new Gauge({
      name: 'recon_alert_channel_circuit_open',
      help: '1 while an alert channel circuit breaker is open, by channel (pagerduty, slack)',
      labelNames: ['channel'],
      registers: r,
    }),
    /** Set by the alert notifier, per delivery attempt. */
    alertDeliveries: new Counter({
      name: 'recon_alert_deliveries_total',
      help: 'Alert deliveries, by channel and result (sent, retried, failed, suppressed)',
      labelNames: ['channel', 'result'],
      registers: r,
    }),
  };
  for (const source of ['ledger', 'chain']) {
    m.messagesIn.inc({ source }, 0);
    m.redeliveries.inc({ source }, 0);
    m.transientFailures.inc({ source }, 0);
  }
  for (const operation of ['matchOrPark', 'advanceWatermark']) m.redisSeconds.zero({ operation });
  m.clickhouseSeconds.zero({ operation: 'insert' });
  m.clickhouseErrors.inc({ operation: 'insert' }, 0);
  m.sinkRetries.inc(0);
  for (const kind of ['linked', 'moved', 'unlinked']) m.identityChanges.inc({ kind }, 0);
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;

/** Runs `fn`, observing its duration in seconds on `h` with `labels` (failures included). */
export async function timed<T>(h: Histogram<string>, labels: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const end = h.startTimer(labels);
  try {
    return await fn();
  } finally {
    end();
  }
}
