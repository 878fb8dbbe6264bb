/**
 * Content fingerprints of what arrives under an id (pure, no I/O). An entry id or chain event id
 * names one piece of content for good: a second copy with the same fingerprint is a replay, one
 * with another fingerprint is a DUPLICATE (see src/state/entryFingerprints.ts).
 */
import { hash } from 'node:crypto';
import type { ChainEvent, LedgerEntry } from './types.js';

const digest = (fields: readonly (string | number | bigint | null)[]) => hash('sha256', JSON.stringify(fields.map((f) => (typeof f === 'bigint' ? f.toString() : f))), 'hex').slice(0, 16);

/** The id under which a ledger entry's content is recorded (also its leg id when it is a leg). */
export const ledgerEntryKey = (e: Pick<LedgerEntry, 'entryId'>) => `bank:${e.entryId}`;
/** The id under which a chain event's content is recorded (also its leg id when it is a leg). */
export const chainEventKey = (ev: Pick<ChainEvent, 'eventId'>) => `chain:${ev.eventId}`;

/**
 * What a posting says about money and parties: account, direction, amount, currency and exponent,
 * tx type, end-to-end id, tokenization reference. Status is left out, and so are the booking and
 * value times and the remittance text: a pending entry booked or reversed later is the same entry
 * with a new status (and the bank may set its times or enrich its text on the way), never a
 * duplicate. The Avro schema version is left out too: a re-encoding is the same content.
 */
export function ledgerEntryFingerprint(e: LedgerEntry): string {
  return digest([e.accountId, e.direction, e.amountMinor, e.currency, e.exponent, e.txType, e.endToEndId, e.tokenizationRef]);
}

/** Everything a chain event says besides its id (chain id, block hash, log index). */
export function chainEventFingerprint(ev: ChainEvent): string {
  return digest([ev.token.toLowerCase(), ev.blockNumber, ev.blockTime, ev.txHash.toLowerCase(), ev.kind, ev.from.toLowerCase(), ev.to.toLowerCase(), ev.value, ev.decimals, ev.reference]);
}
