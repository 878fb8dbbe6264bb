/**
 * Scores alerts and customer rankings against an independent labeled set (pure).
 *
 * - Recall by evidence: share of a typology's instances with one of their labeled transfers in
 *   some alert's evidence. Recall by subject: share with one of their member accounts as some
 *   alert's subject.
 * - Precision by subject, per rule: share of the rule's alerts whose subject is a labeled account.
 * - Ranking: precision@k of a customer ranking (share of the top k that are labeled), at every
 *   k from 1 to the number of labeled accounts.
 */
export interface LabeledInstance {
  typology: string;
  members: readonly string[];
  eventIds: readonly string[];
}

export interface ScoredAlert {
  rule_id: string;
  subject: string;
  evidence_event_ids: readonly string[];
}

export interface TypologyRecall {
  typology: string;
  instances: number;
  byEvidence: number;
  bySubject: number;
}

export interface RulePrecision {
  rule: string;
  alerts: number;
  labeledSubjects: number;
}

export interface LabeledScore {
  alerts: number;
  alertsPer1000: number;
  typologies: TypologyRecall[];
  rules: RulePrecision[];
}

export function labeledAccounts(instances: readonly LabeledInstance[]): Set<string> {
  return new Set(instances.flatMap((i) => i.members));
}

export function scoreLabeled(instances: readonly LabeledInstance[], alerts: readonly ScoredAlert[], transfers: number): LabeledScore {
  const evidence = new Set(alerts.flatMap((a) => a.evidence_event_ids));
  const subjects = new Set(alerts.map((a) => a.subject));
  const labeled = labeledAccounts(instances);
  const typologies = [...new Set(instances.map((i) => i.typology))].sort().map((typology) => {
    const mine = instances.filter((i) => i.typology === typology);
    return {
      typology,
      instances: mine.length,
      byEvidence: mine.filter((i) => i.eventIds.some((id) => evidence.has(id))).length,
      bySubject: mine.filter((i) => i.members.some((m) => subjects.has(m))).length,
    };
  });
  const rules = [...new Set(alerts.map((a) => a.rule_id))].sort().map((rule) => {
    const mine = alerts.filter((a) => a.rule_id === rule);
    return { rule, alerts: mine.length, labeledSubjects: mine.filter((a) => labeled.has(a.subject)).length };
  });
  return { alerts: alerts.length, alertsPer1000: transfers === 0 ? 0 : (alerts.length * 1000) / transfers, typologies, rules };
}

/** precision@k for k = 1..depth: labeled among the first k of `ranking`. */
export function precisionAtK(ranking: readonly string[], labeled: ReadonlySet<string>, depth: number): number[] {
  const out: number[] = [];
  let hits = 0;
  for (let k = 1; k <= depth; k++) {
    if (labeled.has(ranking[k - 1] ?? '')) hits++;
    out.push(hits / k);
  }
  return out;
}

/** Customers by number of transfers (in + out), busiest first (ties: by id). */
export function activityRanking(transfers: readonly { from: string; to: string }[]): string[] {
  const n = new Map<string, number>();
  for (const t of transfers) {
    n.set(t.from, (n.get(t.from) ?? 0) + 1);
    n.set(t.to, (n.get(t.to) ?? 0) + 1);
  }
  return [...n].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([c]) => c);
}
