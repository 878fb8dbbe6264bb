import { AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import type { AlertsConfig } from './alertsConfig.js';

async function ensureStream(jsm: JetStreamManager, cfg: Partial<StreamConfig> & { name: string; subjects: string[] }): Promise<void> {
  const full: Partial<StreamConfig> & { name: string } = {
    storage: StorageType.File, retention: RetentionPolicy.Limits, discard: DiscardPolicy.Old, duplicate_window: nanos(120_000), ...cfg,
  };
  try {
    await jsm.streams.info(cfg.name);
    await jsm.streams.update(cfg.name, full);
  } catch (e) {
    if (!/not found/i.test(String((e as Error).message))) throw e;
    await jsm.streams.add(full);
  }
}

/** Creates (or updates) the alert outbox stream, idempotently; the workers call it at start. */
export async function ensureAlertOutbox(jsm: JetStreamManager, a: AlertsConfig): Promise<void> {
  await ensureStream(jsm, { name: a.stream, subjects: [`${a.subjectPrefix}.>`], duplicate_window: nanos(a.duplicateWindowMs) });
}

/**
 * The notifier's streams and its durable consumer: the outbox, the silences stream (one subject,
 * every silence kept), the dead-letter stream its rejected alerts go to, and the durable pull
 * consumer (explicit acks; max_ack_pending bounds the alerts held while groups wait).
 */
export async function ensureNotifierStreams(jsm: JetStreamManager, a: AlertsConfig, deadLetter: { stream: string; subjectPrefix: string }): Promise<void> {
  await ensureAlertOutbox(jsm, a);
  await ensureStream(jsm, { name: a.silenceStream, subjects: [a.silenceSubject] });
  await ensureStream(jsm, { name: deadLetter.stream, subjects: [`${deadLetter.subjectPrefix}.>`] });
  const cfg = {
    durable_name: a.consumerName, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All,
    max_ack_pending: a.maxAckPending, ack_wait: nanos(a.ackWaitMs), max_deliver: -1,
  };
  try {
    await jsm.consumers.info(a.stream, a.consumerName);
    await jsm.consumers.update(a.stream, a.consumerName, { max_ack_pending: cfg.max_ack_pending, ack_wait: cfg.ack_wait, max_deliver: -1 });
  } catch (e) {
    if (!/not found/i.test(String((e as Error).message))) throw e;
    await jsm.consumers.add(a.stream, cfg);
  }
}
