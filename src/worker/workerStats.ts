import type { Fact } from '../domain/facts.js';
import type { Metrics } from '../observability/metrics.js';
import type { BatchReport } from './ackAfterDurable.js';

/** Running totals of one worker since it started (the demo's summary and tests read them). */
export interface WorkerStats {
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

export function emptyWorkerStats(): WorkerStats {
  return {
    messages: { ledger: 0, chain: 0 },
    outcomes: {},
    matches: 0,
    lateMatches: 0,
    discrepanciesOpened: {},
    discrepanciesResolved: 0,
    deadLetters: 0,
    factsInserted: 0,
    amlAlerts: {},
  };
}

/** Counts durable facts (from the pipeline, the sweeper or the balance job) in the stats and the metrics. */
export function countDurableFacts(stats: WorkerStats, metrics: Metrics, facts: readonly Fact[]): void {
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
}

/** Counts a durable batch of the pipeline: inserted rows, outcomes, duplicates skipped, and its facts. */
export function countDurableBatch(stats: WorkerStats, metrics: Metrics, r: BatchReport): void {
  stats.factsInserted += r.inserted;
  metrics.duplicatesSkipped.inc(r.skippedDuplicates);
  for (const [k, v] of Object.entries(r.outcomes)) stats.outcomes[k] = (stats.outcomes[k] ?? 0) + v;
  countDurableFacts(stats, metrics, r.written);
}
