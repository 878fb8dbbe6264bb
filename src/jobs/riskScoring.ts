import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { RuleSet } from '../aml/ruleFile.js';
import { runRiskPeriod } from '../aml/risk/riskPeriod.js';
import type { AmlStateStore } from '../aml/stateStore.js';
import { factKey, type Fact } from '../domain/facts.js';
import type { FactWriter } from '../sinks/clickhouse/factWriter.js';
import { repeatEvery } from '../lib/repeatEvery.js';

export interface RiskScoring {
  /** Scores the last period that ended (or `periodEnd`) unless it was scored; its alerts, or null. */
  scoreNow(periodEnd?: number): Promise<{ periodEnd: number; customers: number; alerts: number } | null>;
  stop(): Promise<void>;
}

/**
 * The risk score per customer and period, on a schedule (issue 19): periods end on multiples of
 * `everyMs`; once a period's end is older than the rules' allowed lateness, one worker (a claim in
 * Redis) reads the customers' windows over the rule file's `risk.period` before it, scores the
 * graph typologies (src/aml/risk) and writes the customers at or above the alert threshold as
 * `aml_alerts` facts through the durable writer: the alert outbox sends them, and they are cases
 * like every alert. A period is marked scored only after its alerts are durable; a failure is
 * logged and the period tried again at the next check. Alert ids are deterministic per rule
 * version, customer and period, so a repeat writes nothing new.
 */
export function startRiskScoring(o: {
  rules: () => RuleSet;
  store: AmlStateStore;
  customers: () => readonly string[];
  writer: FactWriter;
  redis: Redis;
  namespace: string;
  everyMs: number;
  checkEveryMs?: number;
  log: Logger;
  now?: () => number;
}): RiskScoring {
  const now = o.now ?? Date.now;
  const key = (version: string, end: number, what: 'claim' | 'done') => `${o.namespace}:{aml}:risk:${what}:${version}:${end}`;

  async function scoreNow(periodEnd?: number) {
    const rules = o.rules();
    if (!rules.risk) return null;
    const t = now();
    const end = periodEnd ?? Math.floor((t - rules.allowedLatenessMs) / o.everyMs) * o.everyMs;
    if (await o.redis.exists(key(rules.version, end, 'done'))) return null;
    if ((await o.redis.set(key(rules.version, end, 'claim'), '1', 'PX', Math.max(o.everyMs, 600_000), 'NX')) !== 'OK') return null;
    try {
      const customers = o.customers();
      const r = await runRiskPeriod({ store: o.store, rules, customers, periodEnd: end, now: t });
      const facts: Fact[] = r.alerts.map((row) => ({ table: 'aml_alerts', row }));
      // Possibly written before a crash that lost the done mark: looked up, not duplicated.
      if (facts.length > 0) await o.writer.write(facts, { suspects: new Set(facts.map(factKey)) });
      await o.redis.set(key(rules.version, end, 'done'), String(r.alerts.length), 'PX', Math.max(2 * rules.risk.period, 2 * o.everyMs));
      o.log.info({ periodEnd: new Date(end).toISOString(), version: rules.version, customers: customers.length, alerts: r.alerts.length, patterns: r.hits.length }, 'aml: risk period scored');
      return { periodEnd: end, customers: customers.length, alerts: r.alerts.length };
    } catch (e) {
      await o.redis.del(key(rules.version, end, 'claim'));
      throw e;
    }
  }

  const loop = repeatEvery(
    o.checkEveryMs ?? 60_000,
    () => scoreNow(),
    (e) => o.log.error({ err: e }, 'aml: risk scoring failed; trying again at the next check'),
  );
  return {
    scoreNow,
    stop: () => loop.stop(),
  };
}
