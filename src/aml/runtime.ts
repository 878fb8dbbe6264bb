/**
 * Wires the AML engine for a worker from the `aml` configuration section: the rule file (hot
 * reload by polling and by the reload subject), the watch list (file + subject), and Redis window
 * state under `${namespace}:{aml}:`.
 */
import type { NatsConnection } from '@nats-io/nats-core';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { IdentityView } from '../domain/legs.js';
import { createAmlEngine, type AmlEngine } from './engine.js';
import { RedisStateStore } from './redisStateStore.js';
import { startRuleSource, type RuleSource } from './ruleSource.js';
import { startWatchlist, type Watchlist } from './watchlist.js';

export interface AmlRuntime {
  engine: AmlEngine;
  rules: RuleSource;
  watchlist: Watchlist;
  store: RedisStateStore;
  stop(): void;
}

export interface StartAmlOptions {
  config: Config;
  redis: Redis;
  nats: NatsConnection;
  identities: IdentityView;
  log: Logger;
}

/** Starts the engine of one worker; throws `ConfigError` if the rule file is invalid. */
export function startAml(o: StartAmlOptions): AmlRuntime {
  const a = o.config.aml;
  const log = o.log.child({ component: 'aml' });
  const rules = startRuleSource({ file: a.rulesFile, nats: o.nats, reloadSubject: a.reloadSubject, pollIntervalMs: a.pollIntervalMs, log });
  const watchlist = startWatchlist({
    ...(a.watchlistFile !== undefined && { file: a.watchlistFile }),
    nats: o.nats,
    subject: a.watchlistSubject,
    pollIntervalMs: a.pollIntervalMs,
    log,
  });
  const store = new RedisStateStore(o.redis, o.config.namespace);
  const engine = createAmlEngine({ store, identities: o.identities, rules: () => rules.current(), watchlist: () => watchlist.current(), ttlMs: a.stateTtlMs });
  return {
    engine,
    rules,
    watchlist,
    store,
    stop() {
      rules.stop();
      watchlist.stop();
    },
  };
}
