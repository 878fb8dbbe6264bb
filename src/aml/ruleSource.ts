/**
 * The rule set in force, hot-reloadable: loaded (and validated) from the rule file at start, then
 * re-read when the file changes (polled) or when a message arrives on the reload subject. A file
 * that does not validate is logged and ignored: the previous rules stay in force. Window state
 * lives in the state store, keyed by subject, so swapping rules loses none of it.
 */
import { unwatchFile, watchFile, type Stats } from 'node:fs';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import { loadRuleFile, type RuleSet } from './ruleFile.js';

export interface RuleSource {
  current(): RuleSet;
  /** Re-reads the file now; resolves with the rule set in force afterwards. */
  reload(): RuleSet;
  /** Number of reloads that failed validation (kept the previous rules). */
  readonly rejected: number;
  stop(): void;
}

export interface RuleSourceOptions {
  file: string;
  nats?: NatsConnection;
  reloadSubject?: string;
  pollIntervalMs?: number;
  log: Logger;
  onReload?: (rules: RuleSet) => void;
}

/** Loads the rule file (throws `ConfigError` if invalid) and follows its changes. */
export function startRuleSource(o: RuleSourceOptions): RuleSource {
  let rules = loadRuleFile(o.file);
  let rejected = 0;
  o.log.info({ file: o.file, version: rules.version, rules: rules.rules.map((r) => r.id) }, 'aml: rules loaded');
  const reload = () => {
    try {
      const next = loadRuleFile(o.file);
      if (next.version !== rules.version || JSON.stringify(next.rules) !== JSON.stringify(rules.rules)) {
        o.log.info({ file: o.file, from: rules.version, to: next.version }, 'aml: rules reloaded');
      }
      rules = next;
      o.onReload?.(rules);
    } catch (e) {
      rejected++;
      o.log.error({ err: e, file: o.file, keeping: rules.version }, 'aml: rule file rejected; the previous rules stay in force');
    }
    return rules;
  };
  const listener = (cur: Stats, prev: Stats) => {
    if (cur.mtimeMs !== prev.mtimeMs || cur.size !== prev.size) reload();
  };
  watchFile(o.file, { interval: o.pollIntervalMs ?? 2_000 }, listener);
  let sub: Subscription | undefined;
  if (o.nats && o.reloadSubject)
    sub = o.nats.subscribe(o.reloadSubject, {
      callback: (err) => {
        if (!err) reload();
      },
    });
  return {
    current: () => rules,
    reload,
    get rejected() {
      return rejected;
    },
    stop() {
      unwatchFile(o.file, listener);
      sub?.unsubscribe();
    },
  };
}
