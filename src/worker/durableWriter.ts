import type { ClickHouseClient } from '@clickhouse/client';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { startAlertOutbox, withAlertOutbox, type AlertOutbox } from '../alerts/alertOutbox.js';
import type { AlertsConfig } from '../alerts/alertsConfig.js';
import { createFactWriter, type FactWriter } from '../sinks/clickhouse/factWriter.js';
import { timed, type Metrics } from '../observability/metrics.js';
import type { Config } from '../config/schema.js';
import { createFactLogWriter } from '../sinks/factLog/factLogWriter.js';

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
  /** `sink.mode` and `sink.log`: with `log`, durable means stored in the fact log stream. */
  sink?: Pick<Config['sink'], 'mode' | 'log'>;
  /** `clickhouse.cluster` is set: the fact tables are Distributed (factWriter `distributed`). */
  distributed?: boolean | undefined;
}

/**
 * What "durable" means for every fact the worker writes (pipeline, sweeper, balances, identity
 * changes): with `sink.mode: direct`, inserted into ClickHouse (deduplicated by fact id); with
 * `sink.mode: log`, stored (and on a cluster replicated) in the FACTS stream, from which the fact
 * loader inserts them into ClickHouse; then, for alert-worthy facts, published to the ALERTS
 * outbox stream and acked by JetStream. Only after both does a write resolve, so only then is the
 * input that produced the facts acked. Each write is timed as
 * `recon_clickhouse_duration_seconds{operation="insert"}` (or `"log"`) and its failures counted.
 */
export async function createDurableWriter(o: DurableWriterOptions): Promise<FactWriter & { outbox: AlertOutbox | undefined }> {
  const outbox = await startAlertOutbox(o.jsm, o.js, o.alerts, o.replicas);
  const toLog = o.sink?.mode === 'log';
  const operation = toLog ? 'log' : 'insert';
  const base = toLog
    ? createFactLogWriter({ js: o.js, subject: o.sink!.log.subject, maxMessageBytes: o.sink!.log.maxMessageBytes, messageVersion: o.sink!.log.messageVersion })
    : createFactWriter(o.clickhouse, o.database, { log: o.log, distributed: o.distributed });
  const inner = withAlertOutbox(base, outbox);
  return {
    ...inner,
    /** The outbox itself, for alerts that are not facts (SLA breaches). */
    outbox,
    write: async (...args) => {
      try {
        return await timed(o.metrics.clickhouseSeconds, { operation }, () => inner.write(...args));
      } catch (e) {
        o.metrics.clickhouseErrors.inc({ operation });
        throw e;
      }
    },
  };
}
