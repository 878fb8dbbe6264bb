/**
 * Graph typologies on the fresh edges of a period's transfer graph (pure; see transferGraph.ts).
 * Time order matters only where the typology is defined by it (a gather before its scatter, a
 * scatter before its gather); cycles may close in any hop order, which is how loops look when
 * several mules forward at their own pace.
 *
 * - fan_in / fan_out: at least `fanMinCounterparties` one-off counterparties paying / paid by one
 *   customer within the period (weeks, not one day).
 * - gather_scatter: a customer collecting from ≥ `gatherScatterMinIn` one-off payers and paying
 *   ≥ `gatherScatterMinOut` one-off payees after the first collection.
 * - scatter_gather: an origin paying ≥ `scatterGatherMinMiddles` one-off intermediaries that each
 *   pay one common destination afterwards.
 * - cycle: a simple loop of `cycleMinLength`..`cycleMaxLength` fresh edges (at most
 *   `cycleMaxRecurringHops` of them over a recurring relationship: a mule account may also have
 *   a normal one with the next) in which value roughly holds: the smallest hop is at least
 *   `cycleMinHopShareBps` of the largest.
 * - bipartite / stack: layering, value passed many-to-many from group to group (layering.ts).
 */
import { bipartiteGroups, layerNodes, stackChains, type LayerGroup, type LayeringParams } from './layering.js';
import type { TransferEdge, TransferGraph } from './transferGraph.js';

export const GRAPH_TYPOLOGIES = ['fan_in', 'fan_out', 'cycle', 'scatter_gather', 'gather_scatter', 'bipartite', 'stack'] as const;
export type GraphTypology = (typeof GRAPH_TYPOLOGIES)[number];

export interface PatternParams extends LayeringParams {
  fanMinCounterparties: number;
  gatherScatterMinIn: number;
  gatherScatterMinOut: number;
  scatterGatherMinMiddles: number;
  cycleMinLength: number;
  cycleMaxLength: number;
  cycleMinHopShareBps: number;
  /** Hops of a loop allowed over a recurring or two-way relationship (the rest must be fresh). */
  cycleMaxRecurringHops: number;
  /** DFS steps allowed per cycle start (bounds the cost on dense graphs). */
  cycleSearchBudget: number;
  /** Detect bipartite and stack layering. */
  layering: boolean;
}

export interface PatternHit {
  typology: GraphTypology;
  /** The customer the pattern is centred on (the hub, the origin, the loop's or the first group's smallest id). */
  anchor: string;
  /** Every customer in the pattern, anchor included. */
  members: string[];
  /** The transfers that make the pattern. */
  evidence: TransferEdge[];
}

export function detectPatterns(g: TransferGraph, p: PatternParams): PatternHit[] {
  const hits: PatternHit[] = [];
  for (const v of g.accounts) {
    const ins = g.freshIn(v);
    const outs = g.freshOut(v);
    if (ins.length >= p.fanMinCounterparties)
      hits.push(
        hub(
          'fan_in',
          v,
          ins,
          ins.map((e) => e.from),
        ),
      );
    if (outs.length >= p.fanMinCounterparties)
      hits.push(
        hub(
          'fan_out',
          v,
          outs,
          outs.map((e) => e.to),
        ),
      );
    if (ins.length >= p.gatherScatterMinIn) {
      const after = outs.filter((e) => e.time >= ins[0]!.time);
      if (after.length >= p.gatherScatterMinOut) hits.push(hub('gather_scatter', v, [...ins, ...after], [...ins.map((e) => e.from), ...after.map((e) => e.to)]));
    }
    hits.push(...scatterGathers(g, v, p));
  }
  hits.push(...cycles(g, p));
  if (p.layering) hits.push(...layering(g, p));
  return hits;
}

function layering(g: TransferGraph, p: PatternParams): PatternHit[] {
  const groups = bipartiteGroups(g, p, layerNodes(g, p));
  const membersOf = (gr: LayerGroup) => [...gr.middles, ...gr.sources, ...gr.sinks];
  const hits: PatternHit[] = groups.map((gr) => ({ typology: 'bipartite', anchor: gr.middles[0]!, members: [...new Set(membersOf(gr))], evidence: gr.evidence }));
  for (const chain of stackChains(groups, p)) {
    const evidence = new Map(chain.flatMap((gr) => gr.evidence.map((e) => [e.eventId, e] as const)));
    hits.push({
      typology: 'stack',
      anchor: chain[0]!.middles[0]!,
      members: [...new Set(chain.flatMap(membersOf))],
      evidence: [...evidence.values()].sort((x, y) => x.time - y.time || (x.eventId < y.eventId ? -1 : 1)),
    });
  }
  return hits;
}

function hub(typology: GraphTypology, anchor: string, evidence: readonly TransferEdge[], others: string[]): PatternHit {
  return { typology, anchor, members: [anchor, ...new Set(others)], evidence: [...evidence] };
}

function scatterGathers(g: TransferGraph, origin: string, p: PatternParams): PatternHit[] {
  const byDest = new Map<string, TransferEdge[]>();
  for (const first of g.freshOut(origin)) {
    for (const second of g.freshOut(first.to)) {
      if (second.to === origin || second.time < first.time) continue;
      const l = byDest.get(second.to) ?? [];
      // One pair of edges per middle: the first gather after the scatter.
      if (!l.some((e) => e.from === first.to)) l.push(first, second);
      byDest.set(second.to, l);
    }
  }
  const hits: PatternHit[] = [];
  for (const [dest, edges] of byDest) {
    const middles = edges.filter((e) => e.from === origin).map((e) => e.to);
    if (middles.length < p.scatterGatherMinMiddles) continue;
    hits.push({ typology: 'scatter_gather', anchor: origin, members: [origin, ...middles, dest], evidence: edges });
  }
  return hits;
}

/** Simple cycles, each found once: from its smallest member, through larger members only. */
function cycles(g: TransferGraph, p: PatternParams): PatternHit[] {
  const hits: PatternHit[] = [];
  for (const start of g.accounts) {
    let budget = p.cycleSearchBudget;
    const path: TransferEdge[] = [];
    const onPath = new Set<string>([start]);
    let recurring = 0;
    const walk = (node: string): void => {
      const fresh = g.freshOut(node);
      const next = recurring < p.cycleMaxRecurringHops ? [...fresh, ...g.recurringOut(node)] : fresh;
      for (let i = 0; i < next.length; i++) {
        const e = next[i]!;
        const isRecurring = i >= fresh.length;
        if (--budget < 0) return;
        if (e.to === start) {
          const loop = [...path, e];
          if (loop.length >= p.cycleMinLength && loop.length > recurring + (isRecurring ? 1 : 0) && holdsValue(loop, p.cycleMinHopShareBps)) {
            hits.push({ typology: 'cycle', anchor: start, members: loop.map((x) => x.from), evidence: loop });
          }
          continue;
        }
        if (e.to < start || onPath.has(e.to) || path.length + 1 >= p.cycleMaxLength) continue;
        onPath.add(e.to);
        path.push(e);
        if (isRecurring) recurring++;
        walk(e.to);
        if (isRecurring) recurring--;
        path.pop();
        onPath.delete(e.to);
      }
    };
    walk(start);
  }
  return hits;
}

function holdsValue(loop: readonly TransferEdge[], minShareBps: number): boolean {
  let min = loop[0]!.amount;
  let max = loop[0]!.amount;
  for (const e of loop) {
    if (e.amount < min) min = e.amount;
    if (e.amount > max) max = e.amount;
  }
  return min * 10_000n >= max * BigInt(minShareBps);
}
