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
import type { PercentileValues } from './ruleFile.js';
import { withShadow } from './shadowEngine.js';
import { RedisStateStore } from './redisStateStore.js';
import { startRuleSource, type RuleSource } from './ruleSource.js';
import { startWatchlist, type Watchlist } from './watchlist.js';

export interface AmlRuntime {
  engine: AmlEngine;
  rules: RuleSource;
  watchlist: Watchlist;
  store: RedisStateStore;
  /** The shadow rule-file version running beside the live one (`aml.shadowRulesFile`), or null. */
  shadow: { rules: RuleSource; store: RedisStateStore } | null;
  stop(): void;
}

export interface StartAmlOptions {
  config: Config;
  redis: Redis;
  nats: NatsConnection;
  identities: IdentityView;
  log: Logger;
  /** The latest computed percentiles for thresholds from data (src/jobs/amountPercentiles.ts). */
  percentiles?: () => PercentileValues;
  /** A customer's peer segment (the identity mapping's). */
  segmentOf?: (customer: string) => string;
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
  const store = new RedisStateStore(o.redis, o.config.namespace, o.config.redis.shards);
  const live = createAmlEngine({
    store,
    identities: o.identities,
    rules: () => rules.current(),
    watchlist: () => watchlist.current(),
    ttlMs: a.stateTtlMs,
    ...(o.percentiles && { percentiles: o.percentiles }),
    ...(o.segmentOf && { segmentOf: o.segmentOf }),
  });
  let shadow: AmlRuntime['shadow'] = null;
  let engine = live;
  if (a.shadowRulesFile !== undefined) {
    // Its own window state (a shadow with other windows or thresholds must not share the live
    // one's), the same watch list, reloaded with the live file.
    const shadowRules = startRuleSource({ file: a.shadowRulesFile, nats: o.nats, reloadSubject: a.reloadSubject, pollIntervalMs: a.pollIntervalMs, log: log.child({ shadow: true }) });
    const shadowStore = new RedisStateStore(o.redis, `${o.config.namespace}:shadow`, o.config.redis.shards);
    shadow = { rules: shadowRules, store: shadowStore };
    engine = withShadow(
      live,
      createAmlEngine({
        store: shadowStore,
        identities: o.identities,
        rules: () => shadowRules.current(),
        watchlist: () => watchlist.current(),
        ttlMs: a.stateTtlMs,
        ...(o.percentiles && { percentiles: o.percentiles }),
        ...(o.segmentOf && { segmentOf: o.segmentOf }),
      }),
    );
    log.info({ live: rules.current().version, shadow: shadowRules.current().version }, 'aml: shadow rule file runs beside the live one (alerts stored, not sent)');
  }
  return {
    engine,
    rules,
    watchlist,
    store,
    shadow,
    stop() {
      rules.stop();
      shadow?.rules.stop();
      watchlist.stop();
    },
  };
}
