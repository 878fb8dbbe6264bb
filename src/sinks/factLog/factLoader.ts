import { setTimeout as sleep } from 'node:timers/promises';
import type { JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { map, type Subscription } from 'rxjs';
import { factKey, type Fact } from '../../domain/facts.js';
import { backoffMs } from '../../lib/backoff.js';
import { SinkRejected } from '../../lib/errors.js';
import { timed, type Metrics } from '../../observability/metrics.js';
import { batchForSink } from '../../operators/batchForSink.js';
import { coalesceWhileBusy } from '../../operators/coalesceWhileBusy.js';
import { leaderLease } from '../../streams/chain/leaderLease.js';
import { jetstreamMessages } from '../../streams/jetstreamMessages.js';
import type { ClickHouseFactWriter } from '../clickhouse/factWriter.js';
import type { EncodedFact } from '../clickhouse/insertRow.js';
import type { DeadLetter } from '../deadLetters.js';
import { decodeFactLog, FactLogMessageError } from './factLogMessage.js';

export interface FactLoaderOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  stream: string;
  consumerName: string;
  /** The ClickHouse writer (factWriter.ts): one insert per table per call, deduplicated. */
  clickhouse: ClickHouseFactWriter;
  deadLetter: (d: DeadLetter, now: number) => Promise<Fact>;
  redis: Redis;
  /** Redis key of the loader lease (one active loader per fleet). */
  leaseKey: string;
  holderId: string;
  leaseTtlMs: number;
  loadEveryMs: number;
  maxLoadMessages: number;
  log: Logger;
  metrics: Metrics;
  /** How long a refused message may be blamed on itself: only if something loaded this recently (default 60 s). */
  sinkEvidenceMs?: number;
}

export interface FactLoader {
  /** Whether this worker holds the lease now. */
  active(): boolean;
  stop(): Promise<void>;
}

interface Loadable {
  msg: JsMsg;
  facts: EncodedFact[];
  suspects: string[];
}

/** A load stopped because this worker no longer holds the lease: its messages are left unacked for the next holder. */
class LeaseLost extends Error {}

/**
 * The fact loader: the one worker holding the lease consumes the fact log and inserts what
 * arrived within `loadEveryMs` (or `maxLoadMessages` messages) into ClickHouse, one insert per
 * table, then acks those messages (work-queue retention removes them). So ClickHouse receives
 * about one insert per table per `loadEveryMs`, whatever the load and the number of workers.
 *
 * Exactly once in ClickHouse: the writer collapses duplicates within a load and hashes each
 * table's rows into its insert_deduplication_token (a retried insert is dropped by the server);
 * facts flagged as suspects by the worker, and every fact of a redelivered log message, are
 * looked up first. The log is loaded in order by one loader, so a suspect's original is loaded
 * before it or in the same insert. A log message ClickHouse refuses for good is a dead letter
 * (`<deadLetterSubjectPrefix>.facts`), bisected out of its load; an outage is retried with backoff
 * while the messages are kept ours. The lease is checked before each insert; a worker that lost
 * it stops, leaving its messages to the next holder.
 *
 *   --m1-m2-----m3-m4-m5---->   (loadEveryMs)   ------[insert m1,m2: ack]------[insert m3..m5: ack]-->
 */
export function startFactLoader(o: FactLoaderOptions): FactLoader {
  const lease = leaderLease({ redis: o.redis, key: o.leaseKey, holderId: o.holderId, ttlMs: o.leaseTtlMs });
  const evidenceMs = o.sinkEvidenceMs ?? 60_000;
  let stopped = false;
  let lastLoadedAt = -Infinity;
  let session: { stop(): Promise<void> } | undefined;
  let wake: (() => void) | undefined;

  const load = async (batch: Loadable[]): Promise<void> => {
    const endLoad = o.metrics.factLoadSeconds.startTimer();
    for (let attempt = 0; ; attempt++) {
      if (!lease.held()) throw new LeaseLost();
      try {
        const r = await bisect(batch);
        for (const p of r.refused) await deadLetterMessage(p.msg, p.error);
        for (const p of batch) p.msg.ack();
        if (r.loaded > 0) lastLoadedAt = Date.now();
        o.metrics.factLoadMessages.inc(batch.length);
        o.metrics.factLoadRows.inc(r.rows);
        endLoad?.();
        return;
      } catch (e) {
        if (e instanceof LeaseLost || stopped) throw e instanceof LeaseLost ? e : new LeaseLost();
        const delay = backoffMs(attempt + 1, { initialMs: 250, maxMs: 10_000, jitter: 'none' });
        o.log.error({ err: e, attempt: attempt + 1, retryInMs: delay, messages: batch.length }, 'fact loader: load failed; holding its messages and retrying');
        o.metrics.factLoadRetries.inc();
        for (const p of batch) p.msg.working();
        await sleep(delay);
      }
    }
  };

  /** Loads `part`; on a refusal for good, splits it down to the messages refused alone. */
  const bisect = async (part: Loadable[]): Promise<{ loaded: number; rows: number; refused: { msg: JsMsg; error: SinkRejected }[] }> => {
    const facts: EncodedFact[] = [];
    const suspects = new Set<string>();
    for (const p of part) {
      for (const f of p.facts) facts.push(f);
      for (const s of p.suspects) suspects.add(s);
      // A redelivered message may have been loaded before the loader that held it stopped.
      if (p.msg.redelivered) for (const f of p.facts) suspects.add(f.key);
    }
    try {
      if (!lease.held()) throw new LeaseLost();
      const r = await timed(o.metrics.clickhouseSeconds, { operation: 'load' }, () => o.clickhouse.writeEncoded(facts, { suspects }));
      return { loaded: part.length, rows: r.inserted, refused: [] };
    } catch (e) {
      if (!(e instanceof SinkRejected)) throw e;
      // Some tables may be in already: from now on every fact of the part is checked first.
      for (const p of part) p.suspects = p.facts.map((f) => f.key);
      if (part.length === 1) {
        // Blame the message only if the sink works for others: otherwise a schema out of date.
        if (Date.now() - lastLoadedAt > evidenceMs) throw e;
        return { loaded: 0, rows: 0, refused: [{ msg: part[0]!.msg, error: e }] };
      }
      const mid = part.length >> 1;
      const a = await bisect(part.slice(0, mid));
      if (a.loaded > 0) lastLoadedAt = Date.now();
      const b = await bisect(part.slice(mid));
      return { loaded: a.loaded + b.loaded, rows: a.rows + b.rows, refused: [...a.refused, ...b.refused] };
    }
  };

  const deadLetterMessage = async (msg: JsMsg, error: Error): Promise<void> => {
    const code = error instanceof SinkRejected ? error.code : 'SCHEMA_VIOLATION';
    o.log.error({ seq: msg.seq, err: error.message }, 'fact loader: a fact log message is refused for good; dead-lettering it');
    o.metrics.factLoadDeadLetters.inc();
    const fact = await o.deadLetter({ msg, source: 'facts', code, reason: error.message }, Date.now());
    // The dead letter is stored in its stream; its row is best effort (ClickHouse may refuse it too).
    await o.clickhouse.write([fact], { suspects: new Set([factKey(fact)]) }).catch((e) => o.log.error({ err: e, seq: msg.seq }, 'fact loader: could not store the dead letter row'));
  };

  const runSession = async (): Promise<void> => {
    const consumer = await o.js.consumers.get(o.stream, o.consumerName);
    let sub: Subscription | undefined;
    const ended = new Promise<void>((resolve) => {
      sub = jetstreamMessages({ consumer, maxMessages: Math.min(o.maxLoadMessages, 256) })
        .pipe(
          map((msg): Loadable | null => {
            try {
              const m = decodeFactLog(msg.data);
              return { msg, facts: m.facts, suspects: m.suspects };
            } catch (e) {
              if (!(e instanceof FactLogMessageError)) throw e;
              void deadLetterMessage(msg, e)
                .then(() => msg.ack())
                .catch((err) => o.log.error({ err, seq: msg.seq }, 'fact loader: could not dead-letter an unreadable message; it will be redelivered'));
              return null;
            }
          }),
          batchForSink(o.maxLoadMessages, o.loadEveryMs),
          coalesceWhileBusy(o.maxLoadMessages, (batch) => load(batch.filter((x): x is Loadable => x !== null))),
        )
        .subscribe({
          error: (e) => {
            if (!(e instanceof LeaseLost)) o.log.error({ err: e }, 'fact loader: session ended');
            resolve();
          },
          complete: () => resolve(),
        });
    });
    session = {
      stop: async () => {
        sub?.unsubscribe();
      },
    };
    // Renew the lease while loading; a failed renewal ends the session (its messages go back).
    while (!stopped) {
      const renewed = await lease.acquire().catch(() => false);
      if (!renewed) break;
      const tick = new Promise<void>((r) => {
        wake = r;
        setTimeout(r, o.leaseTtlMs / 3).unref();
      });
      if ((await Promise.race([tick.then(() => 'tick'), ended.then(() => 'ended')])) === 'ended') break;
    }
    sub?.unsubscribe();
    session = undefined;
  };

  const loop = (async () => {
    while (!stopped) {
      try {
        if (await lease.acquire()) {
          o.log.info({ holder: o.holderId }, 'fact loader: lease taken; loading the fact log');
          await runSession();
          continue;
        }
      } catch (e) {
        o.log.warn({ err: e }, 'fact loader: lease check failed');
      }
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, o.leaseTtlMs / 3).unref();
      });
    }
  })();

  return {
    active: () => lease.held(),
    async stop() {
      stopped = true;
      wake?.();
      await session?.stop();
      await loop;
      await lease.release().catch(() => undefined);
    },
  };
}

/**
 * Resolves once every fact published to the log before the call is loaded into ClickHouse
 * (by whichever worker holds the lease); rejects after `timeoutMs`.
 */
export async function factLogFlushed(jsm: JetStreamManager, l: { stream: string; consumerName: string }, timeoutMs = 60_000): Promise<void> {
  const target = (await jsm.streams.info(l.stream)).state.last_seq;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await jsm.consumers.info(l.stream, l.consumerName);
    if (info.ack_floor.stream_seq >= target) return;
    if (Date.now() > deadline) throw new Error(`fact log not loaded within ${timeoutMs} ms: through ${info.ack_floor.stream_seq} of ${target}`);
    await sleep(50);
  }
}
