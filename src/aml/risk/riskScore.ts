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
        a.score += Math.floor((w * p.memberShareBps) / 10_000);
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
