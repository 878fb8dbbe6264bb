import type { Logger } from 'pino';
import { factKey, type Fact } from '../domain/facts.js';
import { identityChangeFacts } from '../domain/identityChangeFacts.js';
import type { IdentityChange } from '../domain/identityMap.js';
import type { FactWriter } from '../sinks/clickhouse/factWriter.js';
import type { Metrics } from '../observability/metrics.js';
import type { MappingUpdateMeta } from '../streams/mappingUpdates.js';
import { SinkRejected } from '../lib/errors.js';
import { backoffMs } from '../lib/backoff.js';

export interface IdentityChangeRecorderOptions {
  writer: FactWriter;
  log: Logger;
  metrics: Metrics;
  /** Wait after a failed write before the next attempt (doubles up to 30 s). Default 1 s. */
  retryDelayMs?: number;
  now?: () => number;
}

export interface IdentityChangeRecorder {
  /** Logs and counts live changes, and queues the facts of every change (replayed ones too). */
  record(changes: readonly IdentityChange[], meta: MappingUpdateMeta): void;
  /** Resolves once every fact queued so far is durable (tests, and stop). */
  flushed(): Promise<void>;
  /** Facts waiting to be written. */
  pending(): number;
  /** Stops retrying; facts still queued are rewritten by the next replay at start. */
  stop(): Promise<void>;
}

/**
 * Makes identity changes facts. The mapping follower is an ordered consumer with no acks: a fact
 * not yet durable when the worker stops is derived again when the next start replays the stream,
 * and the writer drops what is already stored (every fact is a suspect), so replays write nothing
 * twice. Writes are serial and batch whatever queued meanwhile (a replay at start is a few inserts,
 * not one per update); a failed write is retried with backoff while the worker runs.
 */
export function startIdentityChangeRecorder(o: IdentityChangeRecorderOptions): IdentityChangeRecorder {
  const now = o.now ?? Date.now;
  const baseDelay = o.retryDelayMs ?? 1_000;
  let queue: Fact[] = [];
  let running: Promise<void> | null = null;
  let stopped = false;
  let wake: (() => void) | null = null;

  async function drain(): Promise<void> {
    let retries = 0;
    let delay = baseDelay;
    while (queue.length > 0 && !stopped) {
      const batch = queue;
      queue = [];
      try {
        await o.writer.write(batch, { suspects: new Set(batch.map(factKey)) });
        retries = 0;
        delay = baseDelay;
      } catch (e) {
        let pending = batch;
        if (e instanceof SinkRejected) {
          // Refused for good: retrying the same rows cannot help. Written one by one, a fact the
          // sink refuses alone is logged and left (the update itself stays in the MAPPINGS stream).
          pending = [];
          for (const [i, f] of batch.entries()) {
            try {
              await o.writer.write([f], { suspects: new Set([factKey(f)]) });
            } catch (one) {
              if (one instanceof SinkRejected) {
                o.log.error({ err: one, fact: factKey(f) }, 'identity changes: ClickHouse refuses this fact for good; not retried');
                continue;
              }
              pending = batch.slice(i);
              break;
            }
          }
          if (pending.length === 0) continue;
        }
        queue = [...pending, ...queue];
        o.log.error({ err: e, facts: batch.length, retryInMs: delay }, 'identity changes: write failed; retrying');
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, delay).unref();
        });
        wake = null;
        delay = backoffMs(++retries, { initialMs: baseDelay, maxMs: 30_000, jitter: 'none' });
      }
    }
  }
  const kick = () => {
    running ??= drain().finally(() => {
      running = null;
      if (queue.length > 0 && !stopped) kick();
    });
  };

  return {
    record(changes, meta) {
      if (changes.length === 0) return;
      if (meta.live) {
        for (const c of changes) {
          o.metrics.identityChanges.inc({ kind: c.kind });
          o.log.info({ seq: meta.seq, kind: c.kind, wallet: c.wallet, from: c.from, to: c.to }, `identity change: wallet ${c.kind}`);
        }
      }
      queue.push(...identityChangeFacts(changes, meta, now()));
      kick();
    },
    async flushed() {
      while (running !== null) await running;
    },
    pending: () => queue.length,
    async stop() {
      stopped = true;
      wake?.();
      await running;
    },
  };
}
