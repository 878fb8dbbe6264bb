/**
 * A versioned rule file in force, hot-reloadable: loaded (and validated) at start, then re-read when
 * the file changes (polled) or when a message arrives on a reload subject. A file that does not
 * validate is logged and ignored: the previous rules stay in force. Used by the AML rules and the
 * matching rules.
 */
import { unwatchFile, watchFile, type Stats } from 'node:fs';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import type { Logger } from 'pino';

export interface WatchedRuleFile<T> {
  current(): T;
  /** Re-reads the file now; returns the rule set in force afterwards. */
  reload(): T;
  /** Number of reloads that failed validation (kept the previous rules). */
  readonly rejected: number;
  stop(): void;
}

export interface WatchedRuleFileOptions<T> {
  file: string;
  /** Reads and validates the file; throws (ConfigError) on a bad one. */
  load(file: string): T;
  /** What the log says of a rule set: its version and rule ids. */
  describe(rules: T): { version: string; rules: string[] };
  /** Log prefix: `aml`, `matching`. */
  label: string;
  nats?: NatsConnection | undefined;
  reloadSubject?: string | undefined;
  pollIntervalMs?: number | undefined;
  log: Logger;
  onReload?: ((rules: T) => void) | undefined;
}

/** Loads the rule file (throws if invalid: a worker does not start with rules it cannot read) and follows its changes. */
export function startWatchedRuleFile<T>(o: WatchedRuleFileOptions<T>): WatchedRuleFile<T> {
  let rules = o.load(o.file);
  let rejected = 0;
  o.log.info({ file: o.file, ...o.describe(rules) }, `${o.label}: rules loaded`);
  const reload = () => {
    try {
      const next = o.load(o.file);
      const [from, to] = [o.describe(rules), o.describe(next)];
      if (JSON.stringify(from) !== JSON.stringify(to)) o.log.info({ file: o.file, from: from.version, to: to.version, rules: to.rules }, `${o.label}: rules reloaded`);
      rules = next;
      o.onReload?.(rules);
    } catch (e) {
      rejected++;
      o.log.error({ err: e, file: o.file, keeping: o.describe(rules).version }, `${o.label}: rule file rejected; the previous rules stay in force`);
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
