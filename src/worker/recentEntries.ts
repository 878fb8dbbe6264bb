import type { ReversalLookup } from '../domain/reversalLink.js';
import type { LedgerEntry } from '../domain/types.js';

interface Recent {
  entryId: string;
  endToEndId: string | null;
  reference: string | null;
  bookingTime: number;
  seenAt: number;
  /** Its key in `byKey`. */
  key: string;
  /**
   * Settles once the entry's leg is in the match store; removed then, so that a remembered entry
   * holds no promise for the ttl (at a steady 1,000 ev/s some 60,000 entries are live).
   */
  settled: Promise<void> | undefined;
}

const keyOf = (accountId: string, currency: string, amountMinor: bigint, flow: string) => `${accountId}|${currency}|${amountMinor}|${flow}`;

/**
 * The booked deposit credits and withdrawal debits this worker processed lately, for the reversal
 * lookup (src/worker/reversalLinking.ts) to find an original whose facts are not in ClickHouse yet:
 * one in the same batch as its reversal, or loaded by the fact log a second later. The durable
 * facts stay the first place looked; this only closes the gap. Bounded by age and by count. With
 * partitioned streams (by account) an entry and its reversal always meet in one worker; with
 * workers sharing a consumer they may not, and the reversal is then an ORPHAN as before.
 */
export class RecentEntries {
  private readonly byKey = new Map<string, Recent[]>();
  /** Every remembered entry, oldest first (by `seenAt`); a slot is emptied once its entry is forgotten. */
  private readonly order: (Recent | undefined)[] = [];
  private head = 0;

  constructor(private readonly o: { ttlMs: number; max: number; now?: () => number }) {}

  /** Remembers a booked original (other entries are ignored); `settled` resolves once its leg is stored. */
  add(e: LedgerEntry, settled: Promise<unknown>): void {
    if (e.status !== 'booked') return;
    const flow = e.txType === 'deposit' && e.direction === 'credit' ? 'deposit' : e.txType === 'withdrawal' && e.direction === 'debit' ? 'withdrawal' : null;
    if (!flow) return;
    const now = this.now();
    this.expire(now);
    const key = keyOf(e.accountId, e.currency, e.amountMinor, flow);
    const list = this.byKey.get(key) ?? [];
    const r: Recent = { entryId: e.entryId, endToEndId: e.endToEndId, reference: e.tokenizationRef, bookingTime: e.bookingTime, seenAt: now, key, settled: undefined };
    const done = (): void => {
      r.settled = undefined;
    };
    r.settled = settled.then(done, done);
    list.push(r);
    this.byKey.set(key, list);
    this.order.push(r);
    while (this.order.length - this.head > this.o.max) this.forgetOldest();
  }

  /** The latest (by booking time) remembered original `l` names, once its leg is stored; else null. */
  async find(l: ReversalLookup): Promise<string | null> {
    this.expire(this.now());
    const list = this.byKey.get(keyOf(l.accountId, l.currency, l.amountMinor, l.reverses)) ?? [];
    let best: Recent | undefined;
    for (const r of list) {
      const named = (r.endToEndId !== null && r.endToEndId !== '' && l.ids.includes(r.endToEndId)) || l.ids.includes(r.entryId) || (!!l.reference && r.reference === l.reference);
      if (named && (!best || r.bookingTime > best.bookingTime)) best = r;
    }
    if (!best) return null;
    if (best.settled) await best.settled;
    return best.entryId;
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  private expire(now: number): void {
    while (this.head < this.order.length && now - this.order[this.head]!.seenAt > this.o.ttlMs) this.forgetOldest();
    if (this.head > 1_024 && this.head * 2 > this.order.length) {
      this.order.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Forgets the oldest remembered entry; its slot no longer holds it until the queue is compacted. */
  private forgetOldest(): void {
    const r = this.order[this.head]!;
    this.order[this.head++] = undefined;
    this.drop(r.key);
  }

  /** Forgets the oldest entry under `key` (entries under a key are in arrival order). */
  private drop(key: string): void {
    const list = this.byKey.get(key);
    if (!list) return;
    list.shift();
    if (list.length === 0) this.byKey.delete(key);
  }
}
