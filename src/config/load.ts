import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ZodError } from 'zod';
import { ConfigError } from '../lib/errors.js';
import { configSchema, type Config, type ConfigInput } from './schema.js';

/** Environment variables that override the file, for deployments (docker-compose) and secrets. */
export interface ConfigEnv {
  RECON_CONFIG?: string;
  CLICKHOUSE_URL?: string;
  CLICKHOUSE_USER?: string;
  CLICKHOUSE_PASSWORD?: string;
  CHDB_PATH?: string;
  /** Cluster name: turns on `clickhouse.cluster` (ON CLUSTER, replicated + Distributed tables). */
  CLICKHOUSE_CLUSTER?: string;
  NATS_URL?: string;
  REDIS_URL?: string;
  LOG_LEVEL?: string;
  /** NATS credentials of this process (docs/security.md); a `*_FILE` variant names a file holding the value. */
  NATS_USER?: string;
  NATS_PASSWORD?: string;
  NATS_PASSWORD_FILE?: string;
  NATS_TOKEN?: string;
  NATS_TOKEN_FILE?: string;
  NATS_CREDS?: string;
  NATS_INBOX_PREFIX?: string;
  NATS_PARTITIONS?: string;
  REDIS_USERNAME?: string;
  REDIS_PASSWORD?: string;
  REDIS_PASSWORD_FILE?: string;
  [key: string]: string | undefined;
}

/** Validates a configuration object; a bad one fails with a message naming each bad field. */
export function parseConfig(input: ConfigInput | unknown): Config {
  try {
    return configSchema.parse(input);
  } catch (e) {
    if (e instanceof ZodError) {
      const lines = e.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
      throw new ConfigError(`invalid configuration: ${lines.join('; ')}`, { cause: e });
    }
    throw e;
  }
}

/** Reads the file named by RECON_CONFIG (YAML or JSON), applies environment overrides, validates. */
export function loadConfig(env: ConfigEnv = process.env as ConfigEnv): Config {
  let raw: Record<string, unknown> = {};
  if (env.RECON_CONFIG) {
    let text: string;
    try {
      text = readFileSync(env.RECON_CONFIG, 'utf8');
    } catch (e) {
      throw new ConfigError(`cannot read configuration file ${env.RECON_CONFIG}`, { cause: e });
    }
    raw = (parseYaml(text) ?? {}) as Record<string, unknown>;
  }
  const section = (k: string) => ({ ...((raw[k] as Record<string, unknown>) ?? {}) });
  const clickhouse = section('clickhouse');
  if (env.CLICKHOUSE_URL) clickhouse.url = env.CLICKHOUSE_URL;
  if (env.CLICKHOUSE_USER) clickhouse.username = env.CLICKHOUSE_USER;
  if (env.CLICKHOUSE_PASSWORD) clickhouse.password = env.CLICKHOUSE_PASSWORD;
  if (env.CHDB_PATH) clickhouse.dataDir = env.CHDB_PATH;
  if (env.CLICKHOUSE_CLUSTER) clickhouse.cluster = { ...((clickhouse.cluster as Record<string, unknown>) ?? {}), name: env.CLICKHOUSE_CLUSTER };
  const nats = section('nats');
  if (env.NATS_URL) nats.servers = env.NATS_URL.split(',');
  // Secrets named by environment variable are kept as references, so check-config never prints them.
  const secret = (name: string) => (env[`${name}_FILE`] ? { file: env[`${name}_FILE`]! } : env[name] ? { env: name } : undefined);
  if (env.NATS_USER) nats.auth = { user: env.NATS_USER, password: secret('NATS_PASSWORD') };
  else if (secret('NATS_TOKEN')) nats.auth = { token: secret('NATS_TOKEN') };
  else if (env.NATS_CREDS) nats.auth = { credsFile: env.NATS_CREDS };
  if (env.NATS_INBOX_PREFIX) nats.inboxPrefix = env.NATS_INBOX_PREFIX;
  if (env.NATS_PARTITIONS) nats.partitions = { ...((nats.partitions as Record<string, unknown>) ?? {}), assigned: env.NATS_PARTITIONS.split(',').map((x) => Number(x.trim())) };
  const redis = section('redis');
  if (env.REDIS_URL) redis.url = env.REDIS_URL;
  if (env.REDIS_USERNAME) redis.username = env.REDIS_USERNAME;
  if (secret('REDIS_PASSWORD')) redis.password = secret('REDIS_PASSWORD');
  const log = section('log');
  if (env.LOG_LEVEL) log.level = env.LOG_LEVEL;
  return parseConfig({ ...raw, clickhouse, nats, redis, log });
}
