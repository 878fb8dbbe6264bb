/**
 * Window state of the AML engine. Two implementations with one contract: Redis (shared by every
 * worker, atomic Lua scripts) for the daemon, and memory for the backtest (which must write
 * nothing) and unit tests.
 *
 * Contract, per event id:
 * - `apply` adds the event's movements to their subjects' windows, day-activity and baseline
 *   aggregates once (a second apply changes nothing), and returns the state the rules read; if
 *   the event's alerts were already decided it returns them instead (`done`).
 * - `commit` decides the event's alerts once: a candidate is dropped if the same rule already
 *   alerted on the same subject within its suppression period (event time, either side); the
 *   kept alerts are stored with the event, so a redelivery re-emits exactly them.
 */
import type { AmlAlertRow } from '../domain/facts.js';
import type { Direction, SubjectState, WindowEntry } from './types.js';

export const DAY_MS = 86_400_000;

export interface ApplyRequest {
  eventId: string;
  time: number;
  movements: { subjectKey: string; entry: WindowEntry }[];
  /** Window entries returned: event time in [readFrom, readTo], at most `maxEvents` (latest). */
  readFrom: number;
  readTo: number;
  maxEvents: number;
  /** Entries older than the event time minus this are trimmed from windows. */
  retentionMs: number;
  /** Day-activity kept this long (dormancy look-back). */
  activityRetentionMs: number;
  /** Baseline aggregates: bucket size, and the bucket index range to return. */
  buckets: { bucketMs: number; from: number; to: number }[];
  /** Wall-clock lifetime of state keys and of the event's record. */
  ttlMs: number;
}

export type ApplyResult = { status: 'done'; alerts: AmlAlertRow[] } | { status: 'open'; subjects: Map<string, SubjectState> };

export interface CommitCandidate {
  row: AmlAlertRow;
  ruleId: string;
  subjectKey: string;
  time: number;
  suppressMs: number;
}

export interface AmlStateStore {
  apply(req: ApplyRequest): Promise<ApplyResult>;
  /** Windows of these subjects (cycle search beyond the event's own subjects). */
  readWindows(keys: readonly string[], from: number, to: number, maxEvents: number): Promise<Map<string, WindowEntry[]>>;
  commit(eventId: string, candidates: readonly CommitCandidate[], ttlMs: number): Promise<{ alerts: AmlAlertRow[]; replayed: boolean }>;
}

/** Window members are JSON arrays: [eventId, source, dir, amount, counterparty, kind] (score = time). */
export function encodeEntry(e: WindowEntry): string {
  return JSON.stringify([e.eventId, e.source, e.dir, e.amount.toString(), e.counterparty, e.kind]);
}

export function decodeEntry(member: string, time: number): WindowEntry {
  const [eventId, source, dir, amount, counterparty, kind] = JSON.parse(member) as [string, 'bank' | 'chain', Direction, string, string, string];
  return { eventId, source, dir, amount: BigInt(amount), counterparty, kind, time };
}

const bucketField = (bucketMs: number, idx: number, dir: Direction) => `${bucketMs}:${idx}:${dir}`;

/** In-process state with the same semantics as the Redis store (no TTLs: a backtest is short). */
export class MemoryStateStore implements AmlStateStore {
  private readonly windows = new Map<string, Map<string, WindowEntry>>();
  private readonly activity = new Map<string, Map<number, number>>();
  private readonly aggregates = new Map<string, Map<string, { n: bigint; v: bigint }>>();
  private readonly events = new Map<string, AmlAlertRow[] | null>();
  private readonly suppression = new Map<string, number>();

  async apply(req: ApplyRequest): Promise<ApplyResult> {
    const known = this.events.get(req.eventId);
    if (known) return { status: 'done', alerts: known };
    if (known === undefined) {
      for (const { subjectKey, entry } of req.movements) {
        let w = this.windows.get(subjectKey);
        if (!w) this.windows.set(subjectKey, (w = new Map()));
        w.set(encodeEntry(entry), entry);
        for (const [k, e] of w) if (e.time < req.time - req.retentionMs) w.delete(k);
        let act = this.activity.get(subjectKey);
        if (!act) this.activity.set(subjectKey, (act = new Map()));
        const day = Math.floor(entry.time / DAY_MS);
        act.set(day, Math.max(act.get(day) ?? -Infinity, entry.time));
        for (const [d, t] of act) if (t < req.time - req.activityRetentionMs) act.delete(d);
        let agg = this.aggregates.get(subjectKey);
        if (!agg) this.aggregates.set(subjectKey, (agg = new Map()));
        for (const b of req.buckets) {
          const f = bucketField(b.bucketMs, Math.floor(entry.time / b.bucketMs), entry.dir);
          const cur = agg.get(f) ?? { n: 0n, v: 0n };
          agg.set(f, { n: cur.n + 1n, v: cur.v + entry.amount });
        }
      }
      this.events.set(req.eventId, null);
    }
    const subjects = new Map<string, SubjectState>();
    for (const key of new Set(req.movements.map((m) => m.subjectKey))) {
      const window = this.readWindow(key, req.readFrom, req.readTo, req.maxEvents);
      let previousActivity: number | null = null;
      for (const t of this.activity.get(key)?.values() ?? []) if (t < req.time && (previousActivity === null || t > previousActivity)) previousActivity = t;
      const buckets = new Map<string, { n: bigint; v: bigint }>();
      const agg = this.aggregates.get(key);
      for (const b of req.buckets) {
        for (let idx = b.from; idx <= b.to; idx++) {
          for (const dir of ['in', 'out'] as const) {
            const v = agg?.get(bucketField(b.bucketMs, idx, dir));
            if (v) buckets.set(bucketField(b.bucketMs, idx, dir), v);
          }
        }
      }
      subjects.set(key, { window, previousActivity, buckets });
    }
    return { status: 'open', subjects };
  }

  private readWindow(key: string, from: number, to: number, maxEvents: number): WindowEntry[] {
    const es = [...(this.windows.get(key)?.entries() ?? [])]
      .filter(([, e]) => e.time >= from && e.time <= to)
      .sort(([ka, a], [kb, b]) => a.time - b.time || (ka < kb ? -1 : ka > kb ? 1 : 0))
      .map(([, e]) => e);
    return es.slice(Math.max(0, es.length - maxEvents));
  }

  async readWindows(keys: readonly string[], from: number, to: number, maxEvents: number): Promise<Map<string, WindowEntry[]>> {
    return new Map(keys.map((k) => [k, this.readWindow(k, from, to, maxEvents)]));
  }

  async commit(eventId: string, candidates: readonly CommitCandidate[]): Promise<{ alerts: AmlAlertRow[]; replayed: boolean }> {
    const known = this.events.get(eventId);
    if (known) return { alerts: known, replayed: true };
    const kept: AmlAlertRow[] = [];
    for (const c of candidates) {
      const key = `${c.ruleId}|${c.subjectKey}`;
      const last = this.suppression.get(key);
      if (last !== undefined && Math.abs(c.time - last) < c.suppressMs) continue;
      if (c.suppressMs > 0) this.suppression.set(key, c.time);
      kept.push(c.row);
    }
    this.events.set(eventId, kept);
    return { alerts: kept, replayed: false };
  }
}
