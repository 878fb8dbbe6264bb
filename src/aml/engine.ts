/**
 * The AML rule engine: every decoded ledger entry and every confirmed chain event becomes
 * movements, which update their subjects' window state (once per event id), are evaluated by the
 * rules of the current rule set, and yield alert rows. State lives in an `AmlStateStore` (Redis
 * in the daemon, memory in a backtest); rules and the watch list are read at each event, so a
 * reload takes effect at the next event without touching window state.
 */
import type { AmlAlertRow, Fact } from '../domain/facts.js';
import type { IdentityView } from '../domain/legs.js';
import type { ChainEvent, LedgerEntry } from '../domain/types.js';
import { movementsOfChainEvent, movementsOfLedgerEntry, subjectKeyOf } from './movements.js';
import type { PercentileValues, RuleSet } from './ruleFile.js';
import { cycleRulesOf, evaluateMovement } from './rules.js';
import { DAY_MS, type AmlStateStore, type CommitCandidate } from './stateStore.js';
import type { AlertCandidate, Movement, SubjectState, WindowEntry } from './types.js';

export interface AmlEngineOptions {
  store: AmlStateStore;
  identities: IdentityView;
  /** The rule set in force (read at every event: a reload swaps what this returns). */
  rules: () => RuleSet;
  /** Watch-listed identities, lower case (read at every event). */
  watchlist: () => ReadonlySet<string>;
  /** The latest computed percentiles for thresholds from data and segment rules (src/jobs/amountPercentiles.ts). */
  percentiles?: () => PercentileValues;
  /** A customer's peer segment (the identity mapping's; default `default`). */
  segmentOf?: (customer: string) => string;
  /** Wall-clock lifetime of state keys (default 400 days). */
  ttlMs?: number;
  /** Day-activity kept for dormancy (default: the longest dormancy + 30 days, at least 400 days). */
  activityRetentionMs?: number;
  now?: () => number;
}

export interface AmlResult {
  alerts: AmlAlertRow[];
  /** True when the event's alerts had been decided before (a redelivery): they may be durable. */
  replayed: boolean;
}

export interface AmlEngine {
  onLedgerEntry(e: LedgerEntry): Promise<AmlResult>;
  onChainEvent(ev: ChainEvent): Promise<AmlResult>;
  /** Alerts as facts of the message that carried the event. */
  facts(r: AmlResult): Fact[];
}

/**
 * The bank customers (account ids) a movement involves: the posting's account, or the accounts of
 * the wallets a chain event touches and of its counterparty, and a customer-scope subject. A
 * watch-list hit on a listed address thus names the customer who paid it or was paid by it.
 */
export function customersOf(m: Movement, ids: IdentityView): string[] {
  const out = new Set<string>();
  const accountOf = (party: string) => (party.startsWith('0x') ? ids.accountOfWallet(party) : party);
  if (m.source === 'bank') for (const t of m.touches) out.add(t);
  else
    for (const party of [...m.touches, m.counterparty]) {
      const a = party === '' ? undefined : accountOf(party);
      if (a) out.add(a);
    }
  if (m.scope === 'customer' && !m.subject.startsWith('0x')) out.add(m.subject);
  return [...out].sort();
}

export function alertRowOf(c: AlertCandidate, now: number, customers: readonly string[] = []): AmlAlertRow {
  return {
    alert_id: c.alertId,
    rule_id: c.ruleId,
    rule_type: c.ruleType,
    rule_version: c.ruleVersion,
    severity: c.severity,
    scope: c.scope,
    subject: c.subject,
    currency: c.currency,
    window_start: c.windowStart,
    window_end: c.windowEnd,
    event_time: c.eventTime,
    trigger_event_id: c.triggerEventId,
    evidence_event_ids: c.evidence,
    figures: JSON.stringify(c.figures),
    summary: c.summary,
    recorded_at: now,
    customers: [...customers],
  };
}

export function createAmlEngine(o: AmlEngineOptions): AmlEngine {
  const now = o.now ?? Date.now;
  const ttlMs = o.ttlMs ?? 400 * DAY_MS;

  async function run(eventId: string, time: number, movements: Movement[], rules: RuleSet): Promise<AmlResult> {
    if (movements.length === 0 || (rules.rules.length === 0 && !rules.risk)) return { alerts: [], replayed: false };
    const horizon = rules.horizonMs;
    const dormancy = Math.max(0, ...rules.rules.map((r) => (r.type === 'dormant' ? r.dormancy : 0)));
    const buckets = [...rules.buckets].map(([bucketMs, n]) => {
      const b = Math.floor(time / bucketMs);
      return { bucketMs, from: b - 1 - n, to: b - 2 };
    });
    const applied = await o.store.apply({
      eventId,
      time,
      readFrom: time - horizon,
      readTo: time + horizon,
      maxEvents: rules.maxWindowEvents,
      retentionMs: 2 * horizon + rules.allowedLatenessMs,
      activityRetentionMs: o.activityRetentionMs ?? Math.max(400 * DAY_MS, dormancy + 30 * DAY_MS),
      buckets,
      ttlMs,
      movements: movements.map((m) => ({
        subjectKey: m.subjectKey,
        entry: { eventId: m.eventId, source: m.source, dir: m.dir, amount: m.amount, counterparty: m.counterparty, kind: m.kind, time: m.time },
      })),
    });
    // Rows decided before customers were recorded have none (a redelivery across the upgrade).
    if (applied.status === 'done') return { alerts: applied.alerts.map((a) => ({ ...a, customers: a.customers ?? [] })), replayed: true };

    const windows = new Map<string, readonly WindowEntry[]>();
    for (const [k, s] of applied.subjects) windows.set(k, s.window);
    await prefetchForCycles(rules, movements, windows);
    const watchlist = o.watchlist();
    // Thresholds from data read the percentiles computed last.
    const data = rules.percentiles.length > 0 || rules.segmentPercentiles.length > 0 ? o.percentiles?.() : undefined;
    const evaluated: RuleSet = data ? { ...rules, amount: (t, c) => rules.amount(t, c, data) } : rules;
    const candidates = new Map<string, { c: AlertCandidate; m: Movement }>();
    for (const m of movements) {
      const state: SubjectState = applied.subjects.get(m.subjectKey) ?? { window: [], previousActivity: null, buckets: new Map() };
      const peers = m.scope === 'customer' && o.segmentOf ? { segment: o.segmentOf(m.subject) } : {};
      for (const c of evaluateMovement({ rules: evaluated, movement: m, state, watchlist, windowOf: (k) => windows.get(k), ...peers, ...(data && { data }) })) {
        if (!candidates.has(c.alertId)) candidates.set(c.alertId, { c, m });
      }
    }
    const at = now();
    const commit: CommitCandidate[] = [...candidates.values()].map(({ c, m }) => ({
      row: alertRowOf(c, at, customersOf(m, o.identities)),
      ruleId: c.ruleId,
      subjectKey: c.subjectKey,
      time: c.bucketTime,
      suppressMs: c.suppressMs,
    }));
    return o.store.commit(eventId, commit, ttlMs);
  }

  /** Reads, level by level, the windows a cycle search from these movements may walk through. */
  async function prefetchForCycles(rules: RuleSet, movements: Movement[], windows: Map<string, readonly WindowEntry[]>): Promise<void> {
    for (const m of movements) {
      const cycles = cycleRulesOf(rules, m);
      if (cycles.length === 0) continue;
      const depth = Math.max(...cycles.map((r) => r.maxDepth));
      const span = Math.max(...cycles.map((r) => r.window));
      const key = (node: string) => subjectKeyOf(m.scope, node, m.currency);
      let frontier = [m.counterparty];
      // A cycle of `depth` edges walks through depth - 1 nodes after the origin.
      for (let level = 1; level < depth - 1 && frontier.length > 0; level++) {
        const next = new Set<string>();
        for (const node of frontier) {
          for (const e of windows.get(key(node)) ?? []) {
            if (e.dir === 'out' && e.counterparty !== '' && e.counterparty !== m.subject && !windows.has(key(e.counterparty)) && Math.abs(e.time - m.time) <= span) next.add(e.counterparty);
          }
        }
        const keys = [...next].slice(0, 200).map(key);
        const read = await o.store.readWindows(keys, m.time - span, m.time + span, rules.maxWindowEvents);
        for (const [k, w] of read) windows.set(k, w);
        frontier = [...next].slice(0, 200);
      }
    }
  }

  return {
    onLedgerEntry(e) {
      const rules = o.rules();
      return run(`bank:${e.entryId}`, e.bookingTime, movementsOfLedgerEntry(e, rules), rules);
    },
    onChainEvent(ev) {
      const rules = o.rules();
      return run(`chain:${ev.eventId}`, ev.blockTime, movementsOfChainEvent(ev, o.identities, rules), rules);
    },
    facts: (r) => r.alerts.map((row) => ({ table: 'aml_alerts' as const, row })),
  };
}
