import { setTimeout as sleep } from 'node:timers/promises';
import type { OperatorFunction } from 'rxjs';
import type { Logger } from 'pino';
import { factKey, type Fact } from '../domain/facts.js';
import type { FactWriter } from '../sinks/clickhouse/factWriter.js';
import type { DeadLetter } from '../sinks/deadLetters.js';
import type { Metrics } from '../observability/metrics.js';
import type { Processed } from './messageStage.js';
import { SinkRejected } from '../lib/errors.js';
import { describeFailure } from '../lib/failureKind.js';
import { coalesceWhileBusy } from '../operators/coalesceWhileBusy.js';
import { backoffMs } from '../lib/backoff.js';

export interface AckAfterDurableContext {
  writer: FactWriter;
  deadLetter: (d: DeadLetter, now: number) => Promise<Fact>;
  /** Raises the event-time watermarks once the batch's legs are in Redis. */
  /** Per partition of the streams (0 without partitions): the batch's watermark candidates. */
  advanceWatermarks: (marks: Map<number, PartitionMarks>) => Promise<void>;
  /** Resolves once the batch's state writes are on enough Redis replicas (`redis.waitReplicas`); absent: no wait. */
  replicated?: () => Promise<void>;
  log: Logger;
  /** True once shutdown began: a failing sink is then left for redelivery instead of retried. */
  stopping: () => boolean;
  now?: () => number;
  maxBackoffMs?: number;
  /** Batch sizes and durations, retries, outcomes and end-to-end match latency are observed here when given. */
  metrics?: Metrics;
  /** Batches waiting while the sink is busy are merged into one of at most this many messages (default 5000). */
  maxBatchMessages?: number;
  /**
   * A refusal of a single message's facts dead-letters it only if the sink wrote something within
   * this long (default 60 s); otherwise the sink itself is suspect and the batch is retried.
   */
  sinkEvidenceMs?: number;
}

/** Observes what a durable batch did: outcomes, sizes, and for each match fact the latency from its second leg to now. */
function observeDurable(m: Metrics, batch: Processed[], rows: number, durableAt: number): void {
  m.batchMessages.observe(batch.length);
  m.batchRows.observe(rows);
  // Outcomes counted per batch and label pair (a label lookup per message shows at this rate).
  const outcomes = new Map<string, { source: string; outcome: string; n: number }>();
  const sincePublish = m.endToEndSeconds.labels({ since: 'publish' });
  const sinceEventTime = m.endToEndSeconds.labels({ since: 'event_time' });
  for (const p of batch) {
    if (p.outcome) {
      const k = `${p.source}\u0000${p.outcome}`;
      const o = outcomes.get(k);
      if (o) o.n++;
      else outcomes.set(k, { source: p.source, outcome: p.outcome, n: 1 });
    }
    for (const f of p.facts) {
      if (f.table !== 'matches' || f.row.status !== 'matched') continue;
      // The message that produced a match fact carries its second leg.
      const publishedMs = publishTimeMs(p);
      if (publishedMs !== undefined) sincePublish.observe(Math.max(0, durableAt - publishedMs) / 1_000);
      sinceEventTime.observe(Math.max(0, durableAt - Math.max(f.row.bank_time, f.row.chain_time)) / 1_000);
    }
  }
  for (const o of outcomes.values()) m.outcomes.inc({ source: o.source, outcome: o.outcome }, o.n);
}

function publishTimeMs(p: Processed): number | undefined {
  try {
    return p.msg.info.timestampNanos / 1e6;
  } catch {
    return undefined;
  }
}

/** One partition's watermark candidates in a batch (src/domain/partitionWatermarks.ts). */
export interface PartitionMarks {
  ledger?: number;
  chain?: number;
  chainBlocks: Map<number, bigint>;
}

/** What one durable batch did (for metrics and the demo summary). */
export interface BatchReport {
  messages: number;
  facts: number;
  inserted: number;
  skippedDuplicates: number;
  deadLetters: number;
  outcomes: Record<string, number>;
  /** Facts of the batch (the summary counts discrepancy kinds from them). */
  written: Fact[];
}

/**
 * Makes a batch's effects durable, then acks its messages: dead letters are published and stored,
 * all facts are written to ClickHouse (retried with backoff for as long as the sink is down, while
 * the messages are kept alive with `working()`), watermarks advance, and only then each message is
 * acked. Batches are handled one at a time, so a slow sink holds the pull back (max_ack_pending);
 * batches that wait meanwhile are merged, so a slow sink gets fewer, bigger inserts.
 *
 * A batch ClickHouse refuses for good (`SinkRejected`) is bisected by message: the halves are
 * written on their own, down to the message(s) whose facts the server refuses, which are
 * dead-lettered with the server's reason while the rest are written and acked. If no part of the
 * batch can be written and the sink has not written anything lately either, the refusal is the
 * sink's, not a message's (a schema out of date): the batch is retried like an outage.
 *
 *   --[p1,p2]----[p3]-->   becomes   ----r1--------r2-->   (rN once batch N is durable and acked)
 */
export function ackAfterDurable(ctx: AckAfterDurableContext): OperatorFunction<Processed[], BatchReport> {
  const now = ctx.now ?? Date.now;
  const evidenceMs = ctx.sinkEvidenceMs ?? 60_000;
  let lastDurableAt = -Infinity;
  return coalesceWhileBusy(ctx.maxBatchMessages ?? 5_000, async (batch) => {
    const endBatch = ctx.metrics?.batchSeconds.startTimer();
    const suspects = new Set<string>();
    const marks = new Map<number, PartitionMarks>();
    const outcomes: Record<string, number> = {};
    for (const p of batch) {
      for (const s of p.suspects) suspects.add(s);
      if (p.outcome) outcomes[p.outcome] = (outcomes[p.outcome] ?? 0) + 1;
      if (p.ledgerTime === undefined && p.chainTime === undefined && !p.chainBlock) continue;
      const part = p.partition ?? 0;
      let m = marks.get(part);
      if (!m) marks.set(part, (m = { chainBlocks: new Map() }));
      if (p.ledgerTime !== undefined) m.ledger = Math.max(m.ledger ?? -Infinity, p.ledgerTime);
      if (p.chainTime !== undefined) m.chain = Math.max(m.chain ?? -Infinity, p.chainTime);
      if (p.chainBlock && (m.chainBlocks.get(p.chainBlock.chainId) ?? -1n) < p.chainBlock.blockNumber) m.chainBlocks.set(p.chainBlock.chainId, p.chainBlock.blockNumber);
    }
    let attempt = 0;

    /** Publishes the part's dead letters and writes all its facts; resolves once durable. */
    const writePart = async (part: readonly Processed[]): Promise<{ written: Fact[]; inserted: number; skippedDuplicates: number }> => {
      const all: Fact[] = [];
      for (const p of part) for (const f of p.facts) all.push(f);
      for (const p of part) {
        if (!p.deadLetter) continue;
        const fact = await ctx.deadLetter({ msg: p.msg, source: p.source, ...p.deadLetter }, now());
        all.push(fact);
        if (p.msg.redelivered || attempt > 0) suspects.add(factKey(fact));
      }
      const r = await ctx.writer.write(all, { suspects });
      return { written: all, inserted: r.inserted, skippedDuplicates: r.skippedDuplicates };
    };

    /** Writes `part`, bisecting on a refusal; returns what was written and the messages refused alone. */
    const bisect = async (part: readonly Processed[]): Promise<{ written: Fact[]; inserted: number; skippedDuplicates: number; refused: { p: Processed; e: SinkRejected }[] }> => {
      try {
        return { ...(await writePart(part)), refused: [] };
      } catch (e) {
        if (!(e instanceof SinkRejected)) throw e;
        // Some tables of this part may be in already: from now on every fact is checked first.
        for (const p of batch) for (const f of p.facts) suspects.add(factKey(f));
        if (part.length === 1) return { written: [], inserted: 0, skippedDuplicates: 0, refused: [{ p: part[0]!, e }] };
        ctx.metrics?.sinkBisects.inc(2);
        const mid = part.length >> 1;
        const a = await bisect(part.slice(0, mid));
        const b = await bisect(part.slice(mid));
        return {
          written: [...a.written, ...b.written],
          inserted: a.inserted + b.inserted,
          skippedDuplicates: a.skippedDuplicates + b.skippedDuplicates,
          refused: [...a.refused, ...b.refused],
        };
      }
    };

    for (;;) {
      try {
        const r = await bisect(batch);
        if (r.refused.length > 0) {
          const sinkWorks = r.written.length > 0 || now() - lastDurableAt <= evidenceMs;
          if (!sinkWorks) throw r.refused[0]!.e;
          for (const { p, e } of r.refused) {
            ctx.log.error(
              { corr: p.corr, subject: p.msg.subject, seq: p.msg.seq, serverCode: e.serverCode, err: e.details },
              'ClickHouse refuses the facts of this message for good; dead-lettering it',
            );
            p.facts = [];
            p.suspects = [];
            p.deadLetter = {
              code: e.code,
              reason: describeFailure(
                new SinkRejected(`ClickHouse refused the facts of this message (server code ${e.serverCode})`, { serverCode: e.serverCode, ...(e.details !== undefined && { details: e.details }) }),
                4_000,
              ),
            };
          }
          ctx.metrics?.sinkRejections.inc(r.refused.length);
          const dl = await writePart(r.refused.map((x) => x.p));
          r.written.push(...dl.written);
          r.inserted += dl.inserted;
          r.skippedDuplicates += dl.skippedDuplicates;
        }
        if (marks.size > 0) await ctx.advanceWatermarks(marks);
        await ctx.replicated?.();
        for (const p of batch) p.msg.ack();
        lastDurableAt = now();
        endBatch?.();
        if (ctx.metrics) observeDurable(ctx.metrics, batch, r.written.length, now());
        if (ctx.log.isLevelEnabled('debug')) ctx.log.debug({ corr: batch.map((p) => p.corr), facts: r.written.length, inserted: r.inserted }, 'batch durable and acked');
        const deadLetters = batch.filter((p) => p.deadLetter).length;
        return { messages: batch.length, facts: r.written.length, inserted: r.inserted, skippedDuplicates: r.skippedDuplicates, deadLetters, outcomes, written: r.written };
      } catch (e) {
        attempt++;
        if (ctx.stopping()) {
          ctx.log.error({ err: e, messages: batch.length }, 'sink failed during shutdown; leaving the batch unacked for redelivery');
          return { messages: 0, facts: 0, inserted: 0, skippedDuplicates: 0, deadLetters: 0, outcomes: {}, written: [] };
        }
        ctx.metrics?.sinkRetries.inc();
        const delay = backoffMs(attempt, { initialMs: 250, maxMs: ctx.maxBackoffMs ?? 10_000, jitter: 'none' });
        ctx.log.error({ err: e, attempt, retryInMs: delay, messages: batch.length, corr: batch.slice(0, 20).map((p) => p.corr) }, 'batch not durable; holding its messages and retrying');
        // Keep the messages ours while we wait, so JetStream does not hand them to another worker.
        for (const p of batch) p.msg.working();
        // The retried insert is not byte-identical (dead letters re-published): check before insert.
        for (const p of batch) for (const f of p.facts) suspects.add(factKey(f));
        await sleep(delay);
      }
    }
  });
}
