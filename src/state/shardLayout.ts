/**
 * The number of shards the match state in Redis is laid out in (issue 18), kept at
 * `<namespace>:{m}:shards`. A worker configured with another count would look for legs where they
 * are not and pair nothing it should: it refuses to start, unless told to migrate, which deletes
 * the old layout's match state and leaves the state guard (stateGuard.ts) to rebuild it from the
 * facts in ClickHouse, each leg into its new shard (docs/runbook.md#sharded-state).
 */
import { Cluster, type Redis } from 'ioredis';
import type { Logger } from 'pino';
import { amlShardOf, amlWindowPrefixes, shardPrefixes } from '../domain/stateShards.js';
import { ConfigError } from '../lib/errors.js';

/** Keys under the shared `{m}` prefix that are not a shard's state and survive a migration. */
export const SHARED_KEYS = ['wm', 'stalls', 'drift', 'shards', 'rebuild-lock'] as const;

export interface ShardLayoutOptions {
  redis: Redis;
  namespace: string;
  /** `redis.shards`: the count configured. */
  shards: number;
  /** `redis.migrateShards`: rebuild into the configured count when the stored one differs. */
  migrate: boolean;
  log: Pick<Logger, 'info' | 'warn'>;
}

/**
 * Checks the stored shard count against the configured one before matching starts: records it on
 * a new namespace, throws ConfigError on a difference without `migrate`, migrates with it. State
 * written before shard counts were stored is a one-shard layout. Returns the count found before.
 */
export async function ensureShardLayout(o: ShardLayoutOptions): Promise<number> {
  const want = o.shards;
  const shared = `${o.namespace}:{m}:`;
  const key = `${shared}shards`;
  const stored = await o.redis.get(key);
  let have: number;
  if (stored !== null) have = Number(stored);
  else {
    // No count yet: a new namespace, or the state of a version that did not shard ({m}).
    const legacy = (await o.redis.exists(`${shared}epoch`)) === 1 || (await o.redis.exists(`${shared}n`)) === 1;
    have = legacy ? 1 : want;
  }
  if (have === want) {
    if (stored === null) await o.redis.set(key, String(want));
    await ensureAmlWindowLayout(o);
    return have;
  }
  if (!o.migrate) {
    throw new ConfigError(`The match state in Redis is laid out in ${have} shard(s), the configuration says redis.shards = ${want}.`, {
      details: 'Stop every worker, then start one with redis.migrateShards: true (the state is rebuilt from the facts), or set redis.shards back (docs/runbook.md#sharded-state).',
    });
  }
  if ((await o.redis.set(`${shared}rebuild-lock`, 'shard-migration', 'PX', 120_000, 'NX')) !== 'OK') {
    throw new ConfigError('Another worker is rebuilding the match state; start again once it is done.');
  }
  try {
    o.log.warn({ from: have, to: want }, 'migrating the match state to another shard count: deleting the old layout, it is rebuilt from the facts');
    const deleted = await deleteShardState(o.redis, o.namespace, [have, want]);
    await o.redis.set(key, String(want));
    o.log.info({ from: have, to: want, deleted }, 'old match state layout deleted; the state guard rebuilds it from the facts');
    await ensureAmlWindowLayout(o);
  } finally {
    await o.redis.del(`${shared}rebuild-lock`);
  }
  return have;
}

/**
 * Deletes the match state of the shard layouts `counts` (their legs, indexes, deadlines, counters
 * and epochs) and keeps the shared keys (watermarks, stalls, drift, the count); returns how many
 * keys went.
 */
export async function deleteShardState(redis: Redis, namespace: string, counts: readonly number[]): Promise<number> {
  const shared = new Set(SHARED_KEYS.map((k) => `${namespace}:{m}:${k}`));
  const prefixes = new Set(counts.flatMap((n) => shardPrefixes(namespace, n)));
  let deleted = 0;
  for (const prefix of prefixes) {
    for await (const keys of scanKeys(redis, `${prefix}*`)) {
      const doomed = keys.filter((k) => !shared.has(k));
      // One DEL per key: on a cluster the keys of one prefix share a slot, but stay simple and safe.
      for (const k of doomed) deleted += await redis.del(k);
    }
  }
  return deleted;
}

/**
 * The AML windows follow `redis.shards` too (docs/architecture.md#aml-state-and-shards), counted
 * apart at `<namespace>:{aml}:shards` (absent: one shard, the layout before they were sharded).
 * They are not rebuilt from facts: on a difference they are moved to their shards of the
 * configured layout, by one worker (a lock), before it uses them.
 */
async function ensureAmlWindowLayout(o: ShardLayoutOptions): Promise<void> {
  const key = `${o.namespace}:{aml}:shards`;
  const have = Number((await o.redis.get(key)) ?? '1');
  if (have === o.shards) return;
  const lock = `${o.namespace}:{aml}:shards-lock`;
  if ((await o.redis.set(lock, '1', 'PX', 120_000, 'NX')) !== 'OK') throw new ConfigError('Another worker is moving the AML windows to another shard count; start again once it is done.');
  try {
    const moved = await rehomeAmlWindows(o.redis, o.namespace, o.shards);
    await o.redis.set(key, String(o.shards));
    o.log.info({ from: have, to: o.shards, moved }, 'AML windows moved to the configured shard layout');
  } finally {
    await o.redis.del(lock);
  }
}

/**
 * Moves every AML window of `namespace` (and of its shadow, `<namespace>:shadow`) to where the
 * layout of `shards` shards keeps it (DUMP, RESTORE with its TTL, DEL: keys of two slots), from
 * wherever an older layout put it; returns how many moved. Run with every worker stopped, as a
 * migration is. A window already in place stays.
 */
export async function rehomeAmlWindows(redis: Redis, namespace: string, shards: number): Promise<number> {
  let moved = 0;
  for await (const keys of scanKeys(redis, `${namespace}:*{aml*}:w:*`)) {
    for (const k of keys) {
      const m = /^(.*):\{aml[0-9.]*\}:w:(.+)$/.exec(k);
      if (!m || (m[1] !== namespace && m[1] !== `${namespace}:shadow`)) continue;
      const target = `${amlWindowPrefixes(m[1], shards)[amlShardOf(m[2]!, shards)]!}w:${m[2]!}`;
      if (target === k) continue;
      const [data, pttl] = await Promise.all([redis.dumpBuffer(k), redis.pttl(k)]);
      if (data === null) continue;
      await redis.restore(target, Math.max(0, pttl), data, 'REPLACE');
      await redis.del(k);
      moved++;
    }
  }
  return moved;
}

/** Every key matching `pattern`, in pages: from each master of a cluster, or from the one Redis. */
export async function* scanKeys(redis: Redis, pattern: string): AsyncGenerator<string[]> {
  // connectRedis hands a Cluster out as a Redis (src/state/redisClient.ts).
  const client = redis as unknown as Redis | Cluster;
  // A cluster client knows its masters once it has read the slot map.
  if (client instanceof Cluster && client.status !== 'ready') await new Promise((resolve) => client.once('ready', resolve));
  const nodes: Redis[] = client instanceof Cluster ? client.nodes('master') : [redis];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) yield keys;
    } while (cursor !== '0');
  }
}
