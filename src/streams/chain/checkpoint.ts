/**
 * Per chain and token, the last block whose events (and the chain progress up to it) are all
 * acknowledged by JetStream. Stored in Redis under `${namespace}:{chain}:checkpoint:${chainId}:${token}`
 * (the `{chain}` hash tag keeps every chain key in one Redis Cluster slot).
 */
import type { Redis } from 'ioredis';

export function checkpointKey(namespace: string, chainId: number, token: string): string {
  return `${namespace}:{chain}:checkpoint:${chainId}:${token.toLowerCase()}`;
}

// Only ever moves forward: a former leader whose lease lapsed mid-range cannot pull it back.
// Reorg handling moves it back with the explicit `rewind`, which the ingester logs with its reason.
const ADVANCE = `
local cur = redis.call('GET', KEYS[1])
if cur and tonumber(cur) >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1`;

export interface Checkpoint {
  /** The last fully published block, or null when nothing has been published yet. */
  read(token: string): Promise<bigint | null>;
  /** Records `blockNumber` as fully published; never moves backwards. Returns whether it moved. */
  advance(token: string, blockNumber: bigint): Promise<boolean>;
  /** Moves the checkpoint back to `blockNumber` if it is beyond it (a reorg's fork point). Returns whether it moved. */
  rewind(token: string, blockNumber: bigint): Promise<boolean>;
}

const REWIND = `
local cur = redis.call('GET', KEYS[1])
if not cur or tonumber(cur) <= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1`;

/** The checkpoint store of one chain. */
export function checkpoint(redis: Redis, namespace: string, chainId: number): Checkpoint {
  return {
    async read(token) {
      const v = await redis.get(checkpointKey(namespace, chainId, token));
      return v === null ? null : BigInt(v);
    },
    async advance(token, blockNumber) {
      const moved = await redis.eval(ADVANCE, 1, checkpointKey(namespace, chainId, token), blockNumber.toString());
      return moved === 1;
    },
    async rewind(token, blockNumber) {
      const moved = await redis.eval(REWIND, 1, checkpointKey(namespace, chainId, token), blockNumber.toString());
      return moved === 1;
    },
  };
}
