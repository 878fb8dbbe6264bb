/**
 * An operator matches two open legs by hand, or undoes a match. The change is made atomically in
 * Redis first (src/state/lua/manualMatch.lua: the stream can never match the legs again, nor a leg
 * the stream took first be matched here), then its facts are written (deterministic ids), then the
 * audit record; repeating the request after a crash returns the stored outcome and writes what was
 * missing.
 */
import type { AuditLog } from '../cases/auditLog.js';
import { factKey } from '../domain/facts.js';
import { factsOfManualMatch } from '../domain/outcomeFacts.js';
import type { ManualMatchOutcome } from '../domain/outcomes.js';
import type { FactWriter } from '../sinks/clickhouse/factWriter.js';
import type { MatchStore } from '../state/matchStore.js';

/** `match:<bank leg id>|<chain leg id>` → the two leg ids, or null when it is not one. */
export function legsOfMatch(mid: string): { bankLegId: string; chainLegId: string } | null {
  const m = /^match:(bank:.+)\|(chain:.+)$/.exec(mid);
  return m ? { bankLegId: m[1]!, chainLegId: m[2]! } : null;
}

export async function manualMatch(
  o: { store: MatchStore; writer: FactWriter; audit: AuditLog; now?: () => number },
  op: 'match' | 'unmatch',
  bankLegId: string,
  chainLegId: string,
  actor: string,
  note = '',
): Promise<{ replayed: boolean; outcome: ManualMatchOutcome }> {
  const now = (o.now ?? Date.now)();
  const r = await o.store.manualMatch(op, bankLegId, chainLegId);
  const facts = factsOfManualMatch(r.outcome, actor, note, now);
  if (facts.length === 0) return r;
  await o.writer.write(facts, { suspects: new Set(facts.map(factKey)) });
  if (!r.replayed) await o.audit.append([{ at: now, actor, action: `match.${op}`, subject: `match:${bankLegId}|${chainLegId}`, content: { note, outcome: r.outcome } }]);
  return r;
}
