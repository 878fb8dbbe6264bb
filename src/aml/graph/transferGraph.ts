/**
 * The rolling transfer graph of one risk period, rebuilt from the customers' windows (pure). The
 * windows are the per-account adjacency the engine already keeps in the sharded state (each
 * account's movements with their counterparty, trimmed by age), so the graph is bounded in time
 * by the period and in memory by the window cap; nothing else is stored.
 *
 * A *fresh* edge is an ordered pair of customers with exactly one transfer in the period and no
 * transfer the other way: a one-off counterparty. Recurring relationships (payroll, rent, a
 * supplier paid every week) and two-way trading partners are the customer's normal baseline and
 * never fresh; the graph patterns look at fresh edges only.
 */
import type { WindowEntry } from '../types.js';

export interface TransferEdge {
  eventId: string;
  from: string;
  to: string;
  amount: bigint;
  time: number;
}

export interface TransferGraph {
  readonly edges: readonly TransferEdge[];
  /** Fresh out-edges of a customer (one per counterparty), by time. */
  freshOut(account: string): readonly TransferEdge[];
  freshIn(account: string): readonly TransferEdge[];
  /** Transfers between the two in either direction within the period. */
  pairCount(a: string, b: string): number;
  /** Out-edges of a customer to counterparties it has a recurring or two-way relationship with: the first transfer per counterparty. */
  recurringOut(account: string): readonly TransferEdge[];
  /** Distinct counterparties of a customer in the period (either direction). */
  counterparties(account: string): number;
  /** Distinct payers (`in`) or payees (`out`) of a customer in the period. */
  counterpartiesBy(account: string, dir: 'in' | 'out'): number;
  /** Customers with at least one transfer in the period. */
  readonly accounts: readonly string[];
}

/**
 * Builds the graph from customer windows (`account → its movements`), keeping movements with a
 * known counterparty in [from, to]. An edge seen from both ends (the usual case) counts once.
 */
export function buildTransferGraph(windows: ReadonlyMap<string, readonly WindowEntry[]>, from: number, to: number): TransferGraph {
  const byId = new Map<string, TransferEdge>();
  for (const [account, window] of windows) {
    for (const e of window) {
      if (e.counterparty === '' || e.counterparty === account || e.time < from || e.time > to) continue;
      if (byId.has(e.eventId)) continue;
      const edge = e.dir === 'out' ? { from: account, to: e.counterparty } : { from: e.counterparty, to: account };
      byId.set(e.eventId, { eventId: e.eventId, ...edge, amount: e.amount, time: e.time });
    }
  }
  const edges = [...byId.values()].sort((a, b) => a.time - b.time || (a.eventId < b.eventId ? -1 : 1));
  const directed = new Map<string, TransferEdge[]>();
  const pairs = new Map<string, number>();
  const pairKey = (a: string, b: string) => (a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`);
  const accounts = new Set<string>();
  const partners = new Map<string, Set<string>>();
  const payers = new Map<string, Set<string>>();
  const payees = new Map<string, Set<string>>();
  const partner = (m: Map<string, Set<string>>, a: string, b: string) => (m.get(a) ?? m.set(a, new Set()).get(a)!).add(b);
  for (const e of edges) {
    partner(partners, e.from, e.to);
    partner(partners, e.to, e.from);
    partner(payees, e.from, e.to);
    partner(payers, e.to, e.from);
    const k = `${e.from}\u0000${e.to}`;
    const list = directed.get(k);
    if (list) list.push(e);
    else directed.set(k, [e]);
    pairs.set(pairKey(e.from, e.to), (pairs.get(pairKey(e.from, e.to)) ?? 0) + 1);
    accounts.add(e.from).add(e.to);
  }
  const out = new Map<string, TransferEdge[]>();
  const inn = new Map<string, TransferEdge[]>();
  const recurring = new Map<string, TransferEdge[]>();
  for (const list of directed.values()) {
    const e = list[0]!;
    if (list.length !== 1 || pairs.get(pairKey(e.from, e.to)) !== 1) {
      (recurring.get(e.from) ?? recurring.set(e.from, []).get(e.from)!).push(e);
      continue;
    }
    (out.get(e.from) ?? out.set(e.from, []).get(e.from)!).push(e);
    (inn.get(e.to) ?? inn.set(e.to, []).get(e.to)!).push(e);
  }
  const byTime = (a: TransferEdge, b: TransferEdge) => a.time - b.time || (a.eventId < b.eventId ? -1 : 1);
  for (const l of out.values()) l.sort(byTime);
  for (const l of inn.values()) l.sort(byTime);
  for (const l of recurring.values()) l.sort(byTime);
  return {
    edges,
    freshOut: (a) => out.get(a) ?? [],
    freshIn: (a) => inn.get(a) ?? [],
    pairCount: (a, b) => pairs.get(pairKey(a, b)) ?? 0,
    recurringOut: (a) => recurring.get(a) ?? [],
    counterparties: (a) => partners.get(a)?.size ?? 0,
    counterpartiesBy: (a, dir) => (dir === 'in' ? payers : payees).get(a)?.size ?? 0,
    accounts: [...accounts].sort(),
  };
}
