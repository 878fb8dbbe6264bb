import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The daemon's Prometheus metrics. Units are in the names; labels have bounded cardinality
 * (source, outcome, kind, table: never an account or a wallet).
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'recon_process_' });
  const m = {
    registry,
    messagesIn: new Counter({ name: 'recon_messages_in_total', help: 'JetStream messages received, by source', labelNames: ['source'], registers: [registry] }),
    outcomes: new Counter({ name: 'recon_correlation_outcomes_total', help: 'Correlation outcomes, by source and outcome', labelNames: ['source', 'outcome'], registers: [registry] }),
    discrepancies: new Counter({ name: 'recon_discrepancy_events_total', help: 'Discrepancy status changes written, by kind and status', labelNames: ['kind', 'status'], registers: [registry] }),
    matches: new Counter({ name: 'recon_matches_total', help: 'Match facts written, by flow and how they matched', labelNames: ['flow', 'match_by'], registers: [registry] }),
    deadLetters: new Counter({ name: 'recon_dead_letters_total', help: 'Messages dead-lettered, by source and reason code', labelNames: ['source', 'code'], registers: [registry] }),
    factsWritten: new Counter({ name: 'recon_facts_written_total', help: 'Fact rows inserted into ClickHouse, by table', labelNames: ['table'], registers: [registry] }),
    duplicatesSkipped: new Counter({ name: 'recon_fact_duplicates_skipped_total', help: 'Facts not re-inserted because they were already durable', registers: [registry] }),
    batchMessages: new Histogram({ name: 'recon_sink_batch_messages', help: 'Messages per durable batch', buckets: [1, 10, 50, 100, 250, 500, 1000, 2500, 5000], registers: [registry] }),
    batchSeconds: new Histogram({ name: 'recon_sink_batch_duration_seconds', help: 'Time to make one batch durable and ack it', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry] }),
    parkedLegs: new Gauge({ name: 'recon_parked_legs', help: 'Legs waiting for their counterpart, by side', labelNames: ['side'], registers: [registry] }),
    watermarkLagSeconds: new Gauge({ name: 'recon_watermark_lag_seconds', help: 'Wall clock minus event-time watermark, by source', labelNames: ['source'], registers: [registry] }),
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
