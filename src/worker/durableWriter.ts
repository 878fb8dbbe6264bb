import type { ClickHouseClient } from '@clickhouse/client';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { startAlertOutbox, withAlertOutbox, type AlertOutbox } from '../alerts/alertOutbox.js';
import type { AlertsConfig } from '../alerts/alertsConfig.js';
import { createFactWriter, type FactWriter } from '../sinks/clickhouse/factWriter.js';
import { timed, type Metrics } from '../observability/metrics.js';

export interface DurableWriterOptions {
  clickhouse: ClickHouseClient;
  database: string;
  jsm: JetStreamManager;
  js: JetStreamClient;
  alerts: AlertsConfig;
  /** nats.replicas, for the alert outbox stream. */
  replicas: number;
  log: Logger;
  metrics: Metrics;
}

/**
 * What "durable" means for every fact the worker writes (pipeline, sweeper, balances, identity
 * changes): inserted into ClickHouse (deduplicated by fact id), then, for alert-worthy facts,
 * published to the ALERTS outbox stream and acked by JetStream. Only after both does a write
 * resolve, so only then is the input that produced the facts acked. Each write is timed as
 * `recon_clickhouse_duration_seconds{operation="insert"}` and its failures counted.
 */
export async function createDurableWriter(o: DurableWriterOptions): Promise<FactWriter & { outbox: AlertOutbox | undefined }> {
  const outbox = await startAlertOutbox(o.jsm, o.js, o.alerts, o.replicas);
  const inner = withAlertOutbox(createFactWriter(o.clickhouse, o.database, { log: o.log }), outbox);
  return {
    ...inner,
    /** The outbox itself, for alerts that are not facts (SLA breaches). */
    outbox,
    write: async (...args) => {
      try {
        return await timed(o.metrics.clickhouseSeconds, { operation: 'insert' }, () => inner.write(...args));
      } catch (e) {
        o.metrics.clickhouseErrors.inc({ operation: 'insert' });
        throw e;
      }
    },
  };
}
