import type { Actor } from './roles.js';
import { hasRole, type Role } from './roles.js';

/**
 * A case is an operator's handle on one discrepancy (or AML alert): who owns it, what was done,
 * how it ended. The lifecycle:
 *
 *   open ──acknowledge──▶ acknowledged ──assign──▶ assigned ──▶ resolved (data, manual match,
 *     │                                    ▲                        write-off, adjustment)
 *     └───────────────assign───────────────┘                            │
 *   resolved ──reopen (data, or an unmatch of a manual match)──▶ open ◀──┘
 *
 * Data may resolve a case in any open status (the late counterpart arrived). A write-off or an
 * adjustment above the four-eyes threshold waits for a second person with the approver role.
 * Every function here is pure: it returns the next state or throws `CaseActionRefused`.
 */
export type CaseStatus = 'open' | 'acknowledged' | 'assigned' | 'resolved';
export type Resolution = 'data' | 'manual_match' | 'write_off' | 'adjustment' | AmlDisposition;

/**
 * How an analyst closes an AML alert's case: a false positive, escalated to the bank's
 * investigations (MLRO), or reported to the authorities (a SAR/STR filed).
 */
export type AmlDisposition = 'false_positive' | 'escalated' | 'reported';
export const AML_DISPOSITIONS: readonly AmlDisposition[] = ['false_positive', 'escalated', 'reported'];

/** A write-off or adjustment waiting for its approver. */
export interface PendingApproval {
  requestId: string;
  type: 'write_off' | 'adjustment';
  requestedBy: string;
  amountMinor: bigint;
  currency: string;
  reasonCode: string;
}

export interface CaseState {
  caseId: string;
  status: CaseStatus;
  assignee: string | null;
  resolution: Resolution | null;
  pending: PendingApproval | null;
  /** Actions applied so far: the next action's sequence number within the case. */
  version: number;
}

export type CaseAction =
  | { type: 'acknowledge' }
  | { type: 'assign'; assignee: string }
  | { type: 'comment'; text: string }
  | { type: 'resolve_by_data' }
  | { type: 'reopen_by_data' }
  | { type: 'manual_match'; legIds: readonly string[] }
  | { type: 'unmatch' }
  | { type: 'request_write_off' | 'request_adjustment'; requestId: string; amountMinor: bigint; currency: string; reasonCode: string }
  | { type: 'dispose'; disposition: AmlDisposition; reasonCode: string }
  | { type: 'approve'; requestId: string }
  | { type: 'reject_request'; requestId: string };

/** The four-eyes rule: above this many minor units of a currency, a second person approves. */
export interface FourEyesPolicy {
  /** Per currency; a currency not listed uses `defaultMinor`. */
  thresholdMinor: Readonly<Record<string, bigint>>;
  defaultMinor: bigint;
}

/** Why an action was refused: a stable code for the API and a sentence for the operator. */
export class CaseActionRefused extends Error {
  constructor(
    readonly code: 'ILLEGAL_TRANSITION' | 'FORBIDDEN' | 'SELF_APPROVAL' | 'NO_PENDING_REQUEST' | 'INVALID_ACTION',
    message: string,
  ) {
    super(message);
    this.name = 'CaseActionRefused';
  }
}

export function newCase(caseId: string): CaseState {
  return { caseId, status: 'open', assignee: null, resolution: null, pending: null, version: 0 };
}

/** The role each action needs; `system` marks the ones only the engine takes. */
const NEEDS: Record<CaseAction['type'], Role | 'system'> = {
  acknowledge: 'operator',
  assign: 'operator',
  comment: 'operator',
  manual_match: 'operator',
  unmatch: 'operator',
  request_write_off: 'operator',
  request_adjustment: 'operator',
  dispose: 'operator',
  approve: 'approver',
  reject_request: 'approver',
  resolve_by_data: 'system',
  reopen_by_data: 'system',
};

export function needsApproval(policy: FourEyesPolicy, amountMinor: bigint, currency: string): boolean {
  return amountMinor > (policy.thresholdMinor[currency] ?? policy.defaultMinor);
}

/**
 * Applies `action` by `actor` to `state`: the next state, or `CaseActionRefused` naming why not
 * (a role the actor lacks, a transition the lifecycle forbids, an approval by its own requester).
 */
export function applyCaseAction(state: CaseState, action: CaseAction, actor: Actor, policy: FourEyesPolicy): CaseState {
  const needs = NEEDS[action.type];
  if (needs === 'system' ? actor.role !== 'system' : !hasRole(actor, needs)) {
    throw new CaseActionRefused('FORBIDDEN', `${actor.id} (${actor.role}) may not ${action.type.replaceAll('_', ' ')}: it needs the ${needs} role`);
  }
  const refuse = (why: string): never => {
    throw new CaseActionRefused('ILLEGAL_TRANSITION', `cannot ${action.type.replaceAll('_', ' ')} case ${state.caseId}: ${why}`);
  };
  const next = (s: Partial<CaseState>): CaseState => ({ ...state, ...s, version: state.version + 1 });
  const resolved = state.status === 'resolved';
  switch (action.type) {
    case 'acknowledge':
      if (state.status !== 'open') refuse(`it is ${state.status}, not open`);
      return next({ status: 'acknowledged' });
    case 'assign':
      if (resolved) refuse('it is resolved');
      if (action.assignee.trim() === '') throw new CaseActionRefused('INVALID_ACTION', 'an assignment names the assignee');
      return next({ status: 'assigned', assignee: action.assignee });
    case 'comment':
      if (action.text.trim() === '') throw new CaseActionRefused('INVALID_ACTION', 'a comment has text');
      return next({});
    case 'resolve_by_data':
      if (resolved) refuse('it is already resolved');
      return next({ status: 'resolved', resolution: 'data', pending: null });
    case 'reopen_by_data':
      if (!resolved) refuse(`it is ${state.status}, not resolved`);
      return next({ status: 'open', resolution: null, assignee: null });
    case 'manual_match':
      if (state.status !== 'acknowledged' && state.status !== 'assigned') refuse(`it is ${state.status}: acknowledge or assign it first`);
      if (state.pending) refuse(`a ${state.pending.type.replace('_', '-')} waits for approval`);
      if (action.legIds.length < 2) throw new CaseActionRefused('INVALID_ACTION', 'a manual match names at least two legs');
      return next({ status: 'resolved', resolution: 'manual_match' });
    case 'dispose':
      // An AML alert's case (the API offers it on alerts only): taken first, then closed.
      if (state.status !== 'acknowledged' && state.status !== 'assigned') refuse(`it is ${state.status}: acknowledge or assign it first`);
      if (!AML_DISPOSITIONS.includes(action.disposition)) throw new CaseActionRefused('INVALID_ACTION', `a disposition is one of ${AML_DISPOSITIONS.join(', ')}`);
      if (action.reasonCode.trim() === '') throw new CaseActionRefused('INVALID_ACTION', 'a disposition carries a reason code');
      return next({ status: 'resolved', resolution: action.disposition });
    case 'unmatch':
      if (state.resolution !== 'manual_match') refuse('only a manual match can be unmatched');
      return next({ status: 'open', resolution: null, assignee: null });
    case 'request_write_off':
    case 'request_adjustment': {
      if (state.status !== 'assigned') refuse(`it is ${state.status}: a write-off or adjustment is requested by its assignee`);
      if (state.pending) refuse(`request ${state.pending.requestId} already waits for approval`);
      if (action.amountMinor <= 0n) throw new CaseActionRefused('INVALID_ACTION', 'the amount is a positive number of minor units');
      if (action.reasonCode.trim() === '') throw new CaseActionRefused('INVALID_ACTION', 'a write-off or adjustment carries a reason code');
      const type = action.type === 'request_write_off' ? 'write_off' : 'adjustment';
      if (!needsApproval(policy, action.amountMinor, action.currency)) return next({ status: 'resolved', resolution: type });
      return next({
        pending: { requestId: action.requestId, type, requestedBy: actor.id, amountMinor: action.amountMinor, currency: action.currency, reasonCode: action.reasonCode },
      });
    }
    case 'approve':
    case 'reject_request': {
      const p = state.pending;
      if (!p || p.requestId !== action.requestId) throw new CaseActionRefused('NO_PENDING_REQUEST', `case ${state.caseId} has no pending request ${action.requestId}`);
      if (p.requestedBy === actor.id) throw new CaseActionRefused('SELF_APPROVAL', `${actor.id} requested ${p.requestId} and cannot also ${action.type === 'approve' ? 'approve' : 'reject'} it`);
      return action.type === 'approve' ? next({ status: 'resolved', resolution: p.type, pending: null }) : next({ pending: null });
    }
  }
}
