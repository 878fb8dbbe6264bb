/**
 * Vocabulary of the AML rule engine. A bank posting or a confirmed chain event becomes one or more
 * *movements*: value going in or out of a *subject* (a customer, a wallet, or a whole currency),
 * in integer minor units of the currency (bigint, never a float). Rules look at the movements of
 * one subject inside a time window and raise *alerts* that explain themselves: which rule and
 * version, which subject and window, which figures were compared with which thresholds, and the ids
 * of the events that are the evidence.
 */

/** Who a window belongs to. `customer`: a bank account (or, for a wallet mapped to no account, the
 *  wallet itself: as far as the bank knows it is its own customer); `wallet`: an address;
 *  `currency`: all the flow of one currency. */
export type AmlScope = 'customer' | 'wallet' | 'currency';
export type AmlSource = 'bank' | 'chain';
export type Direction = 'in' | 'out';
/**
 * How grave a rule's alert is, as the rule file says (its `severity:` key, the `severity` column
 * of aml_alerts): a risk level of the AML domain, not the severity of an operational alert
 * (`AlertSeverity`: info, warning, error, critical), to which the notifier maps it
 * (low → info, medium → warning, high → error, critical → critical; src/alerts/alertEvent.ts).
 */
export type RiskLevel = 'low' | 'medium' | 'high' | 'critical';

/** One side of one event, seen from one subject. */
export interface Movement {
  /** `bank:<entryId>` or `chain:<chainId>:<blockHash>:<logIndex>` (the evidence id). */
  eventId: string;
  source: AmlSource;
  scope: AmlScope;
  /** Account id, lower-case wallet address, or currency code. */
  subject: string;
  /** `${scope}:${subject}:${currency}`: windows never mix currencies. */
  subjectKey: string;
  currency: string;
  dir: Direction;
  /** Minor units of `currency`; a token amount is floored to whole minor units. */
  amount: bigint;
  /** The other party at the same scope (account, or address), '' when unknown (bank postings, mints). */
  counterparty: string;
  /** Bank tx type (deposit, withdrawal, transfer) or chain kind (mint, burn, transfer). */
  kind: string;
  /** Event time, epoch ms. */
  time: number;
  /** Raw identities the event touches (accounts, addresses), for the watch list. */
  touches: readonly string[];
}

/** A movement as window state remembers it. */
export interface WindowEntry {
  eventId: string;
  source: AmlSource;
  dir: Direction;
  amount: bigint;
  counterparty: string;
  kind: string;
  time: number;
}

/** What the state store knows about a subject when a rule is evaluated. */
export interface SubjectState {
  /** Movements within the read horizon around the event (the event's own included). */
  window: WindowEntry[];
  /** Latest activity strictly before the event's day-granular past, or null if none is remembered. */
  previousActivity: number | null;
  /** Baseline aggregates: `${bucketMs}:${bucketIndex}:${dir}` → count and sum. */
  buckets: ReadonlyMap<string, { n: bigint; v: bigint }>;
}

/** One figure an alert compared: `value op threshold`, with its unit. */
export interface Figure {
  name: string;
  value: string;
  op: '>=' | '>' | '<=' | '<' | 'in';
  threshold: string;
  /** `minor:USD` (minor units), `count`, `ms`, `bps` (basis points), `list`. */
  unit: string;
}

/** An alert a rule would raise, before suppression. */
export interface AlertCandidate {
  alertId: string;
  ruleId: string;
  ruleType: string;
  ruleVersion: string;
  severity: RiskLevel;
  scope: AmlScope;
  subject: string;
  subjectKey: string;
  currency: string;
  windowStart: number;
  windowEnd: number;
  /** Time of the movement that completed the pattern. */
  eventTime: number;
  /** Event time the alert id's bucket and the suppression period are measured from. */
  bucketTime: number;
  triggerEventId: string;
  evidence: string[];
  figures: Figure[];
  summary: string;
  /** Alerts of one rule and subject closer than this in event time are one alert. */
  suppressMs: number;
}
