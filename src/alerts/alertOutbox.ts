import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { Fact } from '../domain/facts.js';
import { SinkUnavailable } from '../lib/errors.js';
import type { FactWriter } from '../sinks/clickhouse/factWriter.js';
import { alertOfFact, alertSubject, type AlertEvent } from './alertEvent.js';
import type { AlertsConfig } from './alertsConfig.js';
import { ensureAlertOutbox } from './alertStreams.js';

export interface AlertOutbox {
  /** Publishes alerts to the ALERTS stream and resolves once JetStream stored each (msgID = eventId). */
  publish(alerts: readonly AlertEvent[]): Promise<number>;
  /** The alerts these facts stand for (not alert-worthy facts give none). */
  alertsOf(facts: readonly Fact[]): AlertEvent[];
}

export interface AlertOutboxOptions {
  js: JetStreamClient;
  alerts: AlertsConfig;
}

/**
 * The alert outbox: alert-worthy facts become JSON messages on `<prefix>.<source>.<kind>` with the
 * alert's deterministic event id as msgID, so a fact published again after a redelivery is stored
 * once (within the duplicate window; beyond it the notifier's sent-records skip it).
 */
export function createAlertOutbox(o: AlertOutboxOptions): AlertOutbox {
  const enc = new TextEncoder();
  return {
    alertsOf: (facts) => facts.map((f) => alertOfFact(f, o.alerts)).filter((a): a is AlertEvent => a !== null),
    async publish(alerts) {
      try {
        await Promise.all(alerts.map((a) => o.js.publish(alertSubject(o.alerts.subjectPrefix, a), enc.encode(JSON.stringify(a)), { msgID: a.eventId })));
      } catch (e) {
        throw new SinkUnavailable(`alert outbox unavailable: publishing ${alerts.length} alerts to ${o.alerts.stream} failed`, {
          details: e instanceof Error ? e.message : String(e),
          cause: e,
        });
      }
      return alerts.length;
    },
  };
}

/**
 * A FactWriter that, once the facts are in ClickHouse, publishes the alerts they stand for to the
 * outbox and only then resolves. Every producer of facts (the message pipeline, which acks after
 * the write; the sweeper, which confirms its claims after it; the balance reconciler, which saves
 * its drift state after it) thereby publishes before it lets go of its input: a crash in between
 * means the input comes again, the write skips what is stored and the publish repeats (same msgID).
 * Facts the writer skipped as already stored are published too: their alert may be what was lost.
 */
export function withAlertOutbox(writer: FactWriter, outbox: AlertOutbox | undefined): FactWriter {
  if (!outbox) return writer;
  return {
    async write(facts, options) {
      const r = await writer.write(facts, options);
      const alerts = outbox.alertsOf(facts);
      if (alerts.length > 0) await outbox.publish(alerts);
      return r;
    },
  };
}

/**
 * The outbox of a worker when `alerts.enabled`: ensures the ALERTS stream and returns the outbox
 * (undefined when alerting is off, which `withAlertOutbox` treats as no outbox).
 */
export async function startAlertOutbox(jsm: JetStreamManager, js: JetStreamClient, alerts: AlertsConfig, replicas = 1): Promise<AlertOutbox | undefined> {
  if (!alerts.enabled) return undefined;
  await ensureAlertOutbox(jsm, alerts, replicas);
  return createAlertOutbox({ js, alerts });
}
