/**
 * An operator confirms or rejects a proposed pair (a loose rule's candidate). The decision is
 * taken atomically in Redis (at most once; src/state/lua/decideProposal.lua), then its facts are
 * written (deterministic ids: writing them again is harmless), then the audit record. Deciding again
 * after a crash in between returns the stored decision and writes what was missing.
 */
import type { AuditLog } from '../cases/auditLog.js';
import { factKey } from '../domain/facts.js';
import { factsOfDecision } from '../domain/outcomeFacts.js';
import type { ProposalDecision } from '../domain/outcomes.js';
import type { FactWriter } from '../sinks/clickhouse/factWriter.js';
import type { MatchStore } from '../state/matchStore.js';

/** `proposal:<bank leg id>|<chain leg id>` → the two leg ids, or null when it is not one. */
export function legsOfProposal(pid: string): { bankLegId: string; chainLegId: string } | null {
  // A split found by search names the leg that was split; its parts are in the store.
  const s = /^proposal:split:((?:bank|chain):.+)$/.exec(pid);
  if (s) return { bankLegId: s[1]!, chainLegId: '' };
  const m = /^proposal:(bank:.+)\|(chain:.+)$/.exec(pid);
  return m ? { bankLegId: m[1]!, chainLegId: m[2]! } : null;
}

export interface DecidedProposal {
  replayed: boolean;
  outcome: ProposalDecision;
}

export async function decideProposal(
  o: { store: MatchStore; writer: FactWriter; audit: AuditLog; now?: () => number },
  pid: string,
  decision: 'confirm' | 'reject',
  actor: string,
  note = '',
): Promise<DecidedProposal> {
  const legs = legsOfProposal(pid);
  if (!legs) return { replayed: false, outcome: { t: 'unknown' } };
  const now = (o.now ?? Date.now)();
  const r = await o.store.decideProposal(pid, legs.bankLegId, legs.chainLegId, decision);
  const facts = factsOfDecision(r.outcome, actor, now);
  if (facts.length === 0) return r;
  await o.writer.write(facts, { suspects: new Set(facts.map(factKey)) });
  if (!r.replayed) await o.audit.append([{ at: now, actor, action: `proposal.${r.outcome.t === 'confirmed' ? 'confirm' : 'reject'}`, subject: pid, content: { note, outcome: r.outcome } }]);
  return r;
}
