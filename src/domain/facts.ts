/**
 * Facts are the rows the engine writes to ClickHouse. Every fact has a deterministic `id` derived
 * from its inputs, so a replay produces the same ids and ReplacingMergeTree (plus the sink's
 * duplicate filter) keeps each fact once. Column names are the ClickHouse column names; big
 * integers travel as decimal strings (JSONEachRow reads them into Int256/UInt256 losslessly);
 * times are epoch milliseconds (DateTime64(3) columns).
 */

export interface LedgerEntryRow {
  entry_id: string;
  account_id: string;
  direction: string;
  amount_minor: string;
  currency: string;
  exponent: number;
  booking_time: number;
  value_time: number;
  status: string;
  tx_type: string;
  end_to_end_id: string;
  remittance: string;
  tokenization_ref: string;
  schema_version: number;
  /** JetStream stream sequence of the message that carried it. */
  stream_seq: number;
  /** Ordering of status transitions: pending 1, booked 2, reversed 3 (ReplacingMergeTree version). */
  version: number;
  recorded_at: number;
}

export interface ChainEventRow {
  event_id: string;
  chain_id: number;
  token: string;
  block_number: string;
  block_hash: string;
  block_time: number;
  tx_hash: string;
  log_index: number;
  kind: string;
  from_address: string;
  to_address: string;
  value: string;
  decimals: number;
  reference: string;
  recorded_at: number;
}

export interface MatchRow {
  match_id: string;
  flow: string;
  match_by: string;
  bank_leg_id: string;
  chain_leg_id: string;
  account_id: string;
  wallet: string;
  currency: string;
  token_key: string;
  amount_base: string;
  bank_time: number;
  chain_time: number;
  /** 1 when the match resolved a discrepancy raised earlier (the leg came late). */
  late: number;
  resolved_discrepancy_id: string;
  /** 'proposed' (a loose rule's candidate), 'matched', 'rejected' (an operator said no), 'reversed' when the bank entry was reversed afterwards, 'retracted' (reorg). */
  status: string;
  version: number;
  recorded_at: number;
  /** The matching rule (src/matching/ruleFile.ts) that made or proposed the match, and its file's version. */
  rule_id: string;
  rule_version: string;
  /** 'confirmed' by its rule, 'operator' when a person confirmed a proposal, 'proposed' while it waits. */
  confidence: string;
  /** Bank minus chain amount, minor units (a fee, a rounding), '' when the pair is a tranche of a split. */
  amount_difference: string;
}

export interface DiscrepancyEventRow {
  discrepancy_id: string;
  /** Deterministic id of this status change: `${discrepancy_id}:${status}`. */
  event_id: string;
  kind: string;
  status: string;
  flow: string;
  account_id: string;
  wallet: string;
  currency: string;
  token_key: string;
  bank_leg_id: string;
  chain_leg_id: string;
  expected_amount: string;
  actual_amount: string;
  reason: string;
  /** Event time the discrepancy is about (the leg's time, or the window close). */
  event_time: number;
  recorded_at: number;
}

export interface BalanceSnapshotRow {
  snapshot_id: string;
  scope: string;
  subject: string;
  currency: string;
  token_key: string;
  bank_balance: string;
  chain_balance: string;
  onchain_reported: string;
  in_flight: string;
  /** Part of the gap open leg discrepancies already name (linked, not raised again as drift). */
  explained_by_open: string;
  unexplained: string;
  at: number;
}

/** A balance of a bank statement (ISO 20022 camt Bal): OPBD, CLBD, ITBD, CLAV, … as the bank reported it. */
export interface StatementBalanceRow {
  /** `<account>:<family>:<statement id>:<type>:<date>`. */
  balance_id: string;
  account_id: string;
  /** The account as the bank names it (IBAN or other id). */
  statement_account: string;
  /** camt.052, camt.053 or camt.054, with its version (`camt.053.001.08`). */
  message_type: string;
  statement_id: string;
  message_id: string;
  balance_type: string;
  /** Signed minor units (a debit balance is negative). */
  amount_minor: string;
  currency: string;
  exponent: number;
  balance_time: number;
  /** ElctrncSeqNb, else LglSeqNb; -1 when the statement has none. */
  sequence: string;
  recorded_at: number;
}

export interface DeadLetterRow {
  dead_letter_id: string;
  source: string;
  subject: string;
  stream_seq: number;
  reason_code: string;
  reason: string;
  /** Original message bytes, base64. */
  payload_base64: string;
  headers: string;
  recorded_at: number;
}

/** A chain event whose block was orphaned by a reorg deeper than the confirmation depth. */
export interface ChainEventRetractionRow {
  event_id: string;
  chain_id: number;
  block_number: string;
  block_hash: string;
  reason: string;
  recorded_at: number;
}

/**
 * An AML alert (src/aml): explainable and deterministic. `alert_id` is rule + subject + window
 * bucket, so a replay raises nothing twice; `figures` is JSON of what was compared with which
 * threshold (amounts as decimal strings in minor units); `evidence_event_ids` are the
 * `bank:<entryId>` / `chain:<eventId>` ids of the movements that make up the pattern.
 */
export interface AmlAlertRow {
  alert_id: string;
  rule_id: string;
  rule_type: string;
  rule_version: string;
  severity: string;
  scope: string;
  subject: string;
  currency: string;
  window_start: number;
  window_end: number;
  event_time: number;
  trigger_event_id: string;
  evidence_event_ids: string[];
  figures: string;
  summary: string;
  recorded_at: number;
  /** The bank customers (account ids) involved: whom the analyst's case is about. */
  customers: string[];
}

/**
 * A wallet linked to, moved between or unlinked from bank accounts by a mapping update. `change_id`
 * is `<MAPPINGS stream seq>:<wallet>`: every worker replays the same stream and derives the same
 * change, so the fact is written once however many workers (and restarts) replay it.
 */
export interface IdentityChangeRow {
  change_id: string;
  mapping_seq: number;
  wallet: string;
  /** linked, moved or unlinked. */
  kind: string;
  /** '' when the wallet had no account. */
  from_account: string;
  /** '' when the wallet no longer has an account. */
  to_account: string;
  /** When the update was published on the MAPPINGS stream (epoch ms). */
  effective_at: number;
  recorded_at: number;
}

/**
 * One record of the tamper-evident audit trail (src/cases/auditChain.ts): every case action and
 * status change, hash-chained to the record before it. `seq` is its place in the chain.
 */
export interface AuditLogRow {
  seq: number;
  at: number;
  actor: string;
  action: string;
  subject: string;
  /** Canonical JSON of the action's details. */
  content: string;
  prev_hash: string;
  hash: string;
  recorded_at: number;
}

export interface FactRows {
  ledger_entries: LedgerEntryRow;
  chain_events: ChainEventRow;
  matches: MatchRow;
  discrepancy_events: DiscrepancyEventRow;
  balance_snapshots: BalanceSnapshotRow;
  dead_letters: DeadLetterRow;
  aml_alerts: AmlAlertRow;
  /** Alerts of a shadow rule-file version (stored, never sent): `aml.shadowRulesFile`. */
  aml_shadow_alerts: AmlAlertRow;
  chain_event_retractions: ChainEventRetractionRow;
  identity_changes: IdentityChangeRow;
  audit_log: AuditLogRow;
  statement_balances: StatementBalanceRow;
}

export type FactTable = keyof FactRows;

/** Primary id column of each table: what makes a fact the same fact. */
export const FACT_ID_COLUMN: { [T in FactTable]: keyof FactRows[T] & string } = {
  ledger_entries: 'entry_id',
  chain_events: 'event_id',
  matches: 'match_id',
  discrepancy_events: 'event_id',
  balance_snapshots: 'snapshot_id',
  dead_letters: 'dead_letter_id',
  aml_alerts: 'alert_id',
  aml_shadow_alerts: 'alert_id',
  chain_event_retractions: 'event_id',
  identity_changes: 'change_id',
  audit_log: 'seq',
  statement_balances: 'balance_id',
};

export type Fact = { [T in FactTable]: { table: T; row: FactRows[T] } }[FactTable];

/** Identity of a fact across replays: table and id (plus version where a row is re-versioned). */
export function factKey(fact: Fact): string {
  const id = (fact.row as unknown as Record<string, unknown>)[FACT_ID_COLUMN[fact.table]];
  const version = 'version' in fact.row ? `@${fact.row.version}` : '';
  return `${fact.table}:${String(id)}${version}`;
}
