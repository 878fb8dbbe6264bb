import { detectPatterns, type PatternParams } from '../../src/aml/graph/patterns.js';
import { buildTransferGraph } from '../../src/aml/graph/transferGraph.js';
import type { WindowEntry } from '../../src/aml/types.js';

// Small hand-made transfer graphs for the AML pattern tests (amlGraphPatterns, amlLayering).

export const DAY = 86_400_000;
export const P: PatternParams = {
  fanMinCounterparties: 4,
  gatherScatterMinIn: 2,
  gatherScatterMinOut: 2,
  scatterGatherMinMiddles: 3,
  cycleMinLength: 3,
  cycleMaxLength: 10,
  cycleMinHopShareBps: 1_000,
  cycleMaxRecurringHops: 1,
  cycleSearchBudget: 100_000,
  layering: true,
  layerMinIn: 2,
  layerMinOut: 2,
  layerMinHeldShareBps: 8_000,
  layerWindowMs: 14 * DAY,
  layerMaxDegree: 50,
  bipartiteMinMiddles: 2,
  stackMinLayers: 2,
  layerSearchBudget: 100_000,
};

export type T = [from: string, to: string, amount: number, day: number];

/** The customers' windows (both ends of every transfer), as the engine keeps them. */
export function windowsOf(transfers: readonly T[]): Map<string, WindowEntry[]> {
  const w = new Map<string, WindowEntry[]>();
  const add = (a: string, e: WindowEntry) => (w.get(a) ?? w.set(a, []).get(a)!).push(e);
  transfers.forEach(([from, to, amount, day], i) => {
    const common = { eventId: `chain:t${i}`, source: 'chain' as const, amount: BigInt(amount * 100), kind: 'transfer', time: day * DAY + i };
    add(from, { ...common, dir: 'out', counterparty: to });
    add(to, { ...common, dir: 'in', counterparty: from });
  });
  return w;
}
/** The patterns found in `t` over 30 days, with `p` over the defaults. */
export const patterns = (t: readonly T[], p: Partial<PatternParams> = {}) => detectPatterns(buildTransferGraph(windowsOf(t), 0, 30 * DAY), { ...P, ...p });
