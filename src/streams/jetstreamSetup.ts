import { AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import type { Config } from '../config/schema.js';
import type { StreamLimits } from '../config/streamLimits.js';
import { chainStreamSubjects } from './chain/chainSubjects.js';
import { partitionStreamName, streamPartitions } from './partitions.js';
import { ConfigError } from '../lib/errors.js';

/** JetStream settings of configured stream limits (0 / -1 in the config: no limit). */
export function streamLimitsConfig(l: StreamLimits): Pick<StreamConfig, 'max_age' | 'max_bytes' | 'max_msgs' | 'discard'> {
  return {
    max_age: nanos(l.maxAgeMs),
    max_bytes: l.maxBytes,
    max_msgs: l.maxMsgs,
    discard: l.discard === 'new' ? DiscardPolicy.New : DiscardPolicy.Old,
  };
}

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
 * the chain events the ingester publishes (each split by `nats.partitions`), identity mapping
 * updates, and dead letters, each with
 * the retention limits of `nats.limits` (docs/retention.md). The mapping stream keeps every
 * message of its one subject: replaying the whole history is how a worker rebuilds its map.
 */
export async function ensureStreams(jsm: JetStreamManager, config: Config): Promise<void> {
  const n = config.nats;
  const num_replicas = n.replicas;
  await refuseOtherPartitioning(jsm, n);
  // One ledger and one chain stream per partition (the configured names with one partition).
  for (const p of streamPartitions(n)) {
    await ensureStream(jsm, { name: p.ledgerStream, subjects: p.ledgerSubjects, num_replicas, ...streamLimitsConfig(n.limits.ledger) });
    await ensureStream(jsm, { name: p.chainStream, subjects: chainStreamSubjects(p.chainSubjectPrefix), num_replicas, ...streamLimitsConfig(n.limits.chain) });
  }
  await ensureStream(jsm, { name: n.mappingStream, subjects: [n.mappingSubject], max_msgs_per_subject: -1, num_replicas, ...streamLimitsConfig(n.limits.mappings) });
  await ensureStream(jsm, { name: n.deadLetterStream, subjects: [`${n.deadLetterSubjectPrefix}.>`], num_replicas, ...streamLimitsConfig(n.limits.deadLetter) });
  if (config.sink.mode === 'log') {
    // Facts waiting to be loaded into ClickHouse: a loaded (acked) message leaves the stream.
    const l = config.sink.log;
    await ensureStream(jsm, { name: l.stream, subjects: [l.subject], num_replicas, retention: RetentionPolicy.Workqueue });
  }
}

/**
 * Refuses to start on streams made for another partition count: their subjects overlap the ones
 * this configuration would create, which JetStream would refuse with a less helpful message.
 * Changing the count means draining and deleting the old streams (docs/deployment.md#partitioned-streams).
 */
async function refuseOtherPartitioning(jsm: JetStreamManager, n: Config['nats']): Promise<void> {
  const count = n.partitions.count;
  // With one partition the bare names are ours, and a first partition stream betrays an earlier count; with several, the bare names do.
  const others = count <= 1 ? [partitionStreamName(n.ledgerStream, 0, 2), partitionStreamName(n.chainStream, 0, 2)] : [n.ledgerStream, n.chainStream];
  for (const name of others) {
    const exists = await jsm.streams.info(name).then(
      () => true,
      (e: unknown) => {
        // Not there; or this user may not look at it (deploy/nats/nats.conf grants the names in use
        // only), in which case JetStream's own refusal of overlapping subjects is the message.
        if (/not found|permissions? violation/i.test(String((e as Error).message))) return false;
        throw e;
      },
    );
    if (exists) {
      throw new ConfigError(
        `stream ${name} exists from a deployment with ${count <= 1 ? 'partitioned streams' : 'unpartitioned streams'}, but nats.partitions.count is ${count}: drain it, delete it, then start again (docs/deployment.md#partitioned-streams)`,
      );
    }
  }
}

/**
 * The durable pull consumers every worker shares: explicit acks, bounded in-flight messages
 * (max_ack_pending is the backpressure valve), redelivery after ack_wait.
 */
export async function ensureConsumers(jsm: JetStreamManager, config: Config): Promise<void> {
  const n = config.nats;
  for (const stream of streamPartitions(n).flatMap((p) => [p.ledgerStream, p.chainStream])) {
    await ensureDurableConsumer(jsm, stream, { name: n.consumerName, maxAckPending: n.maxAckPending, ackWaitMs: n.ackWaitMs });
  }
  if (config.sink.mode === 'log') {
    // The loader holds up to two loads unacked; one message is up to sink.log.maxMessageBytes.
    const l = config.sink.log;
    await ensureDurableConsumer(jsm, l.stream, { name: l.consumerName, maxAckPending: 4 * l.maxLoadMessages, ackWaitMs: n.ackWaitMs });
  }
}

/** A durable pull consumer with explicit acks, created or brought to these limits (idempotent). */
export async function ensureDurableConsumer(jsm: JetStreamManager, stream: string, o: { name: string; maxAckPending: number; ackWaitMs: number }): Promise<void> {
  const cfg = {
    durable_name: o.name,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    max_ack_pending: o.maxAckPending,
    ack_wait: nanos(o.ackWaitMs),
    // Unlimited on purpose: past max_deliver JetStream silently stops delivering a message, which
    // would strand it unacked and unrecorded. The worker enforces nats.maxDeliveries itself and
    // dead-letters a poison message with its last error (src/worker/poisonEvidence.ts), while an
    // outage, where nothing goes through, keeps every message for redelivery.
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
