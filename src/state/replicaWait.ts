import { Cluster, type Redis } from 'ioredis';
import { ReplicationLagging } from '../lib/errors.js';

export interface ReplicaWaitOptions {
  /** Replicas that must hold a master's writes before a batch is acked (0: do not wait). */
  replicas: number;
  timeoutMs: number;
}

/**
 * Redis replicates asynchronously: a master that acknowledged a script and dies before passing it
 * on takes the write with it, and its promoted replica never saw it. With `replicas` > 0 this
 * returns a check to run before a batch is acked: `WAIT replicas timeoutMs` on the connection of
 * every master (on a single Redis, on its one connection), which returns once that many replicas
 * acknowledged every write this client sent on it before, the batch's scripts included. Fewer in
 * time is ReplicationLagging: the batch is retried like an outage and its messages stay unacked
 * (the scripts are idempotent), so a failover can no longer lose acknowledged state unless every
 * replica that held it fails too. Costs one round trip per master per batch.
 */
export function replicaWait(redis: Redis, o: ReplicaWaitOptions): (() => Promise<void>) | undefined {
  if (o.replicas <= 0) return undefined;
  return async () => {
    const masters: Redis[] = redis instanceof Cluster ? (redis as unknown as Cluster).nodes('master') : [redis];
    const acked = await Promise.all(masters.map(async (m) => ({ node: `${m.options.host}:${m.options.port}`, n: Number(await m.call('WAIT', o.replicas, o.timeoutMs)) })));
    const short = acked.filter((a) => a.n < o.replicas);
    if (short.length > 0) {
      throw new ReplicationLagging(`Redis replicas did not confirm the batch's state within ${o.timeoutMs} ms`, {
        details: short.map((a) => `${a.node}: ${a.n} of ${o.replicas} replicas`).join(', '),
      });
    }
  };
}
