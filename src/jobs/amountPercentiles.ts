import type { ClickHouseClient } from '@clickhouse/client';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { percentileKey, type PercentileSpec, type PercentileValues, type RuleSet } from '../aml/ruleFile.js';
import type { AuditLog } from '../cases/auditLog.js';
import { repeatEvery } from '../lib/repeatEvery.js';
import { queryRows } from '../sinks/clickhouse/queries.js';
import { subjectKeyOf } from '../aml/movements.js';
import { periodMeasure, segmentPercentileKey, segmentPercentiles, type PeriodMeasure } from '../aml/segments.js';
import type { AmlStateStore } from '../aml/stateStore.js';

/** Percentiles as stored in Redis and recorded in the audit trail. */
export interface PercentileSnapshot {
  computedAt: number;
  /** The rule-file version(s) whose thresholds asked for them (live+shadow). */
  rulesVersion: string;
  /** Minor units as decimal strings, by `percentileKey`; with the number of postings each saw. */
  values: Record<string, { minor: string; postings: number }>;
  /** Segment percentiles (minor units or counts, decimal strings) by `segmentPercentileKey`, with the number of active peers each saw. */
  segments?: Record<string, { value: string; peers: number }>;
}

/** Where the segment percentiles read the customers' measures: each rule set's window state, and who the customers are. */
export interface SegmentSource {
  /** The window state a rule set's engine writes (the shadow has its own). */
  storeOf: (rules: RuleSet) => AmlStateStore;
  /** Every customer with its segment (the identity mapping's). */
  customers: () => readonly { customer: string; segment: string }[];
}

export interface AmountPercentiles {
  /** The percentiles the engine reads (empty until computed). */
  current(): PercentileValues;
  /** Computes them now if due (or `force`) and this worker wins the claim; the snapshot, or null. */
  computeNow(force?: boolean): Promise<PercentileSnapshot | null>;
  /** Reads the latest snapshot from Redis into `current()`. */
  refresh(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Thresholds from data (issue 19): the percentiles of booked posting amounts that the rule file's
 * amount tables ask for (`{ percentile: 99.5, over: 30d, floor: "1000.00" }`), per currency,
 * computed in ClickHouse every `everyMs` by one worker (a claim in Redis), stored in Redis as one
 * snapshot with the rule-file version and time, recorded in the audit trail when there is one,
 * and read by every worker's engine (refreshed every `refreshMs`). A currency without postings in
 * the period has no value: its threshold is the floor, or the rule waits.
 */
export function startAmountPercentiles(o: {
  /** The rule sets in force (live, and the shadow's when there is one). */
  rules: () => readonly RuleSet[];
  clickhouse: ClickHouseClient;
  database: string;
  redis: Redis;
  namespace: string;
  audit?: AuditLog | null;
  everyMs: number;
  refreshMs?: number;
  /** Needed by rule files with `peer_segment` rules; without it they wait. */
  segments?: SegmentSource;
  log: Logger;
  now?: () => number;
}): AmountPercentiles {
  const now = o.now ?? Date.now;
  const key = `${o.namespace}:{aml}:percentiles`;
  let values: PercentileValues = new Map();

  async function compute(specs: readonly PercentileSpec[], t: number): Promise<PercentileSnapshot['values']> {
    const out: PercentileSnapshot['values'] = {};
    // One query per currency and period, every percentile of it at once.
    const groups = new Map<string, PercentileSpec[]>();
    for (const s of specs) groups.set(`${s.currency}|${s.overMs}`, [...(groups.get(`${s.currency}|${s.overMs}`) ?? []), s]);
    for (const group of groups.values()) {
      const { currency, overMs } = group[0]!;
      const levels = group.map((s) => s.percentile / 100);
      const [row] = await queryRows<{ q: string[]; n: string }>(
        o.clickhouse,
        `SELECT arrayMap(x -> toString(x), quantilesExact(${levels.map((_, i) => `{p${i}:Float64}`).join(', ')})(toInt64(amount_minor))) AS q, count() AS n
         FROM ${o.database}.ledger_entries_current
         WHERE currency = {currency:String} AND status = 'booked' AND booking_time >= fromUnixTimestamp64Milli({from:Int64}) AND booking_time < fromUnixTimestamp64Milli({to:Int64})`,
        { currency, from: t - overMs, to: t, ...Object.fromEntries(levels.map((l, i) => [`p${i}`, l])) },
      );
      const n = Number(row?.n ?? 0);
      if (n === 0) continue;
      group.forEach((s, i) => {
        out[percentileKey(s.currency, s.percentile, s.overMs)] = { minor: row!.q[i]!, postings: n };
      });
    }
    return out;
  }

  /** Segment percentiles of every rule set, each from its own window state, read 500 customers at a time. */
  async function computeSegments(sets: readonly RuleSet[], t: number): Promise<NonNullable<PercentileSnapshot['segments']>> {
    const out: NonNullable<PercentileSnapshot['segments']> = {};
    if (!o.segments) return out;
    const customers = o.segments.customers();
    for (const rules of sets) {
      if (rules.segmentPercentiles.length === 0) continue;
      const store = o.segments.storeOf(rules);
      for (const currency of [...new Set(rules.segmentPercentiles.flatMap((s) => s.currencies))].sort()) {
        const specs = rules.segmentPercentiles.filter((s) => s.currencies.includes(currency));
        const span = Math.max(...specs.map((s) => s.periodMs + s.historyMs));
        const measured = specs.map(() => [] as { segment: string; measure: PeriodMeasure }[]);
        for (let i = 0; i < customers.length; i += 500) {
          const batch = customers.slice(i, i + 500);
          const windows = await store.readWindows(
            batch.map((c) => subjectKeyOf('customer', c.customer, currency)),
            t - span,
            t,
            rules.maxWindowEvents,
          );
          for (const c of batch) {
            const w = windows.get(subjectKeyOf('customer', c.customer, currency)) ?? [];
            specs.forEach((s, k) => {
              // Kept without its evidence: one figure per customer, whatever the population.
              const { value, active } = periodMeasure(w, t, s);
              measured[k]!.push({ segment: c.segment, measure: { value, active, evidence: [] } });
            });
          }
        }
        specs.forEach((s, k) => {
          for (const [segment, p] of segmentPercentiles(measured[k]!, s.percentile, s.minPeers)) out[segmentPercentileKey(s, segment, currency)] = { value: p.value.toString(), peers: p.peers };
        });
      }
    }
    return out;
  }

  async function computeNow(force = false): Promise<PercentileSnapshot | null> {
    const sets = o.rules();
    const specs = [...new Map(sets.flatMap((r) => r.percentiles).map((s) => [percentileKey(s.currency, s.percentile, s.overMs), s])).values()];
    if (specs.length === 0 && sets.every((r) => r.segmentPercentiles.length === 0)) return null;
    const version = sets.map((r) => r.version).join('+');
    const t = now();
    const raw = await o.redis.get(key);
    const last = raw ? (JSON.parse(raw) as PercentileSnapshot) : null;
    if (!force && last && last.rulesVersion === version && t - last.computedAt < o.everyMs) return null;
    if ((await o.redis.set(`${key}:claim`, '1', 'PX', 300_000, 'NX')) !== 'OK') return null;
    try {
      const snapshot: PercentileSnapshot = { computedAt: t, rulesVersion: version, values: await compute(specs, t), segments: await computeSegments(sets, t) };
      // Recorded before it applies: which thresholds were in force, and since when, is auditable.
      await o.audit?.append([{ at: t, actor: 'system', action: 'aml.percentiles', subject: version, content: snapshot }]);
      await o.redis.set(key, JSON.stringify(snapshot));
      o.log.info({ rulesVersion: version, values: snapshot.values, segments: snapshot.segments }, 'aml: amount and segment percentiles computed');
      return snapshot;
    } finally {
      await o.redis.del(`${key}:claim`);
    }
  }

  async function refresh(): Promise<void> {
    const raw = await o.redis.get(key);
    if (!raw) return;
    const s = JSON.parse(raw) as PercentileSnapshot;
    values = new Map([...Object.entries(s.values).map(([k, v]) => [k, BigInt(v.minor)] as const), ...Object.entries(s.segments ?? {}).map(([k, v]) => [k, BigInt(v.value)] as const)]);
  }

  const loop = repeatEvery(
    o.refreshMs ?? 60_000,
    async () => {
      await computeNow();
      await refresh();
    },
    (e) => o.log.error({ err: e }, 'aml: amount percentiles failed; the last ones stay in force'),
  );
  return { current: () => values, computeNow, refresh, stop: () => loop.stop() };
}
