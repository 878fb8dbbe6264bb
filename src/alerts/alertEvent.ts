import { z } from 'zod';
import type { Fact } from '../domain/facts.js';
import { ALERT_SEVERITIES, severitySchema, type AlertsConfig, type AlertSeverity } from './alertsConfig.js';

/**
 * An alert state change as it travels through the outbox (JetStream stream ALERTS): self-contained,
 * so the notifier needs nothing but this message to page, post, group and resolve.
 */
export const alertEventSchema = z.object({
  v: z.literal(1),
  /**
   * Stable id of the alert across its life (the discrepancy id): the PagerDuty dedup key. Any
   * length: an id over the API's 255 characters is hashed (pagerdutyDedupKey), never refused, so a
   * long input-derived id cannot make its alert disappear.
   */
  alertId: z.string().min(1),
  /** `${alertId}:${state}`: the outbox msgID, so a re-published fact is stored once. */
  eventId: z.string().min(1),
  state: z.enum(['firing', 'resolved']),
  source: z.enum(['discrepancy', 'aml', 'feed', 'case']),
  kind: z.string().min(1),
  severity: severitySchema,
  /** Kind and token (currency, or token key when there is no currency): alerts are grouped by it. */
  groupKey: z.string().min(1),
  summary: z.string(),
  account: z.string(),
  wallet: z.string(),
  currency: z.string(),
  tokenKey: z.string(),
  flow: z.string(),
  /** Amounts as recorded: minor units of the currency (`minor`) or token base units (`base`). */
  expectedAmount: z.string(),
  actualAmount: z.string(),
  amountUnit: z.enum(['minor', 'base', 'none']),
  bankLegId: z.string(),
  chainLegId: z.string(),
  reason: z.string(),
  /** Business time the alert is about (epoch ms). */
  eventTime: z.number(),
  /** When the fact was recorded (epoch ms). */
  at: z.number(),
  details: z.record(z.string(), z.string()).default({}),
});
export type AlertEvent = z.infer<typeof alertEventSchema>;

export const severityRank = (s: AlertSeverity): number => ALERT_SEVERITIES.length - ALERT_SEVERITIES.indexOf(s);
export const atLeast = (s: AlertSeverity, min: AlertSeverity): boolean => severityRank(s) >= severityRank(min);

const KIND_SUMMARY: Record<string, string> = {
  MISSING_MINT: 'deposit credited at the bank, no mint on chain',
  MISSING_BURN: 'withdrawal debited at the bank, no burn on chain',
  MISSING_BANK_CREDIT: 'tokens minted, no deposit credit at the bank',
  MISSING_BANK_DEBIT: 'tokens burned, no withdrawal debit at the bank',
  AMOUNT_MISMATCH: 'bank and chain amounts differ for one reference',
  CURRENCY_MISMATCH: 'posting currency is not the token currency',
  DUPLICATE: 'a leg was booked or minted twice',
  ORPHAN_CHAIN_EVENT: 'mint or burn on a wallet mapped to no account',
  ORPHAN_LEDGER_ENTRY: 'posting on an account mapped to no wallet',
  REVERSAL_AFTER_MATCH: 'bank posting reversed after its tokens moved',
  BALANCE_DRIFT: 'unexplained gap between bank and on-chain balances',
  FEED_STALLED: 'a feed stopped advancing',
  PARTIALLY_MATCHED: 'tranches met only part of a leg by its window',
  PROPOSED_MATCH: 'a loose pair waits for an operator to confirm or reject it',
  STATEMENT_BALANCE_MISMATCH: "a bank statement's balances do not add up",
  STATEMENT_SEQUENCE_GAP: 'bank statements are missing from the sequence',
  STATEMENT_OVERLAP: 'bank statements overlap or reuse a number',
};
export const kindSummary = (kind: string): string => KIND_SUMMARY[kind] ?? kind.toLowerCase().replace(/_/g, ' ');

export const groupKeyOf = (kind: string, token: string): string => `${kind}|${token || '-'}`;

/** Subject of an alert in the outbox: `<prefix>.<source>.<kind>`. */
export const alertSubject = (prefix: string, a: Pick<AlertEvent, 'source' | 'kind'>): string => `${prefix}.${a.source}.${a.kind.replace(/[^A-Za-z0-9_-]/g, '_')}`;

type Row = Record<string, unknown>;
const str = (v: unknown): string => (v === null || v === undefined ? '' : String(v));
const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0) || 0);

/**
 * The alert a fact stands for, or null when the fact is not alert-worthy: every discrepancy status
 * change (open → firing, resolved → resolved; BALANCE_DRIFT included), and AML alerts (table
 * `aml_alerts`, when that fact exists) at or above `amlMinSeverity`. Pure and deterministic: the
 * same fact gives the same alert, so re-publishing after a redelivery is harmless.
 */
export function alertOfFact(fact: Fact | { table: string; row: object }, config: Pick<AlertsConfig, 'severities' | 'amlMinSeverity'>): AlertEvent | null {
  const row = fact.row as Row;
  if (fact.table === 'discrepancy_events') {
    const kind = str(row.kind);
    const state = row.status === 'resolved' ? 'resolved' : 'firing';
    const alertId = str(row.discrepancy_id);
    const currency = str(row.currency);
    const tokenKey = str(row.token_key);
    const who = str(row.account_id) || str(row.wallet) || tokenKey || currency;
    return {
      v: 1,
      alertId,
      eventId: `${alertId}:${state}`,
      state,
      source: 'discrepancy',
      kind,
      severity: config.severities[kind] ?? 'error',
      groupKey: groupKeyOf(kind, currency || tokenKey),
      summary: `${kind}${who ? ` ${who}` : ''}: ${kindSummary(kind)}`,
      account: str(row.account_id),
      wallet: str(row.wallet),
      currency,
      tokenKey,
      flow: str(row.flow),
      expectedAmount: str(row.expected_amount),
      actualAmount: str(row.actual_amount),
      amountUnit: row.expected_amount || row.actual_amount ? 'minor' : 'none',
      bankLegId: str(row.bank_leg_id),
      chainLegId: str(row.chain_leg_id),
      reason: str(row.reason),
      eventTime: num(row.event_time),
      at: num(row.recorded_at),
      details: {},
    };
  }
  if (fact.table === 'aml_alerts') return amlAlert(row, config);
  return null;
}

/**
 * AML alert rows (`aml_alerts`, written by the AML rules): rule, scope (account or address),
 * subject, figures and summary. AML severities low/medium/high/critical map to
 * info/warning/error/critical. An AML alert has no resolution in the engine: it fires once and
 * the incident is closed by a person.
 */
function amlAlert(row: Row, config: Pick<AlertsConfig, 'amlMinSeverity'>): AlertEvent | null {
  const raw = str(row.severity).toLowerCase();
  const severity: AlertSeverity =
    raw === 'critical'
      ? 'critical'
      : raw === 'high'
        ? 'error'
        : raw === 'medium'
          ? 'warning'
          : raw === 'low'
            ? 'info'
            : (ALERT_SEVERITIES as readonly string[]).includes(raw)
              ? (raw as AlertSeverity)
              : 'warning';
  if (!atLeast(severity, config.amlMinSeverity)) return null;
  const alertId = `AML:${str(row.alert_id)}`;
  const state = ['resolved', 'closed'].includes(str(row.status).toLowerCase()) ? 'resolved' : 'firing';
  const rule = str(row.rule_id) || 'rule';
  const ruleType = str(row.rule_type);
  const kind = `AML_${(ruleType || rule).toUpperCase().replace(/[^A-Z0-9]+/g, '_')}`;
  const currency = str(row.currency);
  const subject = str(row.subject);
  const isAddress = str(row.scope) === 'address' || /^0x[0-9a-fA-F]{40}$/.test(subject);
  const details: Record<string, string> = { rule_id: rule, rule_type: ruleType, rule_version: str(row.rule_version), scope: str(row.scope) };
  if (row.window_start) details.window_start = new Date(num(row.window_start)).toISOString();
  if (row.window_end) details.window_end = new Date(num(row.window_end)).toISOString();
  if (row.trigger_event_id) details.trigger_event = str(row.trigger_event_id);
  if (Array.isArray(row.evidence_event_ids)) details.evidence = (row.evidence_event_ids as unknown[]).slice(0, 20).map(String).join(', ');
  if (row.figures) details.figures = typeof row.figures === 'string' ? row.figures : JSON.stringify(row.figures);
  const summary = str(row.summary) || `AML rule ${rule} fired for ${subject}`;
  return {
    v: 1,
    alertId,
    eventId: `${alertId}:${state}`,
    state,
    source: 'aml',
    kind,
    severity,
    groupKey: groupKeyOf(kind, currency),
    summary: `${kind} ${subject}: ${summary}`,
    account: isAddress ? '' : subject,
    wallet: isAddress ? subject.toLowerCase() : '',
    currency,
    tokenKey: '',
    flow: '',
    expectedAmount: '',
    actualAmount: '',
    amountUnit: 'none',
    bankLegId: '',
    chainLegId: '',
    reason: summary,
    eventTime: num(row.event_time ?? row.window_end),
    at: num(row.recorded_at),
    details,
  };
}

/**
 * The hook for feed health: an alert for a stalled chain head or ledger feed (firing while it is
 * stalled, resolved once it moves again). Nothing in the engine emits stall facts yet; whatever
 * detects a stall publishes this through the outbox (`AlertOutbox.publish`).
 */
export function feedStalledAlert(
  o: { feed: string; state: 'firing' | 'resolved'; since: number; lastSeenAt: number; now: number; reason: string },
  config: Pick<AlertsConfig, 'severities'>,
): AlertEvent {
  const alertId = `FEED_STALLED:${o.feed}:${o.since}`;
  return {
    v: 1,
    alertId,
    eventId: `${alertId}:${o.state}`,
    state: o.state,
    source: 'feed',
    kind: 'FEED_STALLED',
    severity: config.severities.FEED_STALLED ?? 'error',
    groupKey: groupKeyOf('FEED_STALLED', o.feed),
    summary: `FEED_STALLED ${o.feed}: ${o.reason}`,
    account: '',
    wallet: '',
    currency: '',
    tokenKey: '',
    flow: '',
    expectedAmount: '',
    actualAmount: '',
    amountUnit: 'none',
    bankLegId: '',
    chainLegId: '',
    reason: o.reason,
    eventTime: o.since,
    at: o.now,
    details: { feed: o.feed, last_seen_at: new Date(o.lastSeenAt).toISOString() },
  };
}
