import type { ClickHouseClient } from '@clickhouse/client';
import type { Logger } from 'pino';
import { groupKeyOf, type AlertEvent } from '../alerts/alertEvent.js';
import type { AlertOutbox } from '../alerts/alertOutbox.js';
import type { AuditLog } from '../cases/auditLog.js';
import type { CaseStore } from '../cases/caseStore.js';
import { slaBreaches, type SlaRule } from '../cases/sla.js';
import { queryRows } from '../sinks/clickhouse/queries.js';
import type { Redis } from 'ioredis';

export interface SlaEscalationOptions {
  clickhouse: ClickHouseClient;
  database: string;
  redis: Redis;
  namespace: string;
  cases: CaseStore;
  audit: AuditLog;
  /** Absent when alerting is off: breaches are still audited. */
  outbox?: AlertOutbox | undefined;
  rules: readonly SlaRule[];
  intervalMs: number;
  log: Logger;
  now?: () => number;
}

interface OpenCase {
  discrepancy_id: string;
  kind: string;
  account_id: string;
  currency: string;
  amount: string;
  opened: string;
}

/** The alert of an SLA breach: one per case and what was due (acknowledge, resolve), firing once. */
export function slaBreachAlert(c: OpenCase, what: 'acknowledge' | 'resolve', dueAt: number, now: number): AlertEvent {
  const alertId = `SLA_BREACH:${c.discrepancy_id}:${what}`;
  const reason = `case ${c.discrepancy_id} (${c.kind}, ${c.amount} minor units of ${c.currency}) was not ${what === 'acknowledge' ? 'acknowledged' : 'resolved'} by ${new Date(dueAt).toISOString()}`;
  return {
    v: 1,
    alertId,
    eventId: `${alertId}:firing`,
    state: 'firing',
    source: 'case',
    kind: 'SLA_BREACH',
    severity: what === 'resolve' ? 'error' : 'warning',
    groupKey: groupKeyOf('SLA_BREACH', c.kind),
    summary: `SLA breach: ${reason}`,
    account: c.account_id,
    wallet: '',
    currency: c.currency,
    tokenKey: '',
    flow: '',
    expectedAmount: '',
    actualAmount: '',
    amountUnit: 'none',
    bankLegId: '',
    chainLegId: '',
    reason,
    eventTime: dueAt,
    at: now,
    details: { case: c.discrepancy_id, kind: c.kind, due_at: new Date(dueAt).toISOString() },
  };
}

/**
 * Escalates cases past their service level (src/cases/sla.ts): every interval, the open cases are
 * checked; a breach is recorded in the audit chain once (its once-key), published to the alert
 * outbox (msgID = its event id, so a repeat is stored once) and then marked sent, so a crash in
 * between repeats only the publish. A case not acknowledged is one still `open` in the case store.
 */
export function startSlaEscalation(o: SlaEscalationOptions): { checkNow(): Promise<number>; stop(): Promise<void> } {
  const now = o.now ?? Date.now;
  const sentKey = `${o.namespace}:{cases}:sla-sent`;
  const minDue = Math.min(...o.rules.map((r) => Math.min(r.acknowledgeWithinMs, r.resolveWithinMs)));

  async function checkNow(): Promise<number> {
    if (o.rules.length === 0) return 0;
    const t = now();
    const open = await queryRows<OpenCase>(
      o.clickhouse,
      // Filters inside, formatting outside: an output alias named like a column would shadow it.
      `SELECT discrepancy_id, kind, account_id, currency,
              toString(toInt256(greatest(ifNull(expected_amount, toDecimal256(0, 18)), ifNull(actual_amount, toDecimal256(0, 18))))) AS amount,
              toString(toUnixTimestamp64Milli(opened_at)) AS opened
       FROM (
         SELECT * FROM ${o.database}.discrepancies_current
         WHERE status = 'open' AND toUnixTimestamp64Milli(opened_at) <= {before:Int64}
         ORDER BY opened_at LIMIT 10000
       )`,
      { before: t - minDue },
    );
    let escalated = 0;
    for (const c of open) {
      const state = await o.cases.get(c.discrepancy_id);
      const openedAt = Number(c.opened);
      const breaches = slaBreaches(o.rules, { kind: c.kind, amountMinor: BigInt(c.amount), openedAt, acknowledgedAt: state.status === 'open' ? null : openedAt, resolvedAt: null }, t);
      for (const b of breaches) {
        const alert = slaBreachAlert(c, b.what, b.dueAt, t);
        if ((await o.redis.sismember(sentKey, alert.alertId)) === 1) continue;
        await o.audit.append([{ at: t, actor: 'system', action: 'case.sla_breach', subject: c.discrepancy_id, content: { what: b.what, dueAt: b.dueAt, kind: c.kind }, once: alert.alertId }]);
        if (o.outbox) await o.outbox.publish([alert]);
        await o.redis.sadd(sentKey, alert.alertId);
        escalated++;
      }
    }
    if (escalated > 0) o.log.warn({ escalated }, 'cases: SLA breaches escalated');
    return escalated;
  }

  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const timer = setInterval(() => {
    if (!stopped) running = running.then(checkNow).catch((e) => o.log.error({ err: e }, 'SLA check failed; retrying at the next interval'));
  }, o.intervalMs);
  return {
    checkNow: () => {
      const p = running.then(checkNow);
      running = p.catch(() => undefined);
      return p;
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
