/**
 * Where statement sequence numbers are remembered, per account and message family, in Redis: a
 * sorted set of the numbers seen and a hash of each one's statement id and period. The ingester
 * reads a statement's neighbours before recording it (src/iso20022/statementChecks.ts decides).
 * One hash tag per account keeps both keys on one Redis Cluster slot. Ingesters serialise on a lock
 * per account and family (`exclusive`), so two of them reading the same neighbours cannot both miss
 * a gap or an overlap.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { SequencePoint } from './statementChecks.js';

export interface StatementSequences {
  /** The statements numbered just below and above `seq`, and the one with `seq` itself. */
  neighbours(accountId: string, family: string, seq: bigint): Promise<{ prev?: SequencePoint; next?: SequencePoint; same?: SequencePoint }>;
  /** Records a statement (idempotent: the same point again changes nothing). */
  record(accountId: string, family: string, p: SequencePoint): Promise<void>;
  /** Runs `fn` holding the account and family's lock (check, publish and record in one piece). */
  exclusive<T>(accountId: string, family: string, fn: () => Promise<T>): Promise<T>;
}

/** Deletes the lock only if it is still ours (it may have expired and been taken by another ingester). */
const RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";
/** Longest a lock is held before it lapses (an ingester that died holding it). */
const LOCK_TTL_MS = 30_000;

interface Stored {
  reportId: string;
  from: number | null;
  to: number | null;
}

/** The Redis store of statement sequences under `<namespace>:camt:seq:{<account>}:<family>`. */
export function redisStatementSequences(redis: Redis, namespace: string): StatementSequences {
  const keys = (accountId: string, family: string) => {
    const base = `${namespace}:camt:seq:{${accountId}}:${family}`;
    return { zset: base, hash: `${base}:info` };
  };
  const point = async (hash: string, seq: string | undefined): Promise<SequencePoint | undefined> => {
    if (seq === undefined) return undefined;
    const raw = await redis.hget(hash, seq);
    if (raw === null) return undefined;
    const s = JSON.parse(raw) as Stored;
    return { seq: BigInt(seq), reportId: s.reportId, from: s.from, to: s.to };
  };
  return {
    async neighbours(accountId, family, seq) {
      const k = keys(accountId, family);
      // Sequence numbers are at most 18 digits; sorted-set scores are doubles, exact to 2^53, so
      // members are the numbers as strings and scores only order them (ties resolved by the hash).
      const [below, above] = await Promise.all([redis.zrevrangebyscore(k.zset, `(${seq}`, '-inf', 'LIMIT', 0, 1), redis.zrangebyscore(k.zset, `(${seq}`, '+inf', 'LIMIT', 0, 1)]);
      const [prev, next, same] = await Promise.all([point(k.hash, below[0]), point(k.hash, above[0]), point(k.hash, seq.toString())]);
      return { ...(prev && { prev }), ...(next && { next }), ...(same && { same }) };
    },
    async exclusive(accountId, family, fn) {
      const key = `${keys(accountId, family).zset}:lock`;
      const token = randomUUID();
      const deadline = Date.now() + LOCK_TTL_MS;
      while ((await redis.set(key, token, 'PX', LOCK_TTL_MS, 'NX')) !== 'OK') {
        if (Date.now() > deadline) throw new Error(`statement sequence of ${accountId} ${family} stayed locked for ${LOCK_TTL_MS} ms`);
        await new Promise((r) => setTimeout(r, 25));
      }
      try {
        return await fn();
      } finally {
        await redis.eval(RELEASE, 1, key, token);
      }
    },
    async record(accountId, family, p) {
      const k = keys(accountId, family);
      const stored: Stored = { reportId: p.reportId, from: p.from, to: p.to };
      await redis.multi().zadd(k.zset, Number(p.seq), p.seq.toString()).hsetnx(k.hash, p.seq.toString(), JSON.stringify(stored)).exec();
    },
  };
}
