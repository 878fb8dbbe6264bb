import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { asScriptError } from './scriptErrors.js';

const lua = readFileSync(new URL('./lua/claimFingerprint.lua', import.meta.url), 'utf8');

/** What the store knew about an entry id when a copy with this fingerprint arrived. */
export type FingerprintCheck =
  | { t: 'new' }
  | { t: 'same' }
  /** Another content came first: `first` is its fingerprint; `seenBefore` when this conflicting content was already reported. */
  | { t: 'conflict'; first: string; seenBefore: boolean };

export interface EntryFingerprintsOptions {
  /** Namespace of this deployment; keys are `${namespace}:fp:{<entry id>}`. */
  namespace: string;
  /**
   * Lifetime of a record, from the first copy (wall clock). At least matching.lateRetentionMs:
   * as long as the match store may still act on an entry id, a conflicting copy is recognised.
   */
  ttlMs: number;
}

interface FingerprintCommands {
  reconClaimFingerprint(key: string, fingerprint: string, ttlMs: number): Promise<[number, string, number]>;
}

/**
 * The content first seen under each ledger entry id and chain event id, in Redis: every entry goes
 * through it, legs or not (fees, transfers, orphans), so a re-used id with other content is caught
 * whatever it is. Each id is its own hash tag, so in a Redis Cluster the record lives on the id's
 * slot, not the shard of the leg. Checks made in the same turn of the event loop go to Redis in
 * one pipeline (one round trip for a block's events or for concurrent messages); on a Redis
 * Cluster they are sent one by one, as a pipeline there must stay in one slot.
 */
export class EntryFingerprints {
  readonly prefix: string;
  private readonly redis: Redis & FingerprintCommands;
  private queued: { id: string; fingerprint: string; resolve: (c: FingerprintCheck) => void; reject: (e: unknown) => void }[] = [];
  private flushScheduled = false;

  constructor(
    redis: Redis,
    private readonly options: EntryFingerprintsOptions,
  ) {
    this.prefix = `${options.namespace}:fp:`;
    const r = redis as Redis & Partial<FingerprintCommands>;
    if (!r.reconClaimFingerprint) redis.defineCommand('reconClaimFingerprint', { numberOfKeys: 1, lua });
    this.redis = redis as Redis & FingerprintCommands;
  }

  /** The Redis key of an entry id's record. */
  keyOf(id: string): string {
    return `${this.prefix}{${id}}`;
  }

  /** Records `fingerprint` under `id` unless a content is already recorded there, and says which case it was. */
  check(id: string, fingerprint: string): Promise<FingerprintCheck> {
    return new Promise((resolve, reject) => {
      this.queued.push({ id, fingerprint, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.queued.splice(0, this.queued.length);
    if (batch.length === 0) return;
    // On Redis Cluster each id is its own slot and a pipeline must stay in one: the calls go one
    // by one (the cluster client still batches those bound for one node).
    const replies = (this.redis as unknown as { isCluster?: boolean }).isCluster
      ? () =>
          Promise.all(
            batch.map((q) =>
              this.redis.reconClaimFingerprint(this.keyOf(q.id), q.fingerprint, this.options.ttlMs).then(
                (r): [Error | null, unknown] => [null, r],
                (e: unknown): [Error | null, unknown] => [e instanceof Error ? e : new Error(String(e)), null],
              ),
            ),
          )
      : () => {
          const pipe = this.redis.pipeline() as unknown as { reconClaimFingerprint(...a: (string | number)[]): void; exec(): Promise<[Error | null, unknown][] | null> };
          for (const q of batch) pipe.reconClaimFingerprint(this.keyOf(q.id), q.fingerprint, this.options.ttlMs);
          return pipe.exec();
        };
    Promise.resolve()
      .then(replies)
      .then(
        (res) => {
          for (const [i, q] of batch.entries()) {
            const [err, r] = res?.[i] ?? [new Error('no reply'), null];
            if (err) {
              q.reject(asScriptError('claimFingerprint', err));
              continue;
            }
            const [code, first, seen] = r as [number, string, number];
            q.resolve(code === 0 ? { t: 'new' } : code === 1 ? { t: 'same' } : { t: 'conflict', first, seenBefore: seen === 1 });
          }
        },
        (e: unknown) => {
          for (const q of batch) q.reject(asScriptError('claimFingerprint', e));
        },
      );
  }

  /** Deletes every record of this namespace (tests). */
  async clear(): Promise<void> {
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${this.prefix}*`, 'COUNT', 1000);
      cursor = next;
      for (const k of keys) await this.redis.del(k);
    } while (cursor !== '0');
  }
}
