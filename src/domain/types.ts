/**
 * The engine's domain vocabulary. Money is never a float: bank amounts are integer minor units
 * (bigint) with the currency's ISO 4217 exponent; token amounts are bigint base units with the
 * token's decimals. Times are epoch milliseconds (event time, from the business source).
 */

export type Direction = 'credit' | 'debit';
export type PostingStatus = 'booked' | 'pending' | 'reversed';
export type TxType = 'deposit' | 'withdrawal' | 'transfer' | 'fee' | 'reversal';

/** A bank ledger posting, as decoded from its Avro message and validated. */
export interface LedgerEntry {
  entryId: string;
  accountId: string;
  direction: Direction;
  /** Integer minor units of `currency` (cents for USD, yen for JPY). Never negative. */
  amountMinor: bigint;
  currency: string;
  /** ISO 4217 exponent of `currency` (2 for USD, 0 for JPY, 3 for BHD). */
  exponent: number;
  bookingTime: number;
  valueTime: number;
  status: PostingStatus;
  txType: TxType;
  endToEndId: string | null;
  remittance: string | null;
  /** Reference shared with the minting system, when the bank knows it. */
  tokenizationRef: string | null;
  /** Version of the Avro schema that wrote the message. */
  schemaVersion: number;
  /** What a v3 posting adds (ISO 20022 sources fill it); absent from v1/v2 messages. */
  details?: PostingDetails;
}

/**
 * Optional detail of a posting (Avro v3), as ISO 20022 camt messages carry it. Every field may be
 * null; none of them takes part in matching or in the content fingerprint.
 */
export interface PostingDetails {
  /** ISO date (YYYY-MM-DD) or date-time of ValDt, as the bank wrote it. */
  valueDate: string | null;
  /** ISO date or date-time of BookgDt, as the bank wrote it. */
  bookingDate: string | null;
  /** Id shared by the postings of one batch entry (one Ntry with several TxDtls). */
  groupId: string | null;
  instructionId: string | null;
  transactionId: string | null;
  /** AcctSvcrRef: the account servicer's reference of the entry (or of the transaction). */
  accountServicerRef: string | null;
  /** NtryRef. */
  entryRef: string | null;
  /** Bank transaction code, `DOMN/FMLY/SUBFMLY` or `prtry:<code>`. */
  transactionCode: string | null;
  counterparty: string | null;
  counterpartyAccount: string | null;
  /** RvslInd: the posting reverses an earlier one (its servicer reference when known). */
  reversalOf: string | null;
  /** Where the posting came from, e.g. `camt.053.001.08:<statement id>`. */
  source: string | null;
}

/** `collateral`: a collateral (proof-of-reserve) update from a custom event; recorded, never matched. */
export type ChainEventKind = 'mint' | 'burn' | 'transfer' | 'collateral';

/** A confirmed token event read from the chain. */
export interface ChainEvent {
  /** Deterministic id: `${chainId}:${blockHash}:${logIndex}`. */
  eventId: string;
  chainId: number;
  /** Token contract address, lower case. */
  token: string;
  blockNumber: bigint;
  blockHash: string;
  /** Block timestamp in epoch milliseconds. */
  blockTime: number;
  txHash: string;
  logIndex: number;
  kind: ChainEventKind;
  /** Lower-case addresses; the zero address for mint's `from` and burn's `to`. */
  from: string;
  to: string;
  /** Token base units. */
  value: bigint;
  decimals: number;
  /** Reference carried by the event (custom event ABIs), if any. */
  reference: string | null;
}

/**
 * The events of a block that a reorg deeper than the finality depth orphaned, after they were
 * published: consumers retract them (retraction facts, re-opened legs). Published on
 * `<prefix>.<chainId>.retract` with message id `retract:<chainId>:<blockHash>`.
 */
export interface ChainRetraction {
  chainId: number;
  blockNumber: bigint;
  /** Hash of the orphaned block. */
  blockHash: string;
  /** Ids of the events previously published from that block. */
  eventIds: string[];
}

/** Confirmed progress of one chain: every event at or below `blockNumber` has been published. */
export interface ChainProgress {
  chainId: number;
  blockNumber: bigint;
  blockHash: string;
  /** Block timestamp in epoch milliseconds: the chain side's event-time watermark. */
  blockTime: number;
}

/** deposit: bank credit ↔ mint. withdrawal: burn ↔ bank debit. */
export type Flow = 'deposit' | 'withdrawal';
export type Side = 'bank' | 'chain';

/**
 * One side of a money movement, normalised so the two books compare: both amounts are expressed
 * exactly in minor units of the currency (token base units scaled by 10^(exponent - decimals)).
 */
export interface Leg {
  /** `bank:<entryId>` or `chain:<eventId>`. */
  legId: string;
  side: Side;
  flow: Flow;
  accountId: string;
  /** Wallet on the chain side; the mapped wallet (if unique) on the bank side, else ''. */
  wallet: string;
  currency: string;
  /** `${chainId}:${tokenAddress}` of the token (chain side), or '' (bank side). */
  tokenKey: string;
  /**
   * The amount as an exact canonical decimal string in minor units of `currency`: a bank amount is
   * an integer ("12345"); a token amount that is not a whole number of minor units keeps its exact
   * fraction ("12345.000000000000001"), so it can never equal a bank amount by accident. Compared
   * as strings in Redis, where Lua has no exact big integers.
   */
  amountKey: string;
  /** Original amount in its own unit: minor units (bank) or token base units (chain), decimal string. */
  amountNative: string;
  eventTime: number;
  reference: string | null;
  /** A fingerprint of what must not change on redelivery (amount, currency, account, status). */
  fingerprint: string;
}

export type DiscrepancyKind =
  | 'MISSING_MINT'
  | 'MISSING_BANK_CREDIT'
  | 'MISSING_BURN'
  | 'MISSING_BANK_DEBIT'
  | 'AMOUNT_MISMATCH'
  | 'CURRENCY_MISMATCH'
  /** A leg met by tranches of the other side whose window closed with an amount still open. */
  | 'PARTIALLY_MATCHED'
  /** A pair only a loose rule supports, waiting for an operator to confirm or reject it. */
  | 'PROPOSED_MATCH'
  | 'DUPLICATE'
  | 'ORPHAN_CHAIN_EVENT'
  | 'ORPHAN_LEDGER_ENTRY'
  | 'REVERSAL_AFTER_MATCH'
  | 'BALANCE_DRIFT'
  | 'FEED_STALLED'
  | 'STATEMENT_BALANCE_MISMATCH'
  | 'STATEMENT_SEQUENCE_GAP'
  | 'STATEMENT_OVERLAP';
