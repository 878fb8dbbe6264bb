import { Redis, type RedisOptions } from 'ioredis';
import { redisSecurityOptions, type RedisSection } from '../config/connectionSecurity.js';
import type { SecretSources } from '../config/secrets.js';

/**
 * The one place a Redis connection is made from the configuration: `redis.url` with its user,
 * password and TLS (connectionSecurity.ts) and the caller's options.
 */
export function connectRedis(section: RedisSection, secrets: SecretSources = { env: process.env }, options: RedisOptions = {}): Redis {
  const merged: RedisOptions = { ...redisSecurityOptions(section, secrets), ...options };
  // ioredis declares RedisOptions with `prop?: T | undefined` but its constructor with `prop?: T`,
  // which exactOptionalPropertyTypes refuses although the values are the same: one cast, here.
  return new Redis(section.url, merged as { [K in keyof RedisOptions]?: Exclude<RedisOptions[K], undefined> });
}
