import type { JetStreamManager } from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import { ensureDurableConsumer, ensureStream, streamLimitsConfig } from '../streams/jetstreamSetup.js';
import type { AlertsConfig } from './alertsConfig.js';
import { DEFAULT_STREAM_LIMITS, type StreamLimits } from '../config/streamLimits.js';

/** Creates (or updates) the alert outbox stream with its retention limits, idempotently; the workers call it at start. */
export async function ensureAlertOutbox(jsm: JetStreamManager, a: AlertsConfig, replicas = 1): Promise<void> {
  await ensureStream(jsm, {
    name: a.stream,
    subjects: [`${a.subjectPrefix}.>`],
    duplicate_window: nanos(a.duplicateWindowMs),
    num_replicas: replicas,
    ...streamLimitsConfig(a.streamLimits),
  });
}

/**
 * The notifier's streams and its durable consumer: the outbox, the silences stream (one subject,
 * every silence kept), the dead-letter stream its rejected alerts go to, and the durable pull
 * consumer (explicit acks; max_ack_pending bounds the alerts held while groups wait).
 */
export async function ensureNotifierStreams(
  jsm: JetStreamManager,
  a: AlertsConfig,
  // The workers' limits of the shared dead-letter stream (nats.limits.deadLetter): the notifier
  // must bring it to the same settings, or each start of either would undo the other's.
  deadLetter: { stream: string; subjectPrefix: string; limits?: StreamLimits },
  /** nats.replicas: copies of each stream on a clustered JetStream. */
  replicas = 1,
): Promise<void> {
  await ensureAlertOutbox(jsm, a, replicas);
  await ensureStream(jsm, { name: a.silenceStream, subjects: [a.silenceSubject], num_replicas: replicas });
  await ensureStream(jsm, {
    name: deadLetter.stream,
    subjects: [`${deadLetter.subjectPrefix}.>`],
    num_replicas: replicas,
    ...streamLimitsConfig(deadLetter.limits ?? DEFAULT_STREAM_LIMITS.deadLetter),
  });
  await ensureDurableConsumer(jsm, a.stream, { name: a.consumerName, maxAckPending: a.maxAckPending, ackWaitMs: a.ackWaitMs });
}
