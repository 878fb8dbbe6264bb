/**
 * Scores alerts against a labelled data set, per typology (pure). An alert of rule type T is a
 * true positive when its evidence shares an event with a positive instance of T; recall is the
 * share of positive instances of T that some alert of T names; an alert on a near miss is a false
 * positive like any other.
 */
import { TYPOLOGIES, type TypologyInstance, type Typology } from './amlDataset.js';

export interface TypologyScore {
  typology: Typology;
  instances: number;
  detected: number;
  nearMisses: number;
  nearMissesRaised: number;
  alerts: number;
  truePositives: number;
  /** null when there is nothing to divide by. */
  precision: number | null;
  recall: number | null;
}

export function scoreAlerts(instances: readonly TypologyInstance[], alerts: readonly { rule_type: string; evidence_event_ids: readonly string[] }[]): TypologyScore[] {
  return TYPOLOGIES.map((typology) => {
    const mine = alerts.filter((a) => a.rule_type === typology);
    const positives = instances.filter((i) => i.typology === typology && i.positive);
    const near = instances.filter((i) => i.typology === typology && !i.positive);
    const hits = (i: TypologyInstance, a: { evidence_event_ids: readonly string[] }) => a.evidence_event_ids.some((id) => i.eventIds.includes(id));
    const truePositives = mine.filter((a) => positives.some((i) => hits(i, a))).length;
    const detected = positives.filter((i) => mine.some((a) => hits(i, a))).length;
    return {
      typology,
      instances: positives.length,
      detected,
      nearMisses: near.length,
      nearMissesRaised: near.filter((i) => mine.some((a) => hits(i, a))).length,
      alerts: mine.length,
      truePositives,
      precision: mine.length ? truePositives / mine.length : null,
      recall: positives.length ? detected / positives.length : null,
    };
  });
}

/** The scores as a fixed-width table. */
export function formatScores(scores: readonly TypologyScore[]): string {
  const pct = (x: number | null) => (x === null ? '   n/a' : `${(x * 100).toFixed(1).padStart(5)}%`);
  const lines = ['typology       instances  detected  near-misses raised  alerts  TP   precision  recall'];
  for (const s of scores) {
    lines.push(
      `${s.typology.padEnd(14)} ${String(s.instances).padStart(9)} ${String(s.detected).padStart(9)} ${`${s.nearMisses}`.padStart(12)} ${String(s.nearMissesRaised).padStart(6)} ${String(s.alerts).padStart(7)} ${String(s.truePositives).padStart(3)}   ${pct(s.precision)}   ${pct(s.recall)}`,
    );
  }
  return lines.join('\n');
}
