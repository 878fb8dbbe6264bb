/**
 * The blocks an ingester has processed, per chain, in Redis: number → hash, parent hash and the log
 * indexes of the events published from it. Reorg detection links each new block to its stored predecessor
 * by `parentHash` and walks these records back to the fork point; retractions name the stored
 * event ids. Bounded: only the `keep` highest block numbers are kept.
 *
 * Keys: `${namespace}:{chain}:blocks:${chainId}` (hash, field = block number, value = JSON with the
 * hash, the parent hash and the log indexes of the events) and
 * `${namespace}:{chain}:blocknums:${chainId}` (sorted set of the stored numbers, for range queries
 * and trimming). Only the lease holder writes.
 */
import type { Redis } from 'ioredis';
import { chainEventId } from './tokenTransferEvent.js';

export interface BlockRecord {
  number: bigint;
  /** Lower-case block hash. */
  hash: string;
  /** Lower-case parent hash, or null when unknown. */
  parentHash: string | null;
  /** Log indexes of the events published from this block (all tokens), ascending; their ids are `recordEventIds`. */
  logIndexes: number[];
}

/** The ids (`chainId:blockHash:logIndex`) of the events published from a stored block. */
export function recordEventIds(chainId: number, r: BlockRecord): string[] {
  return r.logIndexes.map((i) => chainEventId(chainId, r.hash, i));
}

export function blockHistoryKeys(namespace: string, chainId: number): { blocks: string; numbers: string } {
  return { blocks: `${namespace}:{chain}:blocks:${chainId}`, numbers: `${namespace}:{chain}:blocknums:${chainId}` };
}

// ARGV[1] = how many block numbers to keep; then for each record: number, hash, parent, log
// indexes (a JSON array of numbers). A record for a number already stored with the same hash merges
// its log indexes. A record whose number is stored with another hash is a conflict (the chain
// changed under us): nothing is written and the conflicting numbers are returned.
// Stored value: {"h": hash, "p": parent, "e": [log index, ...]}; records written before log indexes
// were stored hold event ids ("chainId:blockHash:logIndex") in "e", read as their log index. A new
// record is written without decoding its indexes (a backfill stores thousands per range).
const PUT = `
local keep = tonumber(ARGV[1])
local conflicts = {}
for i = 2, #ARGV, 4 do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  if cur and cjson.decode(cur).h ~= ARGV[i + 1] then table.insert(conflicts, ARGV[i]) end
end
if #conflicts > 0 then return conflicts end
local function index(x)
  if type(x) == 'string' then return tonumber(string.match(x, ':(%d+)$')) end
  return x
end
for i = 2, #ARGV, 4 do
  local n, h, p, ids = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local cur = redis.call('HGET', KEYS[1], n)
  if cur then
    local old = cjson.decode(cur)
    local merged, seen = {}, {}
    if type(old.e) ~= 'table' then old.e = {} end
    for _, x in ipairs(old.e) do
      local k = index(x)
      if k and not seen[k] then table.insert(merged, k); seen[k] = true end
    end
    for _, k in ipairs(cjson.decode(ids)) do
      if not seen[k] then table.insert(merged, k); seen[k] = true end
    end
    table.sort(merged)
    if p == '' then p = old.p end
    ids = #merged > 0 and cjson.encode(merged) or '[]'
  end
  redis.call('HSET', KEYS[1], n, '{"h":' .. cjson.encode(h) .. ',"p":' .. cjson.encode(p) .. ',"e":' .. ids .. '}')
  redis.call('ZADD', KEYS[2], n, n)
end
local top = redis.call('ZREVRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if top[2] then
  local cutoff = tonumber(top[2]) - keep
  local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', cutoff)
  for _, n in ipairs(old) do redis.call('HDEL', KEYS[1], n) end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', cutoff)
end
return {}`;

const DELETE_ABOVE = `
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[1], '+inf')
for _, n in ipairs(gone) do redis.call('HDEL', KEYS[1], n) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '(' .. ARGV[1], '+inf')
return #gone`;

export interface BlockHistory {
  get(blockNumber: bigint): Promise<BlockRecord | null>;
  /** The highest stored block, or null. */
  highest(): Promise<BlockRecord | null>;
  /** Stored blocks at or below `blockNumber`, highest first, at most `limit`. */
  descending(blockNumber: bigint, limit: number): Promise<BlockRecord[]>;
  /**
   * Stores (or merges) records, then trims to the `keep` highest numbers. Returns the numbers
   * already stored with another hash (then nothing is written): a reorg to handle first.
   */
  put(records: readonly BlockRecord[]): Promise<bigint[]>;
  /** Forgets every block above `blockNumber` (they were orphaned). Returns how many. */
  deleteAbove(blockNumber: bigint): Promise<number>;
}

/** The block history of one chain; see the module comment. */
export function blockHistory(redis: Redis, namespace: string, chainId: number, keep: number): BlockHistory {
  const k = blockHistoryKeys(namespace, chainId);
  const parse = (n: string, v: string | null): BlockRecord | null => {
    if (v === null) return null;
    const o = JSON.parse(v) as { h: string; p: string; e: (number | string)[] };
    // Lua's cjson writes an empty list as {}; records of earlier versions hold event ids.
    const e = Array.isArray(o.e) ? o.e : [];
    return { number: BigInt(n), hash: o.h, parentHash: o.p || null, logIndexes: e.map((x) => (typeof x === 'number' ? x : Number(x.slice(x.lastIndexOf(':') + 1)))) };
  };
  const many = async (numbers: string[]) => {
    if (numbers.length === 0) return [];
    const values = await redis.hmget(k.blocks, ...numbers);
    return numbers.map((n, i) => parse(n, values[i] ?? null)).filter((r): r is BlockRecord => r !== null);
  };
  return {
    async get(n) {
      return parse(n.toString(), await redis.hget(k.blocks, n.toString()));
    },
    async highest() {
      const [n] = await redis.zrevrange(k.numbers, 0, 0);
      return n === undefined ? null : ((await many([n]))[0] ?? null);
    },
    async descending(n, limit) {
      return many(await redis.zrevrangebyscore(k.numbers, n.toString(), '-inf', 'LIMIT', 0, limit));
    },
    async put(records) {
      if (records.length === 0) return [];
      const args: string[] = [String(keep)];
      for (const r of records) args.push(r.number.toString(), r.hash, r.parentHash ?? '', JSON.stringify(r.logIndexes));
      const conflicts = (await redis.eval(PUT, 2, k.blocks, k.numbers, ...args)) as string[];
      return conflicts.map((n) => BigInt(n));
    },
    async deleteAbove(n) {
      return Number(await redis.eval(DELETE_ABOVE, 2, k.blocks, k.numbers, n.toString()));
    },
  };
}
