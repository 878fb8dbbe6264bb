import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { asScriptError } from './scriptErrors.js';

const lua = readFileSync(new URL('./lua/claimFingerprints.lua', import.meta.url), 'utf8');

/** Ids per script call on a single Redis: one call applies its ids one after the other. */
const CLAIMS_PER_CALL = 500;

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

type Claim = [number, string, number];

interface FingerprintCommands {
  /** numKeys, the keys, the ttl, then each key's fingerprint. */
  reconClaimFingerprints(...args: (string | number)[]): Promise<Claim[]>;
  /** The same script declared with one key, so that a cluster client routes (and auto-pipelines) it by that key's slot. */
  reconClaimFingerprint(key: string, ttlMs: number, fingerprint: string): Promise<Claim[]>;
}

/**
 * The content first seen under each ledger entry id and chain event id, in Redis: every entry goes
 * through it, legs or not (fees, transfers, orphans), so a re-used id with other content is caught
 * whatever it is. Each id is its own hash tag, so in a Redis Cluster the record lives on the id's
 * slot, not the shard of the leg. Checks made in the same turn of the event loop go to Redis in
 * one script call (one round trip for a block's events or for concurrent messages: a pipeline of
 * one call per id cost the client about twice as much per id); on a Redis Cluster they are sent
 * one call per id, as the ids' slots differ.
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
    if (!r.reconClaimFingerprints) redis.defineCommand('reconClaimFingerprints', { lua });
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
    // On Redis Cluster each id is its own slot: one call per id (the cluster client still batches
    // those bound for one node). On a single Redis, one call per CLAIMS_PER_CALL ids.
    const cluster = (this.redis as unknown as { isCluster?: boolean }).isCluster === true;
    const claim = (part: typeof batch): Promise<Claim[]> =>
      cluster
        ? this.redis.reconClaimFingerprint(this.keyOf(part[0]!.id), this.options.ttlMs, part[0]!.fingerprint)
        : this.redis.reconClaimFingerprints(part.length, ...part.map((q) => this.keyOf(q.id)), this.options.ttlMs, ...part.map((q) => q.fingerprint));
    const parts: (typeof batch)[] = [];
    const size = cluster ? 1 : CLAIMS_PER_CALL;
    for (let i = 0; i < batch.length; i += size) parts.push(batch.slice(i, i + size));
    for (const part of parts) {
      // Through a promise, so that even a synchronous throw rejects the checks instead of stranding them.
      Promise.resolve()
        .then(() => claim(part))
        .then(
          (replies) => {
            for (const [i, q] of part.entries()) {
              const r = replies[i];
              if (!r) {
                q.reject(asScriptError('claimFingerprints', new Error(`no reply for ${q.id}`)));
                continue;
              }
              const [code, first, seen] = r;
              // This id alone failed in Redis (the others of the call applied).
              if (code === -1) {
                q.reject(asScriptError('claimFingerprints', new Error(first)));
                continue;
              }
              q.resolve(code === 0 ? { t: 'new' } : code === 1 ? { t: 'same' } : { t: 'conflict', first, seenBefore: seen === 1 });
            }
          },
          (e: unknown) => {
            for (const q of part) q.reject(asScriptError('claimFingerprints', e));
          },
        );
    }
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
