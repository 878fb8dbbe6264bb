/**
 * Where statement sequence numbers are remembered, per account and message family, in Redis: a
 * sorted set of the numbers seen and a hash of each one's statement id and period. The ingester
 * reads a statement's neighbours before recording it (src/iso20022/statementChecks.ts decides).
 * One hash tag per account keeps both keys on one Redis Cluster slot. Not atomic across
 * ingesters: run one ingester per account (a drop directory or a subject consumer each).
 */
import type { Redis } from 'ioredis';
import type { SequencePoint } from './statementChecks.js';

export interface StatementSequences {
  /** The statements numbered just below and above `seq`, and the one with `seq` itself. */
  neighbours(accountId: string, family: string, seq: bigint): Promise<{ prev?: SequencePoint; next?: SequencePoint; same?: SequencePoint }>;
  /** Records a statement (idempotent: the same point again changes nothing). */
  record(accountId: string, family: string, p: SequencePoint): Promise<void>;
}

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
    async record(accountId, family, p) {
      const k = keys(accountId, family);
      const stored: Stored = { reportId: p.reportId, from: p.from, to: p.to };
      await redis.multi().zadd(k.zset, Number(p.seq), p.seq.toString()).hsetnx(k.hash, p.seq.toString(), JSON.stringify(stored)).exec();
    },
  };
}
