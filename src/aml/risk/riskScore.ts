/**
 * A risk score per customer and period (pure): typologies as weighted outcomes, in the manner of
 * Tazama's typology model. Each graph pattern adds its typology's weight to its anchor and a share
 * of it to every other member; each one-off counterparty (a fresh edge, see transferGraph.ts) adds
 * a little, so several weak signals on one customer outrank one strong signal on a busy account.
 * A customer at or above `alertThreshold` is alerted, at or above `escalateThreshold` escalated.
 * Scores are integer points (no floats).
 */
import { GRAPH_TYPOLOGIES, type GraphTypology, type PatternHit } from '../graph/patterns.js';
import type { TransferGraph } from '../graph/transferGraph.js';

export interface RiskParams {
  /** Points a pattern gives its anchor. */
  weights: Record<GraphTypology, number>;
  /** Share (bps) of the weight every other member of the pattern gets. */
  memberShareBps: number;
  /**
   * A fan's members get their share in proportion to the hub's one-off share on that side (its
   * one-off payers of all its payers for a fan-in, payees for a fan-out).
   */
  fanMembersByHubFreshShare: boolean;
  /** Points per one-off counterparty of the customer in the period. */
  freshEdgePoints: number;
  /** Points for a customer whose counterparties are all one-off, in proportion (its own baseline: how new its relations are). */
  freshSharePoints: number;
  alertThreshold: number;
  escalateThreshold: number;
}

export interface CustomerRisk {
  customer: string;
  score: number;
  /** Typologies the customer is anchor of, then member of (deduplicated, in GRAPH_TYPOLOGIES order). */
  anchored: GraphTypology[];
  memberOf: GraphTypology[];
  freshEdges: number;
  /** Event ids of the contributing transfers, by time. */
  evidence: string[];
  level: 'none' | 'alert' | 'escalate';
}

/** Every customer of the graph with its score, highest first (ties: by id). */
export function scoreCustomers(g: TransferGraph, hits: readonly PatternHit[], p: RiskParams): CustomerRisk[] {
  const acc = new Map<string, { score: number; anchored: Set<GraphTypology>; memberOf: Set<GraphTypology>; evidence: Map<string, number>; freshEdges: number }>();
  const of = (c: string) => {
    let a = acc.get(c);
    if (!a) acc.set(c, (a = { score: 0, anchored: new Set(), memberOf: new Set(), evidence: new Map(), freshEdges: 0 }));
    return a;
  };
  for (const c of g.accounts) {
    const a = of(c);
    const fresh = [...g.freshIn(c), ...g.freshOut(c)];
    a.freshEdges = fresh.length;
    a.score += fresh.length * p.freshEdgePoints;
    const counterparties = g.counterparties(c);
    if (counterparties > 0) a.score += Math.floor((p.freshSharePoints * fresh.length) / counterparties);
  }
  for (const h of hits) {
    const w = p.weights[h.typology];
    for (const m of new Set(h.members)) {
      const a = of(m);
      if (m === h.anchor) {
        a.score += w;
        a.anchored.add(h.typology);
        for (const e of h.evidence) a.evidence.set(e.eventId, e.time);
      } else {
        a.score += memberPoints(g, h, w, p);
        a.memberOf.add(h.typology);
        for (const e of h.evidence) if (e.from === m || e.to === m) a.evidence.set(e.eventId, e.time);
      }
    }
  }
  const ordered = (s: Set<GraphTypology>) => GRAPH_TYPOLOGIES.filter((t) => s.has(t));
  return [...acc]
    .map(([customer, a]) => ({
      customer,
      score: a.score,
      anchored: ordered(a.anchored),
      memberOf: ordered(a.memberOf),
      freshEdges: a.freshEdges,
      evidence: [...a.evidence].sort((x, y) => x[1] - y[1] || (x[0] < y[0] ? -1 : 1)).map(([id]) => id),
      level: a.score >= p.escalateThreshold ? ('escalate' as const) : a.score >= p.alertThreshold ? ('alert' as const) : ('none' as const),
    }))
    .sort((x, y) => y.score - x.score || (x.customer < y.customer ? -1 : x.customer > y.customer ? 1 : 0));
}

/**
 * Points a non-anchor member gets from a pattern. A one-off payer of a hub whose payers mostly
 * recur is more likely a new customer of a going business than a mule, so with
 * `fanMembersByHubFreshShare` a fan's members get `memberShareBps` of its weight scaled by the
 * hub's one-off share on the fan's side; the hub itself keeps the full weight.
 */
function memberPoints(g: TransferGraph, h: PatternHit, weight: number, p: RiskParams): number {
  const points = Math.floor((weight * p.memberShareBps) / 10_000);
  if (!p.fanMembersByHubFreshShare || (h.typology !== 'fan_in' && h.typology !== 'fan_out')) return points;
  const dir = h.typology === 'fan_in' ? 'in' : 'out';
  const fresh = dir === 'in' ? g.freshIn(h.anchor).length : g.freshOut(h.anchor).length;
  const all = g.counterpartiesBy(h.anchor, dir);
  return all === 0 ? points : Math.floor((points * fresh) / all);
}
