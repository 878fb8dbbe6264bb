/**
 * The period reports a bank's close needs, as ClickHouse queries over the facts. Each has a
 * unique, sortable `k` column: exports page through it (keyset), so a year of facts is never in
 * memory. Parameters: {from:Int64} and {to:Int64} (epoch ms, [from, to)), {db} substituted.
 * Amounts are exact decimal strings of minor units.
 */
export type ReportName = 'positions' | 'matched' | 'exceptions' | 'adjustments' | 'ledger';

export interface ReportDefinition {
  name: ReportName;
  description: string;
  /** SELECT producing the report's rows plus a unique sortable key column `k`. */
  sql: (db: string) => string;
}

const ms = (col: string) => `toUnixTimestamp64Milli(${col})`;

export const REPORTS: Record<ReportName, ReportDefinition> = {
  positions: {
    name: 'positions',
    description: 'Per account and currency: booked position at the start and end of the period, credits and debits within it',
    sql: (db) => `
SELECT concat(account_id, '/', currency) AS k, account_id, currency,
  toString(sumIf(signed, ${ms('booking_time')} < {from:Int64})) AS opening_minor,
  toString(sumIf(amount_minor, direction = 'credit' AND ${ms('booking_time')} >= {from:Int64} AND ${ms('booking_time')} < {to:Int64})) AS credits_minor,
  toString(sumIf(amount_minor, direction = 'debit' AND ${ms('booking_time')} >= {from:Int64} AND ${ms('booking_time')} < {to:Int64})) AS debits_minor,
  toString(sumIf(signed, ${ms('booking_time')} < {to:Int64})) AS closing_minor
FROM (
  SELECT account_id, currency, direction, toInt256(amount_minor) AS amount_minor, booking_time,
    if(direction = 'credit', toInt256(amount_minor), -toInt256(amount_minor)) AS signed
  FROM ${db}.ledger_entries_current WHERE status = 'booked'
)
GROUP BY account_id, currency`,
  },
  matched: {
    name: 'matched',
    description: "Per account and currency: matches of the period (by the bank leg's time), their count and bank-side total",
    sql: (db) => `
SELECT concat(m.account_id, '/', m.currency) AS k, m.account_id AS account_id, m.currency AS currency,
  count() AS matches, countIf(m.late = 1) AS late_matches, toString(sum(toInt256(e.amount_minor))) AS matched_minor
FROM ${db}.matches_current AS m
INNER JOIN ${db}.ledger_entries_current AS e ON e.entry_id = substring(m.bank_leg_id, 6)
WHERE m.status = 'matched' AND ${ms('m.bank_time')} >= {from:Int64} AND ${ms('m.bank_time')} < {to:Int64}
GROUP BY m.account_id, m.currency`,
  },
  exceptions: {
    name: 'exceptions',
    description: 'Discrepancies open at the end of the period, with their age then',
    sql: (db) => `
SELECT discrepancy_id AS k, discrepancy_id, kind, account_id, currency,
  toString(expected_amount) AS expected_minor, toString(actual_amount) AS actual_minor, reason,
  ${ms('opened_at')} AS opened_at_ms,
  intDiv({to:Int64} - ${ms('opened_at')}, 86400000) AS age_days,
  multiIf(age_days < 1, '<1d', age_days < 7, '1-7d', age_days < 30, '7-30d', '>30d') AS age_band
FROM ${db}.discrepancies_current
WHERE ${ms('opened_at')} < {to:Int64} AND (resolved_at IS NULL OR ${ms('resolved_at')} >= {to:Int64})`,
  },
  adjustments: {
    name: 'adjustments',
    description: 'Write-offs and adjustments that resolved a case in the period, with requester and approver (from the audit trail)',
    sql: (db) => `
SELECT toString(r.seq) AS k, r.subject AS case_id, JSONExtractString(r.content, 'resolution') AS resolution,
  JSONExtractString(req.content, 'action', 'amountMinor') AS amount_minor, JSONExtractString(req.content, 'action', 'currency') AS currency,
  JSONExtractString(req.content, 'action', 'reasonCode') AS reason_code, req.actor AS requested_by,
  if(r.action = 'case.approve', r.actor, '') AS approved_by, ${ms('r.at')} AS resolved_at_ms, r.seq AS audit_seq
FROM ${db}.audit_log AS r FINAL
INNER JOIN (
  SELECT subject, argMax(actor, seq) AS actor, argMax(content, seq) AS content
  FROM ${db}.audit_log FINAL WHERE action IN ('case.request_write_off', 'case.request_adjustment') GROUP BY subject
) AS req ON req.subject = r.subject
WHERE r.action IN ('case.approve', 'case.request_write_off', 'case.request_adjustment')
  AND JSONExtractString(r.content, 'to') = 'resolved'
  AND ${ms('r.at')} >= {from:Int64} AND ${ms('r.at')} < {to:Int64}`,
  },
  ledger: {
    name: 'ledger',
    description: 'Every ledger entry booked in the period (its latest status), for the auditors',
    // From the table, not the *_current view: the period filter applies before the grouping (an
    // entry's booking time is the same in every version), and the key filter of each page reaches
    // the table's primary key, so a page reads its own rows, not the whole period.
    sql: (db) => `
SELECT entry_id AS k, entry_id, argMax(account_id, version) AS account_id, argMax(direction, version) AS direction,
  toString(argMax(amount_minor, version)) AS amount_minor, argMax(currency, version) AS currency, argMax(status, version) AS status,
  argMax(tx_type, version) AS tx_type, ${ms('argMax(booking_time, version)')} AS booking_time_ms, ${ms('argMax(value_time, version)')} AS value_time_ms,
  argMax(end_to_end_id, version) AS end_to_end_id, argMax(tokenization_ref, version) AS tokenization_ref
FROM ${db}.ledger_entries
WHERE ${ms('booking_time')} >= {from:Int64} AND ${ms('booking_time')} < {to:Int64}
GROUP BY entry_id`,
  },
};
