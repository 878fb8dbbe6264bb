import { AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import type { Config } from '../config/schema.js';

/** Creates a file-backed stream, or updates it to `cfg` if it exists (idempotent; every worker calls it). */
export async function ensureStream(jsm: JetStreamManager, cfg: Partial<StreamConfig> & { name: string; subjects: string[] }): Promise<void> {
  const full: Partial<StreamConfig> & { name: string } = {
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    duplicate_window: nanos(120_000),
    ...cfg,
  };
  try {
    await jsm.streams.info(cfg.name);
    await jsm.streams.update(cfg.name, full);
  } catch (e) {
    if (!/not found/i.test(String((e as Error).message))) throw e;
    await jsm.streams.add(full);
  }
}

/**
 * Creates (or updates) the streams the engine reads and writes, idempotently: the bank's ledger,
 * the chain events the ingester publishes, identity mapping updates, and dead letters.
 */
export async function ensureStreams(jsm: JetStreamManager, config: Config): Promise<void> {
  const n = config.nats;
  await ensureStream(jsm, { name: n.ledgerStream, subjects: n.ledgerSubjects });
  await ensureStream(jsm, { name: n.chainStream, subjects: [`${n.chainSubjectPrefix}.>`] });
  await ensureStream(jsm, { name: n.mappingStream, subjects: [n.mappingSubject], max_msgs_per_subject: -1 });
  await ensureStream(jsm, { name: n.deadLetterStream, subjects: [`${n.deadLetterSubjectPrefix}.>`] });
}

/**
 * The durable pull consumers every worker shares: explicit acks, bounded in-flight messages
 * (max_ack_pending is the backpressure valve), redelivery after ack_wait.
 */
export async function ensureConsumers(jsm: JetStreamManager, config: Config): Promise<void> {
  const n = config.nats;
  for (const stream of [n.ledgerStream, n.chainStream]) {
    await ensureDurableConsumer(jsm, stream, { name: n.consumerName, maxAckPending: n.maxAckPending, ackWaitMs: n.ackWaitMs });
  }
}

/** A durable pull consumer with explicit acks, created or brought to these limits (idempotent). */
export async function ensureDurableConsumer(
  jsm: JetStreamManager,
  stream: string,
  o: { name: string; maxAckPending: number; ackWaitMs: number },
): Promise<void> {
  const cfg = {
    durable_name: o.name,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    max_ack_pending: o.maxAckPending,
    ack_wait: nanos(o.ackWaitMs),
    max_deliver: -1,
  };
  try {
    await jsm.consumers.info(stream, o.name);
    await jsm.consumers.update(stream, o.name, { max_ack_pending: cfg.max_ack_pending, ack_wait: cfg.ack_wait, max_deliver: cfg.max_deliver });
  } catch (e) {
    if (!/not found/i.test(String((e as Error).message))) throw e;
    await jsm.consumers.add(stream, cfg);
  }
}
