import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { redisSecurityOptions, type RedisSection } from '../config/connectionSecurity.js';
import type { SecretSources } from '../config/secrets.js';

/**
 * The one place a Redis connection is made from the configuration: `redis.url` with its user,
 * password and TLS (connectionSecurity.ts) and the caller's options.
 */
export function connectRedis(section: RedisSection, secrets: SecretSources = { env: process.env }, options: RedisOptions = {}): Redis {
  const merged: RedisOptions = { ...redisSecurityOptions(section, secrets), ...options };
  if (section.clusterNodes && section.clusterNodes.length > 0) {
    // A Redis Cluster: every script and pipeline of the engine stays within one hash tag (one
    // slot), which the cluster client routes to its master. ioredis's Cluster answers the same
    // commands as Redis for all the engine uses (no SCAN, KEYS or MULTI across slots): one cast.
    const { enableAutoPipelining, lazyConnect, ...redisOptions } = merged;
    const nodes = section.clusterNodes.map((u) => {
      const url = new URL(u);
      return { host: url.hostname, port: Number(url.port || 6379) };
    });
    const cluster = new Cluster(nodes, {
      redisOptions: redisOptions as { [K in keyof RedisOptions]?: Exclude<RedisOptions[K], undefined> },
      ...(enableAutoPipelining !== undefined && { enableAutoPipelining }),
      ...(lazyConnect !== undefined && { lazyConnect }),
    });
    return cluster as unknown as Redis;
  }
  // ioredis declares RedisOptions with `prop?: T | undefined` but its constructor with `prop?: T`,
  // which exactOptionalPropertyTypes refuses although the values are the same: one cast, here.
  return new Redis(section.url, merged as { [K in keyof RedisOptions]?: Exclude<RedisOptions[K], undefined> });
}
