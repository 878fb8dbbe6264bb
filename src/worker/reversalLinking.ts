import type { ClickHouseClient } from '@clickhouse/client';
import type { ReversalLookup } from '../domain/reversalLink.js';
import { queryRows } from '../sinks/clickhouse/queries.js';

/**
 * Finds, in the durable ledger facts, the entry a reversal entry reverses (src/domain/reversalLink.ts):
 * the latest booked deposit credit or withdrawal debit of the same account, currency and amount
 * that the reversal names by end-to-end id or entry id, or shares the tokenization reference with.
 */
export function reversedEntryFinder(clickhouse: ClickHouseClient, db: string): (l: ReversalLookup) => Promise<string | null> {
  return async (l) => {
    const rows = await queryRows<{ entry_id: string }>(
      clickhouse,
      `SELECT entry_id FROM ${db}.ledger_entries_current
       WHERE account_id = {account:String} AND currency = {currency:String} AND amount_minor = {amount:Int128} AND status = 'booked'
         AND tx_type = {flow:String} AND direction = {direction:String}
         AND ((end_to_end_id != '' AND end_to_end_id IN {ids:Array(String)}) OR entry_id IN {ids:Array(String)}
              OR ({reference:String} != '' AND tokenization_ref = {reference:String}))
       ORDER BY booking_time DESC LIMIT 1`,
      {
        account: l.accountId,
        currency: l.currency,
        amount: l.amountMinor.toString(),
        flow: l.reverses,
        direction: l.reverses === 'deposit' ? 'credit' : 'debit',
        ids: l.ids,
        reference: l.reference ?? '',
      },
    );
    return rows[0]?.entry_id ?? null;
  };
}
