/**
 * The AML rule set in force, hot-reloadable (src/config/watchedRuleFile.ts): a file that does not
 * validate is logged and ignored, the previous rules stay in force. Window state lives in the state
 * store, keyed by subject, so swapping rules loses none of it.
 */
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import { startWatchedRuleFile, type WatchedRuleFile } from '../config/watchedRuleFile.js';
import { loadRuleFile, type RuleSet } from './ruleFile.js';

export type RuleSource = WatchedRuleFile<RuleSet>;

/** Loads the rule file (throws `ConfigError` if invalid) and follows its changes. */
export function startRuleSource(o: { file: string; nats?: NatsConnection; reloadSubject?: string; pollIntervalMs?: number; log: Logger; onReload?: (rules: RuleSet) => void }): RuleSource {
  return startWatchedRuleFile({ ...o, load: loadRuleFile, label: 'aml', describe: (r) => ({ version: r.version, rules: r.rules.map((x) => x.id) }) });
}
