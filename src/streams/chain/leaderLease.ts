/**
 * A Redis lease so that one poller per chain is active: `SET key holder NX PX ttl` to take it,
 * compare-and-extend to renew, compare-and-delete to release. A holder that stops renewing loses
 * the lease after `ttlMs`, and another worker takes over. Publishing stays correct if two
 * holders ever overlap (message ids dedupe, checkpoints only move forward); the lease saves work.
 */
import type { Redis } from 'ioredis';

export function leaseKey(namespace: string, chainId: number): string {
  return `${namespace}:{chain}:lease:${chainId}`;
}

const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

export interface LeaderLeaseOptions {
  redis: Redis;
  key: string;
  /** Unique per worker process. */
  holderId: string;
  ttlMs: number;
}

export interface LeaderLease {
  /** Takes the lease if free, or renews it if already ours. Returns whether we hold it now. */
  acquire(): Promise<boolean>;
  /** Lets go of the lease if we hold it, so a standby takes over without waiting for expiry. */
  release(): Promise<void>;
  /** Whether the last acquire succeeded and has not expired since (local clock). */
  held(): boolean;
}

/** A lease on `key` for `holderId`; see the module comment. */
export function leaderLease(o: LeaderLeaseOptions): LeaderLease {
  let validUntil = 0;
  return {
    async acquire() {
      const started = Date.now();
      const renewed = await o.redis.eval(RENEW, 1, o.key, o.holderId, String(o.ttlMs));
      const ok = renewed === 1 || (await o.redis.set(o.key, o.holderId, 'PX', o.ttlMs, 'NX')) === 'OK';
      // Count the ttl from before the call: the lease may have been set at any point during it.
      validUntil = ok ? started + o.ttlMs : 0;
      return ok;
    },
    async release() {
      validUntil = 0;
      await o.redis.eval(RELEASE, 1, o.key, o.holderId);
    },
    held() {
      return Date.now() < validUntil;
    },
  };
}
