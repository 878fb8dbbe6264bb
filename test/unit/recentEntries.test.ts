import { describe, expect, it } from 'vitest';
import type { LedgerEntry } from '../../src/domain/types.js';
import { reversalLookupOf } from '../../src/domain/reversalLink.js';
import { RecentEntries } from '../../src/worker/recentEntries.js';

const entry = (over: Partial<LedgerEntry>): LedgerEntry => ({
  entryId: 'E-1',
  accountId: 'ACC-1',
  direction: 'credit',
  amountMinor: 5_000n,
  currency: 'USD',
  exponent: 2,
  bookingTime: 1_000,
  valueTime: 1_000,
  status: 'booked',
  txType: 'deposit',
  endToEndId: 'E2E-1',
  remittance: null,
  tokenizationRef: null,
  schemaVersion: 2,
  ...over,
});
const reversal = (over: Partial<LedgerEntry>) => reversalLookupOf(entry({ entryId: 'R-1', direction: 'debit', txType: 'reversal', ...over }))!;

describe('recent entries for the reversal lookup', () => {
  it('finds the original a reversal names by end-to-end id, entry id or reference, latest booking first', async () => {
    const r = new RecentEntries({ ttlMs: 60_000, max: 100 });
    r.add(entry({ entryId: 'E-old', bookingTime: 500 }), Promise.resolve());
    r.add(entry({ entryId: 'E-1' }), Promise.resolve());
    r.add(entry({ entryId: 'E-ref', endToEndId: null, tokenizationRef: 'TOK-9' }), Promise.resolve());
    expect(await r.find(reversal({ endToEndId: 'E2E-1' }))).toBe('E-1');
    expect(await r.find(reversal({ endToEndId: null, details: { reversalOf: 'E-old' } as never }))).toBe('E-old');
    expect(await r.find(reversal({ endToEndId: null, tokenizationRef: 'TOK-9' }))).toBe('E-ref');
    // Another amount, account or flow is not it; nor are pending entries and entries that are not originals.
    expect(await r.find(reversal({ endToEndId: 'E2E-1', amountMinor: 5_001n }))).toBeNull();
    expect(await r.find(reversal({ endToEndId: 'E2E-1', accountId: 'ACC-2' }))).toBeNull();
    expect(await r.find(reversal({ endToEndId: 'E2E-1', direction: 'credit' }))).toBeNull();
    const other = new RecentEntries({ ttlMs: 60_000, max: 100 });
    other.add(entry({ status: 'pending' }), Promise.resolve());
    other.add(entry({ txType: 'fee', direction: 'debit' } as Partial<LedgerEntry>), Promise.resolve());
    expect(await other.find(reversal({ endToEndId: 'E2E-1' }))).toBeNull();
  });

  it("answers only once the original's leg is stored, and even when storing it failed", async () => {
    const r = new RecentEntries({ ttlMs: 60_000, max: 100 });
    let store!: () => void;
    r.add(entry({}), new Promise<void>((res) => (store = res)));
    let answer: string | null | undefined;
    const pending = r.find(reversal({ endToEndId: 'E2E-1' })).then((a) => (answer = a));
    await Promise.resolve();
    expect(answer).toBeUndefined();
    store();
    await pending;
    expect(answer).toBe('E-1');
    const failed = new RecentEntries({ ttlMs: 60_000, max: 100 });
    failed.add(entry({}), Promise.reject(new Error('Redis down')));
    expect(await failed.find(reversal({ endToEndId: 'E2E-1' }))).toBe('E-1');
  });

  it('forgets entries past their age and beyond its size', async () => {
    let now = 0;
    const r = new RecentEntries({ ttlMs: 1_000, max: 2, now: () => now });
    r.add(entry({ entryId: 'A', endToEndId: 'E-A' }), Promise.resolve());
    r.add(entry({ entryId: 'B', endToEndId: 'E-B' }), Promise.resolve());
    r.add(entry({ entryId: 'C', endToEndId: 'E-C' }), Promise.resolve());
    expect(await r.find(reversal({ endToEndId: 'E-A' }))).toBeNull();
    expect(await r.find(reversal({ endToEndId: 'E-B' }))).toBe('B');
    now = 1_001;
    expect(await r.find(reversal({ endToEndId: 'E-C' }))).toBeNull();
  });
});
