/**
 * Scores one risk period: reads the customers' windows (the per-account adjacency in the state
 * store, Redis in the daemon), rebuilds the period's transfer graph, detects the graph typologies
 * and turns the customers at or above the alert threshold into alert rows that name the customer
 * and carry the contributing transfers. Reads only; the caller records the rows.
 */
import type { AmlAlertRow } from '../../domain/facts.js';
import { subjectKeyOf } from '../movements.js';
import type { RiskSection, RuleSet } from '../ruleFile.js';
import type { AmlStateStore } from '../stateStore.js';
import { buildTransferGraph } from '../graph/transferGraph.js';
import { detectPatterns, type PatternHit, type PatternParams } from '../graph/patterns.js';
import type { WindowEntry } from '../types.js';
import { scoreCustomers, type CustomerRisk, type RiskParams } from './riskScore.js';

export interface RiskPeriodResult {
  /** Every customer seen in the period, highest score first. */
  ranking: CustomerRisk[];
  hits: PatternHit[];
  alerts: AmlAlertRow[];
}

export function patternParamsOf(r: RiskSection): PatternParams {
  return {
    fanMinCounterparties: r.fanMinCounterparties,
    gatherScatterMinIn: r.gatherScatterMinIn,
    gatherScatterMinOut: r.gatherScatterMinOut,
    scatterGatherMinMiddles: r.scatterGatherMinMiddles,
    cycleMinLength: r.cycleMinLength,
    cycleMaxLength: r.cycleMaxLength,
    cycleMinHopShareBps: r.cycleMinHopShare,
    cycleMaxRecurringHops: r.cycleMaxRecurringHops,
    cycleSearchBudget: r.cycleSearchBudget,
    layering: r.layering,
    layerMinIn: r.layerMinIn,
    layerMinOut: r.layerMinOut,
    layerMinHeldShareBps: r.layerMinHeldShare,
    layerWindowMs: r.layerWindow,
    layerMaxDegree: r.layerMaxDegree,
    bipartiteMinMiddles: r.bipartiteMinMiddles,
    stackMinLayers: r.stackMinLayers,
    layerSearchBudget: r.layerSearchBudget,
  };
}

export function riskParamsOf(r: RiskSection): RiskParams {
  return {
    weights: r.weights,
    memberShareBps: r.memberShare,
    fanMembersByHubFreshShare: r.fanMembersByHubFreshShare,
    freshEdgePoints: r.freshEdgePoints,
    freshSharePoints: r.freshSharePoints,
    alertThreshold: r.alertThreshold,
    escalateThreshold: r.escalateThreshold,
  };
}

/** Customers' windows for the period, read in batches. */
export async function readCustomerWindows(store: AmlStateStore, customers: readonly string[], currency: string, from: number, to: number, maxEvents: number): Promise<Map<string, WindowEntry[]>> {
  const out = new Map<string, WindowEntry[]>();
  for (let i = 0; i < customers.length; i += 500) {
    const batch = customers.slice(i, i + 500);
    const read = await store.readWindows(
      batch.map((c) => subjectKeyOf('customer', c, currency)),
      from,
      to,
      maxEvents,
    );
    for (const c of batch) out.set(c, read.get(subjectKeyOf('customer', c, currency)) ?? []);
  }
  return out;
}

/** Scores the period ending at `periodEnd` (event time) for these customers. */
export async function runRiskPeriod(o: { store: AmlStateStore; rules: RuleSet; customers: readonly string[]; periodEnd: number; now: number }): Promise<RiskPeriodResult> {
  const r = o.rules.risk;
  if (!r) return { ranking: [], hits: [], alerts: [] };
  const from = o.periodEnd - r.period;
  const windows = await readCustomerWindows(o.store, o.customers, r.currency, from, o.periodEnd, o.rules.maxWindowEvents);
  return scorePeriod(windows, o.rules, r, from, o.periodEnd, o.now);
}

/** The pure part of a period: graph, patterns, scores, alert rows. */
export function scorePeriod(windows: ReadonlyMap<string, readonly WindowEntry[]>, rules: Pick<RuleSet, 'version'>, r: RiskSection, from: number, to: number, now: number): RiskPeriodResult {
  const graph = buildTransferGraph(windows, from, to);
  const hits = detectPatterns(graph, patternParamsOf(r));
  const ranking = scoreCustomers(graph, hits, riskParamsOf(r));
  const alerts = ranking
    .filter((c) => c.level !== 'none' && (!r.alertAnchorsOnly || c.anchored.length > 0))
    .map(
      (c): AmlAlertRow => ({
        alert_id: `risk:${rules.version}:${c.customer}:${r.currency}:${to}`,
        rule_id: 'risk-score',
        rule_type: 'risk_score',
        rule_version: rules.version,
        severity: c.level === 'escalate' ? 'critical' : 'high',
        scope: 'customer',
        subject: c.customer,
        currency: r.currency,
        window_start: from,
        window_end: to,
        event_time: to,
        trigger_event_id: c.evidence.at(-1) ?? '',
        evidence_event_ids: c.evidence,
        figures: JSON.stringify([
          { name: 'risk score', value: String(c.score), op: '>=', threshold: String(c.level === 'escalate' ? r.escalateThreshold : r.alertThreshold), unit: 'points' },
          { name: 'one-off counterparties', value: String(c.freshEdges), op: '>=', threshold: '0', unit: 'count' },
        ]),
        summary: `customer ${c.customer} scored ${c.score} (${c.level}): anchor of ${c.anchored.join(', ') || 'none'}; member of ${c.memberOf.join(', ') || 'none'}`,
        recorded_at: now,
        customers: c.customer.startsWith('0x') ? [] : [c.customer],
      }),
    );
  return { ranking, hits, alerts };
}
