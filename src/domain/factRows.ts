import type { ChainEventRow, Fact, LedgerEntryRow } from './facts.js';
import type { ChainEvent, LedgerEntry, PostingStatus } from './types.js';

/** ReplacingMergeTree version of an entry's status: a later status of the same entry replaces an earlier one. */
const STATUS_VERSION: Record<PostingStatus, number> = { pending: 1, booked: 2, reversed: 3 };

/** The `ledger_entries` fact of a decoded posting, carried by stream sequence `seq`, recorded at `now`. */
export function ledgerEntryFact(e: LedgerEntry, seq: number, now: number): Fact {
  const row: LedgerEntryRow = {
    entry_id: e.entryId,
    account_id: e.accountId,
    direction: e.direction,
    amount_minor: e.amountMinor.toString(),
    currency: e.currency,
    exponent: e.exponent,
    booking_time: e.bookingTime,
    value_time: e.valueTime,
    status: e.status,
    tx_type: e.txType,
    end_to_end_id: e.endToEndId ?? '',
    remittance: e.remittance ?? '',
    tokenization_ref: e.tokenizationRef ?? '',
    schema_version: e.schemaVersion,
    stream_seq: seq,
    version: STATUS_VERSION[e.status],
    recorded_at: now,
  };
  return { table: 'ledger_entries', row };
}

/** The `chain_events` fact of a confirmed chain event, recorded at `now`. */
export function chainEventFact(ev: ChainEvent, now: number): Fact {
  const row: ChainEventRow = {
    event_id: ev.eventId,
    chain_id: ev.chainId,
    token: ev.token,
    block_number: ev.blockNumber.toString(),
    block_hash: ev.blockHash,
    block_time: ev.blockTime,
    tx_hash: ev.txHash,
    log_index: ev.logIndex,
    kind: ev.kind,
    from_address: ev.from,
    to_address: ev.to,
    value: ev.value.toString(),
    decimals: ev.decimals,
    reference: ev.reference ?? '',
    recorded_at: now,
  };
  return { table: 'chain_events', row };
}
