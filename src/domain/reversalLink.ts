import type { Flow, LedgerEntry } from './types.js';

/**
 * What identifies the posting a reversal entry reverses (a reversal booked as an entry of its own,
 * core banking's usual practice and camt's RvslInd): same account, currency and amount, the
 * opposite direction of the flow it undoes (a debit undoes a deposit credit), and a reference they
 * share: the end-to-end id (or the reversed entry's own id; for camt input `details.reversalOf`,
 * the original's EndToEndId) or the tokenization reference.
 */
export interface ReversalLookup {
  accountId: string;
  currency: string;
  amountMinor: bigint;
  reverses: Flow;
  /** Entry ids or end-to-end ids the reversal names. */
  ids: string[];
  reference: string | null;
}

export function reversalLookupOf(e: LedgerEntry): ReversalLookup | null {
  if (e.txType !== 'reversal') return null;
  // camt's RvslInd: reversalOf is the original's EndToEndId or its servicer reference.
  const ids = [...new Set([e.details?.reversalOf, e.endToEndId].filter((x): x is string => !!x))];
  if (ids.length === 0 && !e.tokenizationRef) return null;
  return {
    accountId: e.accountId,
    currency: e.currency,
    amountMinor: e.amountMinor,
    reverses: e.direction === 'debit' ? 'deposit' : 'withdrawal',
    ids,
    reference: e.tokenizationRef,
  };
}
