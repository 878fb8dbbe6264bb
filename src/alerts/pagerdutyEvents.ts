import { createHash } from 'node:crypto';
import type { AlertEvent } from './alertEvent.js';
import { displayAmount, formatDuration, headlineAmount, shortHex, totalAmount, whatToCheck } from './alertText.js';

/** A PagerDuty Events API v2 event (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/). */
export interface PagerDutyEvent {
  routing_key: string;
  event_action: 'trigger' | 'acknowledge' | 'resolve';
  dedup_key: string;
  payload?: {
    summary: string;
    source: string;
    severity: 'critical' | 'error' | 'warning' | 'info';
    timestamp?: string;
    component?: string;
    group?: string;
    class?: string;
    custom_details?: Record<string, unknown>;
  };
  client?: string;
  client_url?: string;
  links?: { href: string; text: string }[];
}

export interface PagerDutyContext {
  routingKey: string;
  /** `source` of every event: where the problem is observed (this deployment). */
  source: string;
  grafana?: (a?: AlertEvent) => string | undefined;
}

const SUMMARY_MAX = 1024;
const clip = (s: string, n: number) => (s.length <= n ? s : `${s.slice(0, n - 1)}…`);
const tokenOf = (a: AlertEvent) => a.currency || a.tokenKey || '-';

/** Events API v2: `dedup_key` is at most 255 characters. */
export const DEDUP_KEY_MAX = 255;
const KEPT_PREFIX = 180;

/**
 * The dedup key sent for an incident key: itself when it fits the API's 255 characters, else its
 * first 180 characters, `#sha256:` and the SHA-256 of the whole key (252 characters). Truncating
 * instead would fold two long keys with a common prefix into one incident. Deterministic and
 * idempotent, so the trigger and the resolve of one incident always carry the same key.
 */
export function pagerdutyDedupKey(key: string): string {
  if (key.length <= DEDUP_KEY_MAX) return key;
  return `${key.slice(0, KEPT_PREFIX)}#sha256:${createHash('sha256').update(key).digest('hex')}`;
}

/** The dedup key of the incident that folds the alerts of a group beyond the individual ones. */
export const groupDedupKey = (groupKey: string): string => pagerdutyDedupKey(`group:${groupKey}`);

function links(ctx: PagerDutyContext, a?: AlertEvent) {
  const href = ctx.grafana?.(a);
  return href ? { client_url: href, links: [{ href, text: 'Grafana: open discrepancies' }] } : {};
}

/**
 * The trigger of one alert: dedup_key is the alert id (the discrepancy id), so a re-sent trigger
 * folds into the same incident and the resolve closes it. Custom details carry both legs, both
 * amounts (as shown and as recorded), the references and what to check.
 */
export function pagerdutyTrigger(a: AlertEvent, ctx: PagerDutyContext): PagerDutyEvent {
  const amount = headlineAmount(a);
  const who = [a.account && `account ${a.account}`, a.wallet && `wallet ${shortHex(a.wallet)}`].filter(Boolean).join(', ');
  return {
    routing_key: ctx.routingKey,
    event_action: 'trigger',
    dedup_key: pagerdutyDedupKey(a.alertId),
    payload: {
      summary: clip(`[${a.kind}]${amount ? ` ${amount}` : ''}${who ? ` — ${who}` : ''}: ${a.reason || a.summary}`, SUMMARY_MAX),
      source: ctx.source,
      severity: a.severity,
      timestamp: new Date(a.eventTime || a.at).toISOString(),
      component: a.account || a.wallet || tokenOf(a),
      group: tokenOf(a),
      class: a.kind,
      custom_details: {
        alert_id: a.alertId,
        kind: a.kind,
        flow: a.flow || undefined,
        account: a.account || undefined,
        wallet: a.wallet || undefined,
        currency: a.currency || undefined,
        token: a.tokenKey || undefined,
        expected_amount: displayAmount(a.expectedAmount, a.amountUnit, a.currency) || undefined,
        actual_amount: displayAmount(a.actualAmount, a.amountUnit, a.currency) || undefined,
        expected_amount_recorded: a.expectedAmount || undefined,
        actual_amount_recorded: a.actualAmount || undefined,
        amount_unit: a.amountUnit,
        bank_leg: a.bankLegId || undefined,
        chain_leg: a.chainLegId || undefined,
        reason: a.reason,
        since: new Date(a.eventTime || a.at).toISOString(),
        what_to_check: whatToCheck(a.kind),
        ...a.details,
      },
    },
    client: 'tokenized-deposit-recon',
    ...links(ctx, a),
  };
}

/** The resolve of an incident: the same dedup key as its trigger (hashed the same way when too long), no payload needed. */
export function pagerdutyResolve(dedupKey: string, ctx: Pick<PagerDutyContext, 'routingKey'>): PagerDutyEvent {
  return { routing_key: ctx.routingKey, event_action: 'resolve', dedup_key: pagerdutyDedupKey(dedupKey) };
}

/**
 * The trigger of a group's incident: the alerts of a storm beyond the individual ones, folded into
 * one incident per kind and token (a later fold of the same group updates it).
 */
export function pagerdutyGroupTrigger(groupKey: string, alerts: readonly AlertEvent[], openInGroup: number, ctx: PagerDutyContext): PagerDutyEvent {
  const first = alerts[0]!;
  const total = totalAmount(alerts);
  const since = Math.min(...alerts.map((a) => a.eventTime || a.at));
  const worst = alerts.reduce((w, a) => (['critical', 'error', 'warning', 'info'].indexOf(a.severity) < ['critical', 'error', 'warning', 'info'].indexOf(w) ? a.severity : w), first.severity);
  return {
    routing_key: ctx.routingKey,
    event_action: 'trigger',
    dedup_key: groupDedupKey(groupKey),
    payload: {
      summary: clip(`[${first.kind}] ${openInGroup} open on ${tokenOf(first)} (${alerts.length} new${total ? `, ${total}` : ''}) — grouped`, SUMMARY_MAX),
      source: ctx.source,
      severity: worst,
      timestamp: new Date(since).toISOString(),
      component: `${alerts.length} accounts/wallets`,
      group: tokenOf(first),
      class: first.kind,
      custom_details: {
        group: groupKey,
        kind: first.kind,
        open_in_group: openInGroup,
        new_in_this_notification: alerts.length,
        total_amount: total || undefined,
        oldest_since: new Date(since).toISOString(),
        open_for: formatDuration(Date.now() - since),
        alerts: alerts.slice(0, 50).map((a) => `${a.alertId} ${headlineAmount(a)} ${a.account || a.wallet}`.trim()),
        more: alerts.length > 50 ? alerts.length - 50 : undefined,
        what_to_check: whatToCheck(first.kind),
      },
    },
    client: 'tokenized-deposit-recon',
    ...links(ctx, first),
  };
}
