import type { ConsumerMessages, JetStreamClient } from '@nats-io/jetstream';
import { map, merge, type Subscription } from 'rxjs';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { Fact } from '../domain/facts.js';
import { batchForSink } from '../operators/batchForSink.js';
import { gatherArrivals } from '../operators/gatherArrivals.js';
import type { FactWriter } from '../sinks/clickhouse/factWriter.js';
import type { DeadLetter } from '../sinks/deadLetters.js';
import { timed, type Metrics } from '../observability/metrics.js';
import type { MatchStore } from '../state/matchStore.js';
import { jetstreamMessages } from '../streams/jetstreamMessages.js';
import { assignedPartitions } from '../streams/partitions.js';
import { ackAfterDurable, type AckAfterDurableContext, type BatchReport } from './ackAfterDurable.js';
import { messageStage, type MessageStageContext, type Source } from './messageStage.js';
import { PoisonEvidence } from './poisonEvidence.js';
import { countDurableBatch, type WorkerStats } from './workerStats.js';

/** Messages passed on at once by the gather before the stage: a burst this large is a batch already. */
const GATHER_MAX = 256;

export interface WorkerPipelineOptions {
  config: Pick<Config, 'nats' | 'sink' | 'matching'>;
  js: JetStreamClient;
  /** What the message stage needs besides the poison policy (built here from `config.nats`). */
  stage: Omit<MessageStageContext, 'poison' | 'unmappedPolicy' | 'metrics' | 'log'>;
  /** The durable writer (durableWriter.ts): a batch is acked only once this resolves. */
  writer: FactWriter;
  deadLetter: (d: DeadLetter, now: number) => Promise<Fact>;
  store: MatchStore;
  log: Logger;
  metrics: Metrics;
  stats: WorkerStats;
  /** Waits for the batch's Redis writes to reach replicas before the ack (src/state/replicaWait.ts). */
  replicated?: (() => Promise<void>) | undefined;
  /** Called with every durable, acked batch. */
  onDurable?: (r: BatchReport) => void;
}

export interface WorkerPipeline {
  /** Resolves once both sources are consuming. */
  ready: Promise<void>;
  /** Resolves when the pipeline completed (after stop), rejects on a fatal error. */
  done: Promise<void>;
  /** True while both sources consume and no stop began (the readiness probe). */
  consuming(): boolean;
  /** Stops pulling, lets the in-flight batch become durable and acked (30 s at most), then ends. */
  stop(): Promise<void>;
}

/**
 * The worker pipeline, top to bottom as docs/architecture.md draws it:
 *
 *   ledger consumer ─┐
 *                    ├─ gather: a message arriving alone waits up to nats.gatherMs for others
 *   chain consumer ──┘
 *                      ─ message stage (per source: ledgerMessage.ts, chainMessage.ts)
 *                          decode → validate → fingerprint → match-or-park (Redis) → AML → facts
 *                      ─ batchForSink (rows or time)
 *                      ─ ackAfterDurable: dead letters published, facts written by the durable
 *                        writer (ClickHouse, then the alert outbox), watermarks advanced in Redis,
 *                        then every message of the batch acked
 *
 * Nothing is acked before its effects are durable; a message that fails transiently is nak'd with
 * a backoff, bad input and poison messages become dead letters (docs/failures.md).
 */
export async function startWorkerPipeline(o: WorkerPipelineOptions): Promise<WorkerPipeline> {
  const { config, js, store, log, metrics, stats } = o;
  const n = config.nats;
  const handles: ConsumerMessages[] = [];
  let stopping = false;
  let started = 0;
  let markReady!: () => void;
  const ready = new Promise<void>((r) => (markReady = r));
  // Two sources (ledger, chain) per partition this worker is bound to (src/streams/partitions.ts).
  const partitions = assignedPartitions(n);
  const expected = 2 * partitions.length;
  const onStart = (h: ConsumerMessages) => {
    handles.push(h);
    if (++started === expected) markReady();
  };

  // 1. Sources: a durable pull consumer per stream, counted as messages arrive.
  const source = async (stream: string, name: Source, partition: number) =>
    jetstreamMessages({ consumer: await js.consumers.get(stream, n.consumerName), maxMessages: n.pullBatch, expiresMs: n.pullExpiresMs, onStart }).pipe(
      map((msg) => {
        stats.messages[name]++;
        metrics.messagesIn.inc({ source: name });
        if (msg.redelivered) metrics.redeliveries.inc({ source: name });
        return { msg, source: name, partition };
      }),
    );
  const streams = [];
  for (const p of partitions) streams.push(await source(p.ledgerStream, 'ledger', p.partition), await source(p.chainStream, 'chain', p.partition));
  const sources = merge(...streams);

  // 2. Message stage: facts per message, or a dead letter, or a nak for redelivery.
  const stage = messageStage({
    ...o.stage,
    log,
    metrics,
    unmappedPolicy: config.matching.unmappedPolicy,
    poison: new PoisonEvidence({
      maxDeliveries: n.maxDeliveries,
      minDelayMs: n.redeliveryDelayMs.min,
      maxDelayMs: n.redeliveryDelayMs.max,
      // A minute of evidence, and never less than two redelivery delays.
      windowMs: Math.max(60_000, 2 * n.redeliveryDelayMs.max),
    }),
  });

  // 3 and 4. Batches, made durable, then acked.
  const durable: AckAfterDurableContext = {
    writer: o.writer,
    deadLetter: o.deadLetter,
    log,
    metrics,
    stopping: () => stopping,
    maxBatchMessages: config.sink.maxBatchRows,
    advanceWatermarks: (w) => advanceWatermarks(store, metrics, w),
    ...(o.replicated && { replicated: () => timed(metrics.redisSeconds, { operation: 'waitReplicas' }, o.replicated!) }),
  };

  let resolveDone!: () => void;
  let rejectDone!: (e: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  const subscription: Subscription = sources
    .pipe(gatherArrivals(n.gatherMs, GATHER_MAX), stage, batchForSink(config.sink.maxBatchRows, config.sink.maxBatchDelayMs), ackAfterDurable(durable))
    .subscribe({
      next: (r) => {
        countDurableBatch(stats, metrics, r);
        o.onDurable?.(r);
      },
      error: (e) => {
        log.fatal({ err: e }, 'pipeline failed');
        rejectDone(e);
      },
      complete: () => resolveDone(),
    });

  let stopped: Promise<void> | undefined;
  return {
    ready,
    done,
    consuming: () => started === expected && !stopping,
    stop: () =>
      (stopped ??= (async () => {
        for (const h of handles) h.stop();
        // The sources complete; the last partial batch is flushed, made durable and acked.
        await Promise.race([done.catch(() => undefined), new Promise((r) => setTimeout(r, 30_000))]);
        stopping = true;
        subscription.unsubscribe();
      })()),
  };
}

/**
 * Raises the event-time watermarks (ledger, chain) and each chain's durable block of every
 * partition the batch holds messages of, once its legs are in Redis. Independent monotonic maxima:
 * sent together, one pipelined round trip.
 */
async function advanceWatermarks(store: MatchStore, metrics: Metrics, marks: Parameters<AckAfterDurableContext['advanceWatermarks']>[0]): Promise<void> {
  await timed(metrics.redisSeconds, { operation: 'advanceWatermark' }, async () => {
    const now = Date.now();
    await Promise.all(
      [...marks].flatMap(([p, w]) => [
        ...(w.ledger !== undefined ? [store.advanceWatermark('ledger', w.ledger, now, p)] : []),
        ...(w.chain !== undefined ? [store.advanceWatermark('chain', w.chain, now, p)] : []),
        ...[...w.chainBlocks].map(([chainId, block]) => store.advanceChainBlock(chainId, block, now, p)),
      ]),
    );
  });
}
