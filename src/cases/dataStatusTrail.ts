import type { DiscrepancyEventRow, Fact } from '../domain/facts.js';
import type { FactWriter } from '../sinks/clickhouse/factWriter.js';
import type { AuditLog } from './auditLog.js';
import { CaseActionRefused } from './caseLifecycle.js';
import type { CaseStore } from './caseStore.js';
import { SYSTEM } from './roles.js';

/** A discrepancy's status changed in the data: opened, resolved, or re-opened by an unmatch. */
export interface DataStatusChange {
  discrepancyId: string;
  /** The status change's own id (`discrepancy_events.event_id`): what makes it the same change. */
  eventId: string;
  status: 'open' | 'resolved';
  kind: string;
  /** Event time of the change (deterministic: the same on every replay). */
  eventTime: number;
  reason: string;
  bankLegId: string;
  chainLegId: string;
  expectedAmount: string;
  actualAmount: string;
}

/** The discrepancy status changes among `facts`, in the order they were written. */
export function dataStatusChanges(facts: readonly Fact[]): DataStatusChange[] {
  const out: DataStatusChange[] = [];
  for (const f of facts) {
    if (f.table !== 'discrepancy_events') continue;
    const r = f.row as DiscrepancyEventRow;
    if (r.status !== 'open' && r.status !== 'resolved') continue;
    out.push({
      discrepancyId: r.discrepancy_id,
      eventId: r.event_id,
      status: r.status,
      kind: r.kind,
      eventTime: r.event_time,
      reason: r.reason,
      bankLegId: r.bank_leg_id,
      chainLegId: r.chain_leg_id,
      expectedAmount: r.expected_amount,
      actualAmount: r.actual_amount,
    });
  }
  return out;
}

/** How long a status change's once-key is remembered (redeliveries and restarts come well within). */
export const DATA_STATUS_ONCE_MS = 8 * 86_400_000;

export interface DataStatusTrail {
  /** Chains each status change among `facts` once, and moves the cases operators hold along. */
  record(facts: readonly Fact[]): Promise<void>;
}

/**
 * Status changes made by data enter the audit chain like the operators' actions: each one a
 * `discrepancy.open` / `discrepancy.resolved` record by `system`, chained once however often its
 * facts are written again (once-key: the event id). A case an operator already holds (acted on
 * at least once) follows the data through its lifecycle: `resolve_by_data` when its discrepancy
 * resolves while the case is open, `reopen_by_data` when it opens again after the case was
 * resolved, each a `case.*` record of its own. A case already where the data puts it (resolved by
 * the operator's manual match, re-opened by their unmatch) is left as it is.
 */
export function createDataStatusTrail(o: { audit: AuditLog; cases: CaseStore; now?: () => number; onceForMs?: number }): DataStatusTrail {
  const now = o.now ?? Date.now;
  const onceForMs = o.onceForMs ?? DATA_STATUS_ONCE_MS;
  return {
    async record(facts) {
      const changes = dataStatusChanges(facts);
      if (changes.length === 0) return;
      const at = now();
      const chained = await o.audit.append(
        changes.map((c) => ({
          at,
          actor: SYSTEM.id,
          action: `discrepancy.${c.status}`,
          subject: c.discrepancyId,
          content: { eventId: c.eventId, kind: c.kind, eventTime: c.eventTime, reason: c.reason, bankLegId: c.bankLegId, chainLegId: c.chainLegId, expected: c.expectedAmount, actual: c.actualAmount },
          once: c.eventId,
          onceScope: { at: c.eventTime, forMs: onceForMs },
        })),
      );
      // Cases follow only changes chained now: a change written again (a redelivery, a replay of
      // older facts) was followed when it was new, and must not move a case back.
      const fresh = new Set(chained.map((r) => `${r.action}\u0000${r.subject}`));
      for (const c of changes) {
        if (!fresh.has(`discrepancy.${c.status}\u0000${c.discrepancyId}`)) continue;
        const state = await o.cases.get(c.discrepancyId);
        if (state.version === 0) continue; // nobody holds it: its status is the data's
        const action = c.status === 'resolved' ? (state.status === 'resolved' ? null : 'resolve_by_data') : state.status === 'resolved' ? 'reopen_by_data' : null;
        if (!action) continue;
        try {
          await o.cases.act(c.discrepancyId, { type: action }, SYSTEM);
        } catch (e) {
          // Moved meanwhile by an operator to where the data puts it: nothing to follow.
          if (!(e instanceof CaseActionRefused && e.code === 'ILLEGAL_TRANSITION')) throw e;
        }
      }
    },
  };
}

/**
 * A writer whose writes count as durable only once the status changes they carry are in the
 * audit chain too (and their cases moved). `trail` is read at each write: null while the case
 * workflow is off or not started.
 */
export function withDataStatusTrail(writer: FactWriter, trail: () => DataStatusTrail | null): FactWriter {
  return {
    ...writer,
    async write(facts, options) {
      const r = await writer.write(facts, options);
      await trail()?.record(facts);
      return r;
    },
  };
}
