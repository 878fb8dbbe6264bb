/**
 * Layering typologies on the fresh edges of a period's transfer graph (pure; see
 * transferGraph.ts): value passed many-to-many from one group of customers to another.
 *
 * - A *layer node* is a customer that collects from ≥ `layerMinIn` one-off payers and passes the
 *   value on to ≥ `layerMinOut` one-off payees, every payment out after its first collection and
 *   within `layerWindowMs` of it, with value roughly held: what it passes on is between
 *   `layerMinHeldShareBps` of what it collected and what it collected divided by that share.
 * - bipartite: ≥ `bipartiteMinMiddles` layer nodes that share payers and payees — a group of
 *   sources paying a group of intermediaries that pay a group of sinks. Two layer nodes are in
 *   one group when they have a common payer and a common payee; each group is found once.
 * - stack: ≥ `stackMinLayers` bipartite groups in succession, the intermediaries of each paying
 *   ≥ `bipartiteMinMiddles` intermediaries of the next: value moving group to group.
 *
 * What is not layering: a payroll (one payer per employee), two trading partners (never fresh),
 * a marketplace where many buyers pay many sellers who keep the takings or pay their usual
 * suppliers (the sellers pass on no matching value to one-off payees, so they are no layer
 * nodes).
 *
 * Bounded: a payer or payee with more than `layerMaxDegree` one-off counterparties links no
 * group (a hub is the fan typologies' business, and it would make grouping quadratic), and the
 * grouping and the stacking stop after `layerSearchBudget` steps.
 */
import type { TransferEdge, TransferGraph } from './transferGraph.js';

export interface LayeringParams {
  layerMinIn: number;
  layerMinOut: number;
  layerMinHeldShareBps: number;
  layerWindowMs: number;
  layerMaxDegree: number;
  bipartiteMinMiddles: number;
  stackMinLayers: number;
  layerSearchBudget: number;
}

/** One group of intermediaries with its sources and sinks (a bipartite layering). */
export interface LayerGroup {
  /** Intermediaries, sorted. */
  middles: string[];
  sources: string[];
  sinks: string[];
  /** Transfers into and out of the intermediaries that make the group, by time. */
  evidence: TransferEdge[];
}

interface LayerNode {
  ins: readonly TransferEdge[];
  outs: TransferEdge[];
}

/** Layer nodes of the graph: collect from several one-off payers, pass value on to several one-off payees. */
export function layerNodes(g: TransferGraph, p: LayeringParams): Map<string, LayerNode> {
  const nodes = new Map<string, LayerNode>();
  for (const v of g.accounts) {
    const ins = g.freshIn(v);
    if (ins.length < p.layerMinIn) continue;
    const first = ins[0]!.time;
    const outs = g.freshOut(v).filter((e) => e.time >= first && e.time - first <= p.layerWindowMs);
    if (outs.length < p.layerMinOut) continue;
    const inWindow = ins.filter((e) => e.time - first <= p.layerWindowMs);
    if (inWindow.length < p.layerMinIn) continue;
    const collected = inWindow.reduce((s, e) => s + e.amount, 0n);
    const passed = outs.reduce((s, e) => s + e.amount, 0n);
    const share = BigInt(p.layerMinHeldShareBps);
    if (passed * 10_000n < collected * share || collected * 10_000n < passed * share) continue;
    nodes.set(v, { ins: inWindow, outs });
  }
  return nodes;
}

/** Bipartite layering groups: layer nodes linked by a common payer and a common payee. */
export function bipartiteGroups(g: TransferGraph, p: LayeringParams, nodes: ReadonlyMap<string, LayerNode> = layerNodes(g, p)): LayerGroup[] {
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    let r = x;
    while (parent.get(r)! !== r) r = parent.get(r)!;
    parent.set(x, r);
    return r;
  };
  for (const v of nodes.keys()) parent.set(v, v);
  let budget = p.layerSearchBudget;
  const paidBy = new Map<string, Set<string>>();
  for (const [v, n] of nodes) paidBy.set(v, new Set(n.outs.map((e) => e.to)));
  // Layer nodes sharing a payer, then among those, sharing a payee.
  const payers = new Set<string>();
  for (const n of nodes.values()) for (const e of n.ins) payers.add(e.from);
  search: for (const payer of [...payers].sort()) {
    const out = g.freshOut(payer);
    if (out.length > p.layerMaxDegree) continue;
    const middles = out.map((e) => e.to).filter((m) => nodes.has(m));
    for (let i = 0; i < middles.length; i++) {
      for (let j = i + 1; j < middles.length; j++) {
        if ((budget -= 1) < 0) break search;
        const a = middles[i]!;
        const b = middles[j]!;
        if (find(a) === find(b)) continue;
        const bOut = paidBy.get(b)!;
        let shared = false;
        for (const sink of paidBy.get(a)!) {
          if (bOut.has(sink) && g.freshIn(sink).length <= p.layerMaxDegree) {
            shared = true;
            break;
          }
        }
        if (shared) parent.set(find(a), find(b));
      }
    }
  }
  const groups = new Map<string, string[]>();
  for (const v of nodes.keys()) {
    const r = find(v);
    (groups.get(r) ?? groups.set(r, []).get(r)!).push(v);
  }
  const out: LayerGroup[] = [];
  for (const members of groups.values()) {
    if (members.length < p.bipartiteMinMiddles) continue;
    members.sort();
    const evidence = members.flatMap((m) => [...nodes.get(m)!.ins, ...nodes.get(m)!.outs]);
    evidence.sort((x, y) => x.time - y.time || (x.eventId < y.eventId ? -1 : 1));
    const mids = new Set(members);
    out.push({
      middles: members,
      sources: [...new Set(members.flatMap((m) => nodes.get(m)!.ins.map((e) => e.from)))].filter((s) => !mids.has(s)).sort(),
      sinks: [...new Set(members.flatMap((m) => nodes.get(m)!.outs.map((e) => e.to)))].filter((s) => !mids.has(s)).sort(),
      evidence,
    });
  }
  return out.sort((x, y) => (x.middles[0]! < y.middles[0]! ? -1 : 1));
}

/**
 * Stacks of bipartite groups: the longest chains of groups, each paying ≥ `bipartiteMinMiddles`
 * intermediaries of the next, with at least `stackMinLayers` groups. Each chain is reported
 * once, from the group that no other group of the chain pays.
 */
export function stackChains(groups: readonly LayerGroup[], p: LayeringParams): LayerGroup[][] {
  const groupOf = new Map<string, number>();
  groups.forEach((gr, i) => {
    for (const m of gr.middles) groupOf.set(m, i);
  });
  // next[i]: groups whose intermediaries ≥ bipartiteMinMiddles of group i's intermediaries pay.
  const next: number[][] = groups.map((gr, i) => {
    const reached = new Map<number, Set<string>>();
    for (const e of gr.evidence) {
      const j = groupOf.get(e.to);
      if (j === undefined || j === i || !gr.middles.includes(e.from)) continue;
      (reached.get(j) ?? reached.set(j, new Set()).get(j)!).add(e.to);
    }
    return [...reached].filter(([, s]) => s.size >= p.bipartiteMinMiddles).map(([j]) => j);
  });
  const hasPred = new Set(next.flat());
  const chains: LayerGroup[][] = [];
  let budget = p.layerSearchBudget;
  const walk = (path: number[]): void => {
    const last = path[path.length - 1]!;
    const onward = next[last]!.filter((j) => !path.includes(j));
    if (onward.length === 0 || (budget -= 1) < 0) {
      if (path.length >= p.stackMinLayers) chains.push(path.map((i) => groups[i]!));
      return;
    }
    for (const j of onward) walk([...path, j]);
  };
  groups.forEach((_, i) => {
    if (!hasPred.has(i)) walk([i]);
  });
  return chains;
}
