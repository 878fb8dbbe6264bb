/**
 * `npm run aml:report -- --dataset amlsim [--rules config/aml-rules.yaml] [--json]`
 *
 * Replays the IBM AMLSim labeled set (test/fixtures/amlsim) through the AML engine — the daemon's
 * code path: chain transfers → movements → rules, windows in Redis (RedisStateStore, a namespace
 * of its own, deleted afterwards) — twice in one run: with the rule file's per-event rules only
 * (today's rules) and with its period risk score, which is computed at the end of the 30-day
 * period from the same Redis windows. Prints per typology recall by evidence and by subject, per
 * rule precision by subject, alerts per 1,000 transfers, the same for a baseline alerting the
 * most active accounts, and precision@k of the risk ranking against the activity ranking.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { AmlAlertRow } from '../domain/facts.js';
import { createAmlEngine } from '../aml/engine.js';
import { RedisStateStore } from '../aml/redisStateStore.js';
import { loadRuleFile, type RuleSet } from '../aml/ruleFile.js';
import { runRiskPeriod } from '../aml/risk/riskPeriod.js';
import { AMLSIM_CHAIN_ID, AMLSIM_CURRENCY, AMLSIM_START, AMLSIM_TOKEN, parseAmlSim, type AmlSimDataset } from '../generator/amlsim/amlSimDataset.js';
import { activityRanking, labeledAccounts, precisionAtK, scoreLabeled, type LabeledScore } from '../generator/amlsim/scoreLabeled.js';

const DAY = 86_400_000;

export interface AmlSimRun {
  alerts: AmlAlertRow[];
  ranking: string[];
  /** Whole replay, period run included. */
  ms: number;
  /** The period risk run alone. */
  periodMs: number;
}

export function loadAmlSimFixture(dir = 'test/fixtures/amlsim'): AmlSimDataset {
  return parseAmlSim(readFileSync(resolve(dir, 'transactions.csv'), 'utf8'), readFileSync(resolve(dir, 'alert_members.csv'), 'utf8'));
}

/** Replays the data set through a fresh engine on Redis (windows in `shards` shards); the risk period (if the rules have one) ends after the last day. */
export async function replayAmlSim(d: AmlSimDataset, rules: RuleSet, redisUrl: string, shards = 1): Promise<AmlSimRun> {
  const namespace = `amlsim${randomUUID().slice(0, 8)}`;
  const redis = new Redis(redisUrl, { lazyConnect: false });
  const accountOf = new Map(d.accounts.map((a) => [d.walletOf(a), a]));
  const store = new RedisStateStore(redis, namespace, shards);
  const engine = createAmlEngine({
    store,
    identities: {
      accountOfWallet: (w) => accountOf.get(w),
      walletsOfAccount: (a) => [d.walletOf(a)],
      currencyOfToken: (k) => (k === `${AMLSIM_CHAIN_ID}:${AMLSIM_TOKEN}` ? AMLSIM_CURRENCY : undefined),
      exponentOf: () => 2,
    },
    rules: () => rules,
    watchlist: () => new Set(),
    now: () => AMLSIM_START + d.days * DAY,
  });
  try {
    const began = performance.now();
    const alerts: AmlAlertRow[] = [];
    for (const ev of d.events) alerts.push(...(await engine.onChainEvent(ev)).alerts);
    const periodBegan = performance.now();
    const risk = await runRiskPeriod({ store, rules, customers: d.accounts, periodEnd: AMLSIM_START + d.days * DAY, now: AMLSIM_START + d.days * DAY });
    alerts.push(...risk.alerts);
    const end = performance.now();
    return { alerts, ranking: risk.ranking.map((r) => r.customer), ms: end - began, periodMs: end - periodBegan };
  } finally {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${namespace}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
    await redis.quit();
  }
}

/** The most active accounts alerted, as many as `n`, each alert carrying all its transfers. */
export function activityBaselineAlerts(d: AmlSimDataset, n: number): { rule_id: string; subject: string; evidence_event_ids: string[] }[] {
  const acct = new Map(d.accounts.map((a) => [d.walletOf(a), a]));
  const transfers = d.events.map((e) => ({ from: acct.get(e.from)!, to: acct.get(e.to)!, id: `chain:${e.eventId}` }));
  return activityRanking(transfers)
    .slice(0, n)
    .map((a) => ({ rule_id: 'most-active', subject: a, evidence_event_ids: transfers.filter((t) => t.from === a || t.to === a).map((t) => t.id) }));
}

function formatScore(title: string, s: LabeledScore): string {
  const pct = (a: number, b: number) => (b === 0 ? '  n/a' : `${((100 * a) / b).toFixed(1).padStart(5)}%`);
  const lines = [`${title}: ${s.alerts} alerts, ${s.alertsPer1000.toFixed(1)} per 1,000 transfers`, '  typology        instances  recall by evidence  recall by subject'];
  for (const t of s.typologies)
    lines.push(
      `  ${t.typology.padEnd(15)} ${String(t.instances).padStart(9)}  ${String(t.byEvidence).padStart(3)} ${pct(t.byEvidence, t.instances)}        ${String(t.bySubject).padStart(3)} ${pct(t.bySubject, t.instances)}`,
    );
  for (const r of s.rules) lines.push(`  rule ${r.rule.padEnd(18)} ${String(r.alerts).padStart(5)} alerts, precision by subject ${pct(r.labeledSubjects, r.alerts)}`);
  return lines.join('\n');
}

export async function amlSimReport(o: { rules: string; json: boolean; redisUrl: string }): Promise<number> {
  const d = loadAmlSimFixture();
  const rules = loadRuleFile(resolve(o.rules));
  const today: RuleSet = { ...rules, risk: undefined, horizonMs: Math.max(0, ...rules.rules.map((r) => ('window' in r ? r.window : 'period' in r ? r.period : 0))) };
  const old = await replayAmlSim(d, today, o.redisUrl);
  const cur = await replayAmlSim(d, rules, o.redisUrl);
  const labeled = labeledAccounts(d.instances);
  const oldScore = scoreLabeled(d.instances, old.alerts, d.events.length);
  const newScore = scoreLabeled(d.instances, cur.alerts, d.events.length);
  const baseScore = scoreLabeled(d.instances, activityBaselineAlerts(d, cur.alerts.length), d.events.length);
  const acct = new Map(d.accounts.map((a) => [d.walletOf(a), a]));
  const activity = activityRanking(d.events.map((e) => ({ from: acct.get(e.from)!, to: acct.get(e.to)! })));
  const pRisk = precisionAtK(cur.ranking, labeled, labeled.size);
  const pAct = precisionAtK(activity, labeled, labeled.size);
  const beats = pRisk.filter((p, i) => p > pAct[i]!).length;
  const minRisk = Math.min(...pRisk);
  const under80 = pRisk.map((p, i) => [i + 1, p] as const).filter(([, p]) => p < 0.8);
  const summary = {
    dataset: { accounts: d.accounts.length, transfers: d.events.length, days: d.days, instances: d.instances.length, labeledAccounts: labeled.size },
    rulesVersion: rules.version,
    todayRules: { ...oldScore, replayMs: Math.round(old.ms) },
    withRiskScore: { ...newScore, replayMs: Math.round(cur.ms) },
    mostActiveBaseline: baseScore,
    ranking: {
      depth: labeled.size,
      riskBeatsActivityAt: beats,
      minPrecisionRisk: minRisk,
      maxPrecisionActivity: Math.max(...pAct),
      kBelow80: under80.length,
      precisionAtK: pRisk.map((p, i) => ({ k: i + 1, risk: p, activity: pAct[i]! })),
    },
  };
  if (o.json) {
    console.log(JSON.stringify(summary, null, 2));
    return 0;
  }
  console.log(`IBM AMLSim labeled set: ${d.accounts.length} accounts, ${d.events.length} transfers, ${d.days} days, ${d.instances.length} instances, ${labeled.size} labeled accounts`);
  console.log(`rule file ${resolve(o.rules)} version ${rules.version}; engine on Redis (${o.redisUrl})\n`);
  console.log(formatScore(`today's per-event rules (replay ${(old.ms / 1000).toFixed(1)} s)`, oldScore));
  console.log(formatScore(`\nper-event rules + period risk score (replay ${(cur.ms / 1000).toFixed(1)} s)`, newScore));
  console.log(formatScore(`\nbaseline: the ${cur.alerts.length} most active accounts`, baseScore));
  console.log(`\nranking, precision@k for k = 1..${labeled.size} (labeled accounts): risk score beats activity at ${beats} of ${labeled.size} depths`);
  console.log(
    `  risk: min ${(minRisk * 100).toFixed(1)}% (k=${pRisk.indexOf(minRisk) + 1}), ${under80.length} depths below 80%${under80.length ? ` (k ${under80[0]![0]}..${under80.at(-1)![0]})` : ''}; activity: max ${(Math.max(...pAct) * 100).toFixed(1)}%`,
  );
  const ks = [1, 5, 10, 25, 50, 100, 150, 200, 250, 300, 350, 400, labeled.size].filter((k) => k <= labeled.size);
  console.log(`  k        ${ks.map((k) => String(k).padStart(6)).join('')}`);
  console.log(`  risk     ${ks.map((k) => `${(pRisk[k - 1]! * 100).toFixed(0)}%`.padStart(6)).join('')}`);
  console.log(`  activity ${ks.map((k) => `${(pAct[k - 1]! * 100).toFixed(0)}%`.padStart(6)).join('')}`);
  return 0;
}
