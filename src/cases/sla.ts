/**
 * Service levels of the exception queue: per discrepancy kind and amount band, how long a case
 * may stay unacknowledged and unresolved. A breach escalates through the alert outbox.
 */
export interface SlaRule {
  /** Discrepancy kinds this rule covers; empty covers every kind. */
  kinds: readonly string[];
  /** Inclusive lower bound of the band, in minor units (0 when absent). */
  minAmountMinor: bigint;
  acknowledgeWithinMs: number;
  resolveWithinMs: number;
}

export interface SlaSubject {
  kind: string;
  /** The discrepancy's amount in minor units (the larger side), 0 when unknown. */
  amountMinor: bigint;
  openedAt: number;
  acknowledgedAt: number | null;
  resolvedAt: number | null;
}

export type SlaBreach = { what: 'acknowledge' | 'resolve'; dueAt: number; rule: SlaRule };

/** The rule for a subject: of the rules covering its kind, the one with the highest band it reaches. */
export function slaRuleFor(rules: readonly SlaRule[], s: Pick<SlaSubject, 'kind' | 'amountMinor'>): SlaRule | undefined {
  let best: SlaRule | undefined;
  for (const r of rules) {
    if (r.kinds.length > 0 && !r.kinds.includes(s.kind)) continue;
    if (s.amountMinor < r.minAmountMinor) continue;
    if (!best || r.minAmountMinor > best.minAmountMinor || (r.minAmountMinor === best.minAmountMinor && best.kinds.length === 0 && r.kinds.length > 0)) best = r;
  }
  return best;
}

/** Breaches at `now`: acknowledgement or resolution later than its rule allows (due time passed, not done in time). */
export function slaBreaches(rules: readonly SlaRule[], s: SlaSubject, now: number): SlaBreach[] {
  const rule = slaRuleFor(rules, s);
  if (!rule) return [];
  const out: SlaBreach[] = [];
  const ackDue = s.openedAt + rule.acknowledgeWithinMs;
  if ((s.acknowledgedAt ?? now) > ackDue && now > ackDue) out.push({ what: 'acknowledge', dueAt: ackDue, rule });
  const resolveDue = s.openedAt + rule.resolveWithinMs;
  if ((s.resolvedAt ?? now) > resolveDue && now > resolveDue) out.push({ what: 'resolve', dueAt: resolveDue, rule });
  return out;
}

/** Age of a case at `now` (or at its resolution), in ms. */
export function caseAgeMs(s: Pick<SlaSubject, 'openedAt' | 'resolvedAt'>, now: number): number {
  return Math.max(0, (s.resolvedAt ?? now) - s.openedAt);
}
