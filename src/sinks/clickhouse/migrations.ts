import type { ClickHouseClient } from '@clickhouse/client';
import type { Logger } from 'pino';
import type { FactRows, FactTable } from '../../domain/facts.js';
import { clusterStatements, createDatabase, createSchemaMigrations, type ClickHouseCluster } from './clusterDdl.js';

/** Columns of an AML alert, live (`aml_alerts`) or from a shadow rule file (`aml_shadow_alerts`). */
const AML_ALERT_COLUMNS: { [C in keyof FactRows['aml_alerts']]-?: string } = {
  alert_id: 'String',
  rule_id: 'LowCardinality(String)',
  rule_type: 'LowCardinality(String)',
  rule_version: 'String',
  severity: 'LowCardinality(String)',
  scope: 'LowCardinality(String)',
  subject: 'String',
  currency: 'LowCardinality(String)',
  window_start: "DateTime64(3, 'UTC')",
  window_end: "DateTime64(3, 'UTC')",
  event_time: "DateTime64(3, 'UTC')",
  trigger_event_id: 'String',
  evidence_event_ids: 'Array(String)',
  // JSON: [{name, value, op, threshold, unit}], amounts as decimal strings in minor units.
  figures: 'String',
  summary: 'String',
  recorded_at: "DateTime64(3, 'UTC')",
  customers: 'Array(String) DEFAULT []',
};

/**
 * Column types of every fact table, in insert order. The single source of truth for the DDL below
 * and for the writer's row serialisation (which projects each row onto these columns, so the hash
 * behind the deduplication token does not depend on object key order).
 *
 * Money is lossless: bank amounts Int128 minor units; token amounts Int256/UInt256 base units.
 * `expected_amount`/`actual_amount` of a discrepancy are in minor units of the currency, where a
 * token amount that is not a whole number of minor units keeps its exact fraction (1 wei of an
 * 18-decimal USD token is 0.0000000000000001 cents): Nullable(Decimal256(18)) holds that exactly
 * (58 integer digits); absent ('' in the row) is NULL, so sums and comparisons stay numeric.
 * Times are DateTime64(3, 'UTC') written from epoch milliseconds.
 */
export const FACT_COLUMNS: { [T in FactTable]: { [C in keyof FactRows[T]]-?: string } } = {
  ledger_entries: {
    entry_id: 'String',
    account_id: 'String',
    direction: 'LowCardinality(String)',
    amount_minor: 'Int128',
    currency: 'LowCardinality(String)',
    exponent: 'UInt8',
    booking_time: "DateTime64(3, 'UTC')",
    value_time: "DateTime64(3, 'UTC')",
    status: 'LowCardinality(String)',
    tx_type: 'LowCardinality(String)',
    end_to_end_id: 'String',
    remittance: 'String',
    tokenization_ref: 'String',
    schema_version: 'UInt16',
    stream_seq: 'UInt64',
    version: 'UInt32',
    recorded_at: "DateTime64(3, 'UTC')",
  },
  chain_events: {
    event_id: 'String',
    chain_id: 'UInt64',
    token: 'LowCardinality(String)',
    block_number: 'UInt64',
    block_hash: 'String',
    block_time: "DateTime64(3, 'UTC')",
    tx_hash: 'String',
    log_index: 'UInt32',
    kind: 'LowCardinality(String)',
    from_address: 'String',
    to_address: 'String',
    value: 'UInt256',
    decimals: 'UInt8',
    reference: 'String',
    recorded_at: "DateTime64(3, 'UTC')",
  },
  matches: {
    match_id: 'String',
    flow: 'LowCardinality(String)',
    match_by: 'LowCardinality(String)',
    bank_leg_id: 'String',
    chain_leg_id: 'String',
    account_id: 'String',
    wallet: 'String',
    currency: 'LowCardinality(String)',
    token_key: 'LowCardinality(String)',
    amount_base: 'UInt256',
    bank_time: "DateTime64(3, 'UTC')",
    chain_time: "DateTime64(3, 'UTC')",
    late: 'UInt8',
    resolved_discrepancy_id: 'String',
    status: 'LowCardinality(String)',
    version: 'UInt32',
    recorded_at: "DateTime64(3, 'UTC')",
    rule_id: "LowCardinality(String) DEFAULT ''",
    rule_version: "LowCardinality(String) DEFAULT ''",
    confidence: "LowCardinality(String) DEFAULT 'confirmed'",
    amount_difference: 'Nullable(Decimal256(18))',
  },
  discrepancy_events: {
    discrepancy_id: 'String',
    event_id: 'String',
    kind: 'LowCardinality(String)',
    status: 'LowCardinality(String)',
    flow: 'LowCardinality(String)',
    account_id: 'String',
    wallet: 'String',
    currency: 'LowCardinality(String)',
    token_key: 'LowCardinality(String)',
    bank_leg_id: 'String',
    chain_leg_id: 'String',
    expected_amount: 'Nullable(Decimal256(18))',
    actual_amount: 'Nullable(Decimal256(18))',
    reason: 'String',
    event_time: "DateTime64(3, 'UTC')",
    recorded_at: "DateTime64(3, 'UTC')",
  },
  balance_snapshots: {
    snapshot_id: 'String',
    scope: 'LowCardinality(String)',
    subject: 'String',
    currency: 'LowCardinality(String)',
    token_key: 'LowCardinality(String)',
    // Signed: balances are compared by difference, and in_flight/unexplained can be negative.
    bank_balance: 'Int256',
    chain_balance: 'Int256',
    onchain_reported: 'Int256',
    in_flight: 'Int256',
    explained_by_open: 'Int256 DEFAULT 0',
    unexplained: 'Int256',
    at: "DateTime64(3, 'UTC')",
  },
  dead_letters: {
    dead_letter_id: 'String',
    source: 'LowCardinality(String)',
    subject: 'String',
    stream_seq: 'UInt64',
    reason_code: 'LowCardinality(String)',
    reason: 'String',
    payload_base64: 'String',
    headers: 'String',
    recorded_at: "DateTime64(3, 'UTC')",
  },
  chain_event_retractions: {
    event_id: 'String',
    chain_id: 'UInt64',
    block_number: 'UInt64',
    block_hash: 'String',
    reason: 'String',
    recorded_at: "DateTime64(3, 'UTC')",
  },
  identity_changes: {
    change_id: 'String',
    mapping_seq: 'UInt64',
    wallet: 'String',
    kind: 'LowCardinality(String)',
    from_account: 'String',
    to_account: 'String',
    effective_at: "DateTime64(3, 'UTC')",
    recorded_at: "DateTime64(3, 'UTC')",
  },
  audit_log: {
    seq: 'UInt64',
    at: "DateTime64(3, 'UTC')",
    actor: 'String',
    action: 'LowCardinality(String)',
    subject: 'String',
    content: 'String',
    prev_hash: 'FixedString(64)',
    hash: 'FixedString(64)',
    recorded_at: "DateTime64(3, 'UTC')",
  },
  aml_alerts: AML_ALERT_COLUMNS,
  // A shadow rule file's alerts: the same row, another table (nothing sends them).
  aml_shadow_alerts: AML_ALERT_COLUMNS,
  statement_balances: {
    balance_id: 'String',
    account_id: 'String',
    statement_account: 'String',
    message_type: 'LowCardinality(String)',
    statement_id: 'String',
    message_id: 'String',
    balance_type: 'LowCardinality(String)',
    amount_minor: 'Int128',
    currency: 'LowCardinality(String)',
    exponent: 'UInt8',
    balance_time: "DateTime64(3, 'UTC')",
    sequence: 'Int64',
    recorded_at: "DateTime64(3, 'UTC')",
  },
};

/** Engine, key and partition of each table. ledger_entries and matches keep their status history:
 *  each transition (pending → booked → reversed; matched → reversed) is its own fact keyed by
 *  (id, version), so raw and FINAL counts agree and the *_current views pick the latest version. Partition keys use the fact's stable event time
 *  (never an arrival time), so a replayed fact lands in the same partition as the original and
 *  ReplacingMergeTree can collapse it. dead_letters has no event time: unpartitioned. */
const TABLE_LAYOUT: { [T in FactTable]: { engine: string; orderBy: string; partitionBy?: string } } = {
  ledger_entries: { engine: 'ReplacingMergeTree', orderBy: '(entry_id, version)', partitionBy: 'toYYYYMM(booking_time)' },
  chain_events: { engine: 'ReplacingMergeTree', orderBy: 'event_id', partitionBy: 'toYYYYMM(block_time)' },
  matches: { engine: 'ReplacingMergeTree', orderBy: '(match_id, version)', partitionBy: 'toYYYYMM(bank_time)' },
  discrepancy_events: {
    engine: 'ReplacingMergeTree',
    orderBy: '(discrepancy_id, event_id)',
    partitionBy: 'toYYYYMM(event_time)',
  },
  balance_snapshots: { engine: 'ReplacingMergeTree', orderBy: 'snapshot_id', partitionBy: 'toYYYYMM(at)' },
  dead_letters: { engine: 'ReplacingMergeTree', orderBy: 'dead_letter_id' },
  chain_event_retractions: { engine: 'ReplacingMergeTree', orderBy: 'event_id' },
  aml_alerts: { engine: 'ReplacingMergeTree', orderBy: 'alert_id', partitionBy: 'toYYYYMM(event_time)' },
  aml_shadow_alerts: { engine: 'ReplacingMergeTree', orderBy: 'alert_id', partitionBy: 'toYYYYMM(event_time)' },
  identity_changes: { engine: 'ReplacingMergeTree', orderBy: 'change_id', partitionBy: 'toYYYYMM(effective_at)' },
  // Keyed by the chain position: a replayed record collapses; an edit shows in `recon audit verify`.
  audit_log: { engine: 'ReplacingMergeTree', orderBy: 'seq', partitionBy: 'toYYYYMM(at)' },
  statement_balances: { engine: 'ReplacingMergeTree', orderBy: 'balance_id', partitionBy: 'toYYYYMM(balance_time)' },
};

export const FACT_TABLES = Object.keys(FACT_COLUMNS) as FactTable[];

export function createFactTable(db: string, table: FactTable): string {
  const cols = Object.entries(FACT_COLUMNS[table] as Record<string, string>)
    .map(([name, type]) => `  ${name} ${type}`)
    .join(',\n');
  const { engine, orderBy, partitionBy } = TABLE_LAYOUT[table];
  return [
    `CREATE TABLE IF NOT EXISTS ${db}.${table} (\n${cols}\n)`,
    `ENGINE = ${engine}`,
    partitionBy ? `PARTITION BY ${partitionBy}` : '',
    `ORDER BY ${orderBy}`,
    // Retried inserts carrying the same insert_deduplication_token are dropped by the server.
    'SETTINGS non_replicated_deduplication_window = 1000',
  ]
    .filter(Boolean)
    .join('\n');
}

export interface Migration {
  version: number;
  name: string;
  statements: (db: string) => string[];
}

/** Ordered migrations; append only, never edit an applied one. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'fact tables',
    // The original six, by name: a table added later gets its own migration (createFactTable).
    statements: (db) => (['ledger_entries', 'chain_events', 'matches', 'discrepancy_events', 'balance_snapshots', 'dead_letters'] as const).map((t) => createFactTable(db, t)),
  },
  {
    version: 2,
    name: 'discrepancies_current view',
    // One row per discrepancy: its latest status and attributes (by recorded_at, ties broken by
    // the status name so 'resolved' beats 'open'), when it opened and when it was resolved (NULL
    // unless resolved now). Reads the raw table, so it is right before merges; duplicate rows do
    // not change argMax/min/max. Inner aliases differ from column names on purpose: ClickHouse
    // resolves an alias named like a column inside other aggregates (ILLEGAL_AGGREGATION).
    statements: (db) => [
      `CREATE VIEW IF NOT EXISTS ${db}.discrepancies_current AS
SELECT
  discrepancy_id,
  latest.1 AS status,
  latest.2 AS kind,
  latest.3 AS flow,
  latest.4 AS account_id,
  latest.5 AS wallet,
  latest.6 AS currency,
  latest.7 AS token_key,
  latest.8 AS bank_leg_id,
  latest.9 AS chain_leg_id,
  latest.10 AS expected_amount,
  latest.11 AS actual_amount,
  latest.12 AS reason,
  first_event_time AS event_time,
  first_open AS opened_at,
  if(latest.1 = 'resolved', last_resolved, NULL) AS resolved_at,
  last_recorded AS updated_at
FROM (
  SELECT
    discrepancy_id,
    argMax(tuple(status, kind, flow, account_id, wallet, currency, token_key, bank_leg_id, chain_leg_id, expected_amount, actual_amount, reason), (recorded_at, status)) AS latest,
    min(event_time) AS first_event_time,
    minIf(recorded_at, status = 'open') AS first_open,
    maxIf(recorded_at, status = 'resolved') AS last_resolved,
    max(recorded_at) AS last_recorded
  FROM ${db}.discrepancy_events
  GROUP BY discrepancy_id
)`,
    ],
  },
  {
    version: 3,
    name: 'ledger_entries_current and matches_current views',
    // The latest status version of each entry and match. Inner aliases differ from column names
    // for the reason given above.
    statements: (db) => [
      `CREATE VIEW IF NOT EXISTS ${db}.ledger_entries_current AS
SELECT entry_id, latest.1 AS status, latest.2 AS account_id, latest.3 AS direction, latest.4 AS amount_minor,
  latest.5 AS currency, latest.6 AS exponent, latest.7 AS booking_time, latest.8 AS value_time, latest.9 AS tx_type,
  latest.10 AS end_to_end_id, latest.11 AS remittance, latest.12 AS tokenization_ref, latest.13 AS version
FROM (
  SELECT entry_id,
    argMax(tuple(status, account_id, direction, amount_minor, currency, exponent, booking_time, value_time, tx_type,
                 end_to_end_id, remittance, tokenization_ref, version), version) AS latest
  FROM ${db}.ledger_entries
  GROUP BY entry_id
)`,
      `CREATE VIEW IF NOT EXISTS ${db}.matches_current AS
SELECT match_id, latest.1 AS status, latest.2 AS flow, latest.3 AS match_by, latest.4 AS bank_leg_id, latest.5 AS chain_leg_id,
  latest.6 AS account_id, latest.7 AS wallet, latest.8 AS currency, latest.9 AS token_key, latest.10 AS amount_base,
  latest.11 AS bank_time, latest.12 AS chain_time, latest.13 AS late, latest.14 AS resolved_discrepancy_id, latest.15 AS version,
  first_recorded AS matched_at
FROM (
  SELECT match_id,
    argMax(tuple(status, flow, match_by, bank_leg_id, chain_leg_id, account_id, wallet, currency, token_key, amount_base,
                 bank_time, chain_time, late, resolved_discrepancy_id, version), version) AS latest,
    min(recorded_at) AS first_recorded
  FROM ${db}.matches
  GROUP BY match_id
)`,
    ],
  },
  {
    version: 4,
    name: 'chain_event_retractions and chain_events_canonical',
    // A reorg deeper than the confirmation depth retracts events: a fact of its own, never a
    // delete. chain_events_canonical is what the chain says now: every event not retracted.
    statements: (db) => [
      createFactTable(db, 'chain_event_retractions'),
      `CREATE VIEW IF NOT EXISTS ${db}.chain_events_canonical AS
SELECT * FROM ${db}.chain_events FINAL
WHERE event_id NOT IN (SELECT event_id FROM ${db}.chain_event_retractions)`,
    ],
  },
  {
    version: 5,
    name: 'aml_alerts',
    statements: (db) => [createFactTable(db, 'aml_alerts')],
  },
  {
    version: 7,
    name: 'dashboard rollups: activity, matches, discrepancies and balances per minute',
    statements: (db) => dashboardRollups(db),
  },
  {
    version: 8,
    name: 'identity_changes',
    // Wallets linked, moved or unlinked by mapping updates: facts, so "whose wallet was it then?"
    // has an answer after the in-memory map moved on.
    statements: (db) => [createFactTable(db, 'identity_changes')],
  },
  {
    version: 20,
    name: 'statement_balances',
    // Balances reported by ISO 20022 camt statements (src/iso20022). Versions 20-29 belong to camt.
    statements: (db) => [createFactTable(db, 'statement_balances')],
  },
  {
    version: 21,
    name: 'statement_balance_gaps view',
    // The bank's closing balance (CLBD; ITBD intraday) beside the engine's running balance of the
    // account: its booked entries up to that balance (a date-only balance covers the whole day).
    // `gap` is the statement minus the engine; constant across statements, it is the account's
    // balance before the engine saw it; changing, something was booked the engine did not see.
    statements: (db) => [
      `CREATE VIEW IF NOT EXISTS ${db}.statement_balance_gaps AS
SELECT s.account_id AS account_id, s.statement_id AS statement_id, s.message_type AS message_type, s.balance_type AS balance_type,
  s.currency AS currency, s.balance_time AS balance_time, s.amount_minor AS statement_minor,
  toInt128(sumIf(if(e.direction = 'credit', e.amount_minor, -e.amount_minor), e.status = 'booked' AND e.booking_time < s.cutoff)) AS engine_minor,
  statement_minor - engine_minor AS gap
FROM (
  SELECT account_id, statement_id, message_type, balance_type, currency, balance_time, amount_minor,
    if(balance_time = toStartOfDay(balance_time), balance_time + INTERVAL 1 DAY, balance_time + INTERVAL 1 MILLISECOND) AS cutoff
  FROM ${db}.statement_balances FINAL
  WHERE balance_type IN ('CLBD', 'ITBD')
) AS s
LEFT JOIN ${db}.ledger_entries_current AS e ON e.account_id = s.account_id AND e.currency = s.currency
GROUP BY s.account_id, s.statement_id, s.message_type, s.balance_type, s.currency, s.balance_time, s.amount_minor`,
    ],
  },
  {
    version: 30,
    name: 'audit_log',
    // The cases' hash-chained audit trail (src/cases/auditLog.ts). Versions 30-39 belong to cases.
    statements: (db) => [createFactTable(db, 'audit_log')],
  },
  {
    version: 31,
    name: 'aml_alerts.customers; aml_dispositions view',
    // AML alerts are cases (issue 17): named after the bank customers involved, closed with a
    // disposition that is a `case.dispose` record of the audit trail, read here per alert.
    statements: (db) => [
      `ALTER TABLE ${db}.aml_alerts ADD COLUMN IF NOT EXISTS customers Array(String) DEFAULT [] AFTER recorded_at`,
      `CREATE VIEW IF NOT EXISTS ${db}.aml_dispositions AS
SELECT subject AS alert_id, JSONExtractString(content, 'action', 'disposition') AS disposition,
       JSONExtractString(content, 'action', 'reasonCode') AS reason_code, actor, at, seq
FROM ${db}.audit_log FINAL WHERE action = 'case.dispose'`,
    ],
  },
  {
    version: 40,
    name: 'matches: rule, confidence and amount difference; matches_current with them',
    // Matching rules (src/matching): every match names the rule and rule-file version that made it,
    // whether a rule or an operator confirmed it, and the bank - chain difference (a fee, a rounding).
    // Versions 40-49 belong to matching. A table created after this change already has the columns.
    statements: (db) => [
      `ALTER TABLE ${db}.matches ADD COLUMN IF NOT EXISTS rule_id LowCardinality(String) DEFAULT ''`,
      `ALTER TABLE ${db}.matches ADD COLUMN IF NOT EXISTS rule_version LowCardinality(String) DEFAULT ''`,
      `ALTER TABLE ${db}.matches ADD COLUMN IF NOT EXISTS confidence LowCardinality(String) DEFAULT 'confirmed'`,
      `ALTER TABLE ${db}.matches ADD COLUMN IF NOT EXISTS amount_difference Nullable(Decimal256(18))`,
      `DROP VIEW IF EXISTS ${db}.matches_current`,
      `CREATE VIEW ${db}.matches_current AS
SELECT match_id, latest.1 AS status, latest.2 AS flow, latest.3 AS match_by, latest.4 AS bank_leg_id, latest.5 AS chain_leg_id,
  latest.6 AS account_id, latest.7 AS wallet, latest.8 AS currency, latest.9 AS token_key, latest.10 AS amount_base,
  latest.11 AS bank_time, latest.12 AS chain_time, latest.13 AS late, latest.14 AS resolved_discrepancy_id, latest.15 AS version,
  latest.16 AS rule_id, latest.17 AS rule_version, latest.18 AS confidence, latest.19 AS amount_difference,
  first_recorded AS matched_at
FROM (
  SELECT match_id,
    argMax(tuple(status, flow, match_by, bank_leg_id, chain_leg_id, account_id, wallet, currency, token_key, amount_base,
                 bank_time, chain_time, late, resolved_discrepancy_id, version, rule_id, rule_version, confidence, amount_difference), version) AS latest,
    min(recorded_at) AS first_recorded
  FROM ${db}.matches
  GROUP BY match_id
)`,
    ],
  },
  {
    version: 41,
    name: 'balance_snapshots.explained_by_open',
    // The part of a balance gap that open leg discrepancies already name: linked, not raised again.
    statements: (db) => [`ALTER TABLE ${db}.balance_snapshots ADD COLUMN IF NOT EXISTS explained_by_open Int256 DEFAULT 0 AFTER in_flight`],
  },
  {
    version: 50,
    name: 'aml_shadow_alerts',
    // A shadow rule-file version runs beside the live one; its alerts are stored here, never sent.
    // Versions 50-59 belong to AML detection (issue 19).
    statements: (db) => [createFactTable(db, 'aml_shadow_alerts')],
  },
];

/**
 * Per-minute rollups the dashboards read instead of scanning a year of raw facts (migration 7).
 * AggregatingMergeTree tables fed by materialised views on insert, then back-filled from what is
 * already stored. Counts are `uniqExact` states of the fact ids, so a fact inserted twice (a
 * replay, the back-fill racing the view) still counts once: the rollups are as idempotent as the
 * facts. `ttm` (time to match) is the event-time gap between a match's two legs, in seconds, as a
 * t-digest (a duration, so a float is right; money never goes through these tables except as the
 * exact Int256 balances of `balances_1m`). Read with the -Merge combinators, e.g.
 * `uniqExactMerge(ids)`, `quantilesTDigestMerge(0.5, 0.95)(ttm)`, `argMaxMerge(latest)`.
 */
/** Tables and materialised views migration 7 creates. */
export const DASHBOARD_ROLLUP_OBJECTS = [
  'activity_1m',
  'activity_1m_ledger_mv',
  'activity_1m_chain_mv',
  'matches_1m',
  'matches_1m_mv',
  'discrepancies_1m',
  'discrepancies_1m_mv',
  'balances_1m',
  'balances_1m_mv',
] as const;

export function dashboardRollups(db: string): string[] {
  const table = (name: string, cols: string, orderBy: string) => `CREATE TABLE IF NOT EXISTS ${db}.${name} (
${cols}
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY ${orderBy}`;
  const rollups: { table: string; views: { name: string; select: string }[] }[] = [
    {
      table: table(
        'activity_1m',
        `  minute DateTime('UTC'),
  source LowCardinality(String),
  currency LowCardinality(String),
  token_key LowCardinality(String),
  ids AggregateFunction(uniqExact, String)`,
        '(source, currency, token_key, minute)',
      ),
      views: [
        {
          name: 'activity_1m_ledger_mv',
          select: `SELECT toStartOfMinute(booking_time) AS minute, 'ledger' AS source, currency, '' AS token_key, uniqExactState(entry_id) AS ids
FROM ${db}.ledger_entries GROUP BY minute, currency`,
        },
        {
          name: 'activity_1m_chain_mv',
          select: `SELECT toStartOfMinute(block_time) AS minute, 'chain' AS source, '' AS currency, concat(toString(chain_id), ':', lower(token)) AS token_key, uniqExactState(event_id) AS ids
FROM ${db}.chain_events GROUP BY minute, token_key`,
        },
      ],
    },
    {
      table: table(
        'matches_1m',
        `  minute DateTime('UTC'),
  flow LowCardinality(String),
  match_by LowCardinality(String),
  currency LowCardinality(String),
  token_key LowCardinality(String),
  late UInt8,
  ids AggregateFunction(uniqExact, String),
  ttm AggregateFunction(quantilesTDigest(0.5, 0.95), Float64)`,
        '(currency, token_key, flow, match_by, late, minute)',
      ),
      views: [
        {
          name: 'matches_1m_mv',
          select: `SELECT toStartOfMinute(bank_time) AS minute, flow, match_by, currency, token_key, late,
  uniqExactState(match_id) AS ids,
  quantilesTDigestState(0.5, 0.95)(abs(toUnixTimestamp64Milli(chain_time) - toUnixTimestamp64Milli(bank_time)) / 1000.0) AS ttm
FROM ${db}.matches WHERE status = 'matched' GROUP BY minute, flow, match_by, currency, token_key, late`,
        },
      ],
    },
    {
      table: table(
        'discrepancies_1m',
        `  minute DateTime('UTC'),
  kind LowCardinality(String),
  status LowCardinality(String),
  currency LowCardinality(String),
  token_key LowCardinality(String),
  ids AggregateFunction(uniqExact, String)`,
        '(kind, status, currency, token_key, minute)',
      ),
      views: [
        {
          name: 'discrepancies_1m_mv',
          select: `SELECT toStartOfMinute(event_time) AS minute, kind, status, currency, token_key, uniqExactState(discrepancy_id) AS ids
FROM ${db}.discrepancy_events GROUP BY minute, kind, status, currency, token_key`,
        },
      ],
    },
    {
      // The last snapshot of each (scope, subject, currency) in each minute: balances over a year
      // are read at one point a minute at most, however often the reconciler runs.
      table: table(
        'balances_1m',
        `  minute DateTime('UTC'),
  scope LowCardinality(String),
  subject String,
  currency LowCardinality(String),
  latest AggregateFunction(argMax, Tuple(Int256, Int256, Int256, Int256, Int256), DateTime64(3, 'UTC'))`,
        '(scope, currency, subject, minute)',
      ),
      views: [
        {
          name: 'balances_1m_mv',
          select: `SELECT toStartOfMinute(at) AS minute, scope, subject, currency,
  argMaxState(tuple(bank_balance, chain_balance, onchain_reported, in_flight, unexplained), at) AS latest
FROM ${db}.balance_snapshots GROUP BY minute, scope, subject, currency`,
        },
      ],
    },
  ];
  const statements: string[] = [];
  for (const r of rollups) {
    statements.push(r.table);
    const target = /TABLE IF NOT EXISTS (\S+)/.exec(r.table)![1]!;
    for (const v of r.views) {
      statements.push(`CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.${v.name} TO ${target} AS\n${v.select}`);
    }
    // Back-fill what was stored before the views existed (idempotent: uniqExact and argMax states).
    for (const v of r.views) statements.push(`INSERT INTO ${target} ${v.select}`);
  }
  return statements;
}

/** The statements of migration `m` for `db`: as written (single node), or rewritten for `cluster`. */
export function migrationStatements(m: Migration, db: string, cluster?: ClickHouseCluster): string[] {
  const statements = m.statements(db);
  return cluster ? statements.flatMap((s) => clusterStatements(s, db, cluster)) : statements;
}

export interface MigrateOptions {
  /** Create every object ON CLUSTER: replicated local tables behind Distributed ones (clusterDdl.ts). */
  cluster?: ClickHouseCluster | undefined;
}

/**
 * Brings `database` to the latest schema. Idempotent and safe to run at every start: creates the
 * database and `schema_migrations`, then applies, in order, each migration not yet recorded.
 * Every statement is itself idempotent (IF NOT EXISTS), so a crash between applying and recording
 * a migration is repaired by the next run. On a cluster, `schema_migrations` is replicated to every
 * node and every statement runs ON CLUSTER, so any node (or several at once) may run this.
 */
export async function migrate(client: ClickHouseClient, database: string, log?: Logger, options: MigrateOptions = {}): Promise<number[]> {
  if (!/^[a-zA-Z0-9_]+$/.test(database)) throw new Error(`invalid database name ${JSON.stringify(database)}`);
  const cluster = options.cluster;
  await client.command({ query: createDatabase(database, cluster) });
  await client.command({ query: createSchemaMigrations(database, cluster) });
  const rs = await client.query({
    query: `SELECT DISTINCT version FROM ${database}.schema_migrations`,
    format: 'JSONEachRow',
  });
  const applied = new Set((await rs.json<{ version: number | string }>()).map((r) => Number(r.version)));
  const appliedNow: number[] = [];
  for (const m of MIGRATIONS) {
    if (applied.has(m.version)) continue;
    for (const statement of migrationStatements(m, database, cluster)) await client.command({ query: statement });
    await client.insert({
      table: `${database}.schema_migrations`,
      values: [{ version: m.version, name: m.name }],
      format: 'JSONEachRow',
      columns: ['version', 'name'],
    });
    appliedNow.push(m.version);
    log?.info({ database, version: m.version, name: m.name, cluster: cluster?.name }, 'clickhouse: migration applied');
  }
  return appliedNow;
}
