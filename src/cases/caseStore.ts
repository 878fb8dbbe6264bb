import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { chainRecord, type AuditRecord } from './auditChain.js';
import type { AuditLog } from './auditLog.js';
import { applyCaseAction, newCase, type CaseAction, type CaseState, type FourEyesPolicy } from './caseLifecycle.js';
import type { Actor } from './roles.js';
import { inScript } from '../state/scriptErrors.js';

const APPLY_LUA = readFileSync(new URL('./lua/caseApply.lua', import.meta.url), 'utf8');

type ApplyCommand = {
  reconCaseApply(caseKey: string, head: string, pending: string, version: number, state: string, onSeq: number, seq: number, hash: string, record: string): Promise<[number, string?, string?]>;
};

/** A case state as stored: bigints as decimal strings. */
type StoredCase = Omit<CaseState, 'pending'> & { pending: (Omit<NonNullable<CaseState['pending']>, 'amountMinor'> & { amountMinor: string }) | null };

const toStored = (s: CaseState): StoredCase => ({ ...s, pending: s.pending && { ...s.pending, amountMinor: s.pending.amountMinor.toString() } });
const fromStored = (s: StoredCase): CaseState => ({ ...s, pending: s.pending && { ...s.pending, amountMinor: BigInt(s.pending.amountMinor) } });

export interface CaseStoreOptions {
  redis: Redis;
  audit: AuditLog;
  namespace: string;
  policy: FourEyesPolicy;
  now?: () => number;
}

export interface CaseActionResult {
  state: CaseState;
  record: AuditRecord;
}

/**
 * Case states in Redis, changed only together with their audit record: each action is decided on
 * the state it read (caseLifecycle.ts, pure), then stored by one script that checks neither the
 * case nor the audit head moved meanwhile (caseApply.lua); if either did, the action is decided
 * again on what is there now, which may refuse it (the other operator approved first). The record
 * is durable in ClickHouse before `act` resolves.
 */
export class CaseStore {
  private readonly now: () => number;

  constructor(private readonly o: CaseStoreOptions) {
    this.now = o.now ?? Date.now;
    if (!('reconCaseApply' in o.redis)) o.redis.defineCommand('reconCaseApply', { numberOfKeys: 3, lua: APPLY_LUA });
  }

  private key(caseId: string): string {
    return `${this.o.namespace}:{audit}:case:${caseId}`;
  }

  /** The case's state; a discrepancy nobody acted on yet is an open case at version 0. */
  async get(caseId: string): Promise<CaseState> {
    const raw = await this.o.redis.get(this.key(caseId));
    return raw ? fromStored(JSON.parse(raw) as StoredCase) : newCase(caseId);
  }

  /** Applies `action` by `actor`; rejects with `CaseActionRefused` when the lifecycle or the roles forbid it. */
  async act(caseId: string, action: CaseAction, actor: Actor): Promise<CaseActionResult> {
    for (let attempt = 0; attempt < 100; attempt++) {
      const [state, head] = await Promise.all([this.get(caseId), this.o.audit.head()]);
      const next = applyCaseAction(state, action, actor, this.o.policy);
      const record = chainRecord(head, {
        at: this.now(),
        actor: actor.id,
        action: `case.${action.type}`,
        subject: caseId,
        content: { action, from: state.status, to: next.status, version: next.version, resolution: next.resolution },
      });
      const [ok] = await inScript('caseApply', () =>
        (this.o.redis as unknown as ApplyCommand).reconCaseApply(
          this.key(caseId),
          this.o.audit.headKey,
          this.o.audit.pendingKey,
          state.version,
          JSON.stringify(toStored(next)),
          head?.seq ?? 0,
          record.seq,
          record.hash,
          JSON.stringify(record),
        ),
      );
      if (ok !== 1) continue;
      await this.o.audit.persist([record]);
      return { state: next, record };
    }
    throw new Error(`case ${caseId}: the case or the audit head kept moving for 100 attempts`);
  }
}
