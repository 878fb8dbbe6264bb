/**
 * The rules, as pure functions of one movement and the window state of its subject: no I/O, no
 * clock, bigint arithmetic only. Each returns the alerts it would raise (before suppression), each
 * alert naming the figures it compared and the events that are its evidence.
 *
 * Windows are event time and tolerate out-of-order arrival: a window-based rule looks for any
 * window of its length that contains the triggering movement (so whichever movement of a pattern
 * arrives last completes it), except velocity, which compares the period ending at the movement
 * with the periods before it.
 */
import { currencyExponent } from '../domain/currencies.js';
import { formatMinor, parseDecimalToMinor } from '../domain/money.js';
import { subjectKeyOf } from './movements.js';
import { segmentSpecOf, type PercentileValues, type Rule, type RuleOf, type RuleSet } from './ruleFile.js';
import { periodMeasure, segmentPercentileKey } from './segments.js';
import { DEFAULT_SEGMENT } from '../domain/identityMap.js';
import type { AlertCandidate, Figure, Movement, SubjectState, WindowEntry } from './types.js';

export interface EvaluationInput {
  rules: RuleSet;
  movement: Movement;
  /** State of `movement.subjectKey` (its window includes the movement itself). */
  state: SubjectState;
  watchlist: ReadonlySet<string>;
  /** Windows of other subjects of the same scope and currency (cycle search); undefined if not read. */
  windowOf?: (subjectKey: string) => readonly WindowEntry[] | undefined;
  /** The subject's peer segment (customer scope; absent: `default`). */
  segment?: string;
  /** The latest computed percentiles (segment percentiles by `segmentPercentileKey`); absent: none. */
  data?: PercentileValues;
}

const money = (v: bigint, currency: string) => {
  let e = 2;
  try {
    e = currencyExponent(currency);
  } catch {
    /* keep 2 for display */
  }
  return `${formatMinor(v, e)} ${currency}`;
};
const minor = (currency: string) => `minor:${currency}`;
const sum = (es: readonly WindowEntry[]) => es.reduce((s, e) => s + e.amount, 0n);
const byTime = (a: WindowEntry, b: WindowEntry) => a.time - b.time || (a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0);
const dirOk = (d: 'in' | 'out', want: 'in' | 'out' | 'any') => want === 'any' || d === want;

export function alertIdOf(ruleId: string, subjectKey: string, bucketTime: number, suppressMs: number, triggerEventId: string): string {
  return suppressMs > 0 ? `${ruleId}:${subjectKey}:${Math.floor(bucketTime / suppressMs)}` : `${ruleId}:${subjectKey}:${triggerEventId}`;
}

function candidate(
  rule: Rule,
  rules: RuleSet,
  m: Movement,
  p: {
    subject?: string;
    subjectKey?: string;
    windowStart: number;
    windowEnd: number;
    bucketTime?: number;
    evidence: string[];
    figures: Figure[];
    summary: string;
  },
): AlertCandidate {
  const subjectKey = p.subjectKey ?? m.subjectKey;
  const bucketTime = p.bucketTime ?? m.time;
  return {
    alertId: alertIdOf(rule.id, subjectKey, bucketTime, rule.suppress, m.eventId),
    bucketTime,
    ruleId: rule.id,
    ruleType: rule.type,
    ruleVersion: rules.version,
    severity: rule.severity,
    scope: m.scope,
    subject: p.subject ?? m.subject,
    subjectKey,
    currency: m.currency,
    windowStart: p.windowStart,
    windowEnd: p.windowEnd,
    eventTime: m.time,
    triggerEventId: m.eventId,
    evidence: [...new Set(p.evidence)],
    figures: p.figures,
    summary: p.summary,
    suppressMs: rule.suppress,
  };
}

/** Every window [s, s + len] that contains `t` and starts at a movement's time, earliest first. */
function* windowsContaining(sorted: readonly WindowEntry[], t: number, len: number): Generator<{ start: number; entries: WindowEntry[] }> {
  const starts = [...new Set(sorted.filter((e) => e.time >= t - len && e.time <= t).map((e) => e.time))];
  for (const start of starts) yield { start, entries: sorted.filter((e) => e.time >= start && e.time <= start + len) };
}

function inScope(rule: Rule, entries: readonly WindowEntry[]): WindowEntry[] {
  return entries.filter((e) => rule.sources.includes(e.source)).sort(byTime);
}

function largeValue(rule: RuleOf<'large_value'>, i: EvaluationInput): AlertCandidate[] {
  const m = i.movement;
  const thr = i.rules.amount(rule.threshold, m.currency);
  if (thr === undefined || !dirOk(m.dir, rule.direction) || m.amount < thr) return [];
  return [
    candidate(rule, i.rules, m, {
      windowStart: m.time,
      windowEnd: m.time,
      evidence: [m.eventId],
      figures: [{ name: 'amount', value: m.amount.toString(), op: '>=', threshold: thr.toString(), unit: minor(m.currency) }],
      summary: `${m.subject} moved ${money(m.amount, m.currency)} ${m.dir}, at or above the reporting threshold of ${money(thr, m.currency)}`,
    }),
  ];
}

function structuring(rule: RuleOf<'structuring'>, i: EvaluationInput): AlertCandidate[] {
  const m = i.movement;
  const thr = i.rules.amount(rule.threshold, m.currency);
  if (thr === undefined) return [];
  const floor = thr - (thr * BigInt(rule.nearBelow)) / 10_000n;
  const near = (e: { amount: bigint; dir: 'in' | 'out' }) => e.amount >= floor && e.amount < thr && dirOk(e.dir, rule.direction);
  if (!near(m)) return [];
  const entries = inScope(rule, i.state.window).filter(near);
  for (const w of windowsContaining(entries, m.time, rule.window)) {
    const total = sum(w.entries);
    if (w.entries.length >= rule.minCount && total >= thr) {
      return [
        candidate(rule, i.rules, m, {
          windowStart: w.start,
          windowEnd: w.entries[w.entries.length - 1]!.time,
          evidence: w.entries.map((e) => e.eventId),
          figures: [
            { name: 'movements just below the threshold', value: String(w.entries.length), op: '>=', threshold: String(rule.minCount), unit: 'count' },
            { name: 'their total', value: total.toString(), op: '>=', threshold: thr.toString(), unit: minor(m.currency) },
            { name: 'each movement', value: `[${floor}, ${thr})`, op: 'in', threshold: `${rule.nearBelow} bps below ${thr}`, unit: minor(m.currency) },
          ],
          summary: `${m.subject}: ${w.entries.length} movements just below ${money(thr, m.currency)} within ${rule.window} ms total ${money(total, m.currency)}`,
        }),
      ];
    }
  }
  return [];
}

function passThrough(rule: RuleOf<'pass_through'>, i: EvaluationInput): AlertCandidate[] {
  const m = i.movement;
  const min = i.rules.amount(rule.minAmount, m.currency);
  if (min === undefined) return [];
  // Not monotonic (one more deposit lowers the share moved out): every window [s, e] around the
  // movement that starts and ends at a movement is a candidate, over the movements nearest to it.
  const entries = inScope(rule, i.state.window).filter((e) => Math.abs(e.time - m.time) <= rule.window);
  if (!entries.some((e) => e.dir === 'in') || !entries.some((e) => e.dir === 'out')) return [];
  const near =
    entries.length > 200
      ? [...entries]
          .sort((a, b) => Math.abs(a.time - m.time) - Math.abs(b.time - m.time))
          .slice(0, 200)
          .sort(byTime)
      : entries;
  const starts = [...new Set(near.filter((e) => e.time <= m.time).map((e) => e.time))];
  const ends = [...new Set(near.filter((e) => e.time >= m.time).map((e) => e.time))];
  const windows = starts.flatMap((s) => ends.filter((e) => e - s <= rule.window).map((e) => ({ start: s, entries: near.filter((x) => x.time >= s && x.time <= e) })));
  for (const w of windows) {
    const ins = w.entries.filter((e) => e.dir === 'in');
    if (ins.length === 0) continue;
    const firstIn = ins[0]!.time;
    const outs = w.entries.filter((e) => e.dir === 'out' && e.time >= firstIn);
    const inTotal = sum(ins);
    const outTotal = sum(outs);
    if (outs.length > 0 && inTotal >= min && outTotal * 10_000n >= inTotal * BigInt(rule.minOutShare)) {
      const all = [...ins, ...outs].sort(byTime);
      return [
        candidate(rule, i.rules, m, {
          windowStart: all[0]!.time,
          windowEnd: all[all.length - 1]!.time,
          evidence: all.map((e) => e.eventId),
          figures: [
            { name: 'value in', value: inTotal.toString(), op: '>=', threshold: min.toString(), unit: minor(m.currency) },
            { name: 'share moved out again', value: String((outTotal * 10_000n) / inTotal), op: '>=', threshold: String(rule.minOutShare), unit: 'bps' },
            { name: 'value out', value: outTotal.toString(), op: '>=', threshold: ((inTotal * BigInt(rule.minOutShare)) / 10_000n).toString(), unit: minor(m.currency) },
          ],
          summary: `${m.subject} received ${money(inTotal, m.currency)} and moved ${money(outTotal, m.currency)} out within ${rule.window} ms`,
        }),
      ];
    }
  }
  return [];
}

function velocity(rule: RuleOf<'velocity'>, i: EvaluationInput): AlertCandidate[] {
  const m = i.movement;
  if (!dirOk(m.dir, rule.direction)) return [];
  // All movements of the subject at its scope: the baseline aggregates do not know sources.
  const current = i.state.window.filter((e) => dirOk(e.dir, rule.direction) && e.time > m.time - rule.period && e.time <= m.time).sort(byTime);
  const n = BigInt(current.length);
  const v = sum(current);
  const b = Math.floor(m.time / rule.period);
  let baseN = 0n;
  let baseV = 0n;
  for (let k = b - 1 - rule.baselinePeriods; k <= b - 2; k++) {
    for (const d of rule.direction === 'any' ? (['in', 'out'] as const) : [rule.direction]) {
      const agg = i.state.buckets.get(`${rule.period}:${k}:${d}`);
      if (agg) {
        baseN += agg.n;
        baseV += agg.v;
      }
    }
  }
  if (rule.requireBaseline && baseN === 0n) return [];
  const periods = BigInt(rule.baselinePeriods);
  const factor100 = parseDecimalToMinor(rule.factor, 2);
  const minValue = i.rules.amount(rule.minValue, m.currency);
  const countHit = rule.minCount !== undefined && n >= BigInt(rule.minCount) && n * periods * 100n > factor100 * baseN;
  const valueHit = minValue !== undefined && v >= minValue && v * periods * 100n > factor100 * baseV;
  if (!countHit && !valueHit) return [];
  const figures: Figure[] = [];
  if (rule.minCount !== undefined) {
    figures.push({ name: 'movements in the period', value: n.toString(), op: '>=', threshold: String(rule.minCount), unit: 'count' });
    figures.push({ name: 'movements vs baseline mean × factor', value: n.toString(), op: '>', threshold: `${baseN}/${periods} × ${rule.factor}`, unit: 'count' });
  }
  if (minValue !== undefined) {
    figures.push({ name: 'value in the period', value: v.toString(), op: '>=', threshold: minValue.toString(), unit: minor(m.currency) });
    figures.push({ name: 'value vs baseline mean × factor', value: v.toString(), op: '>', threshold: `${baseV}/${periods} × ${rule.factor}`, unit: minor(m.currency) });
  }
  return [
    candidate(rule, i.rules, m, {
      windowStart: m.time - rule.period,
      windowEnd: m.time,
      evidence: current.slice(-200).map((e) => e.eventId),
      figures,
      summary: `${m.subject}: ${n} movements worth ${money(v, m.currency)} in ${rule.period} ms against a baseline of ${baseN} movements worth ${money(baseV, m.currency)} over ${periods} periods`,
    }),
  ];
}

const MEASURE_NAMES = { volume: 'value', count: 'movements', new_counterparties: 'new counterparties' } as const;

function peerSegment(rule: RuleOf<'peer_segment'>, i: EvaluationInput): AlertCandidate[] {
  const m = i.movement;
  if (!dirOk(m.dir, rule.direction) || !rule.currencies.includes(m.currency)) return [];
  const spec = segmentSpecOf(rule);
  const segment = i.segment ?? DEFAULT_SEGMENT;
  // Nothing computed for the segment yet (or too few peers): the rule waits.
  const pct = i.data?.get(segmentPercentileKey(spec, segment, m.currency));
  if (pct === undefined) return [];
  const { value, evidence } = periodMeasure(i.state.window, m.time, spec);
  const floor = rule.measure === 'volume' ? i.rules.amount(rule.minValue, m.currency) : rule.minCount === undefined ? undefined : BigInt(rule.minCount);
  const factor100 = parseDecimalToMinor(rule.factor, 2);
  if (value * 100n <= pct * factor100 || (floor !== undefined && value < floor)) return [];
  const unit = rule.measure === 'volume' ? minor(m.currency) : 'count';
  const show = (v: bigint) => (rule.measure === 'volume' ? money(v, m.currency) : v.toString());
  const figures: Figure[] = [
    {
      name: `${MEASURE_NAMES[rule.measure]} in the period vs the ${segment} segment's p${rule.segmentPercentile}${rule.factor === '1' ? '' : ` × ${rule.factor}`}`,
      value: value.toString(),
      op: '>',
      threshold: rule.factor === '1' ? pct.toString() : `${pct} × ${rule.factor}`,
      unit,
    },
  ];
  if (floor !== undefined) figures.push({ name: `${MEASURE_NAMES[rule.measure]} in the period`, value: value.toString(), op: '>=', threshold: floor.toString(), unit });
  return [
    candidate(rule, i.rules, m, {
      windowStart: m.time - rule.period,
      windowEnd: m.time,
      evidence: evidence.slice(-200).map((e) => e.eventId),
      figures,
      summary: `${m.subject} (segment ${segment}): ${MEASURE_NAMES[rule.measure]} ${show(value)} in ${rule.period} ms, above the segment's ${rule.segmentPercentile}th percentile of ${show(pct)}`,
    }),
  ];
}

function fan(rule: RuleOf<'fan_out'> | RuleOf<'fan_in'>, i: EvaluationInput): AlertCandidate[] {
  const m = i.movement;
  const dir = rule.type === 'fan_out' ? 'out' : 'in';
  if (m.dir !== dir || m.counterparty === '') return [];
  const minTotal = i.rules.amount(rule.minTotal, m.currency);
  const entries = inScope(rule, i.state.window).filter((e) => e.dir === dir && e.counterparty !== '');
  for (const w of windowsContaining(entries, m.time, rule.window)) {
    const parties = new Set(w.entries.map((e) => e.counterparty));
    const total = sum(w.entries);
    if (parties.size >= rule.minCounterparties && (minTotal === undefined || total >= minTotal)) {
      const figures: Figure[] = [
        { name: `distinct counterparties ${dir === 'out' ? 'paid' : 'paying'}`, value: String(parties.size), op: '>=', threshold: String(rule.minCounterparties), unit: 'count' },
      ];
      if (minTotal !== undefined) figures.push({ name: 'total', value: total.toString(), op: '>=', threshold: minTotal.toString(), unit: minor(m.currency) });
      return [
        candidate(rule, i.rules, m, {
          windowStart: w.start,
          windowEnd: w.entries[w.entries.length - 1]!.time,
          evidence: w.entries.map((e) => e.eventId),
          figures,
          summary: `${m.subject} ${dir === 'out' ? 'sent to' : 'received from'} ${parties.size} distinct counterparties (${money(total, m.currency)}) within ${rule.window} ms`,
        }),
      ];
    }
  }
  return [];
}

function dormant(rule: RuleOf<'dormant'>, i: EvaluationInput): AlertCandidate[] {
  const m = i.movement;
  const thr = i.rules.amount(rule.threshold, m.currency);
  const prev = i.state.previousActivity;
  if (thr === undefined || prev === null || m.amount < thr || m.time - prev < rule.dormancy) return [];
  return [
    candidate(rule, i.rules, m, {
      windowStart: prev,
      windowEnd: m.time,
      evidence: [m.eventId],
      figures: [
        { name: 'silence before the movement', value: String(m.time - prev), op: '>=', threshold: String(rule.dormancy), unit: 'ms' },
        { name: 'amount', value: m.amount.toString(), op: '>=', threshold: thr.toString(), unit: minor(m.currency) },
      ],
      summary: `${m.subject} was silent for ${Math.floor((m.time - prev) / 86_400_000)} days, then moved ${money(m.amount, m.currency)} ${m.dir}`,
    }),
  ];
}

function watchlist(rule: RuleOf<'watchlist'>, i: EvaluationInput): AlertCandidate[] {
  const m = i.movement;
  const listed = [...new Set([m.subject, m.counterparty, ...m.touches])].filter((x) => x !== '' && i.watchlist.has(x.toLowerCase()));
  return listed.map((id) =>
    candidate(rule, i.rules, m, {
      subject: id,
      subjectKey: subjectKeyOf(m.scope, id, m.currency),
      windowStart: m.time,
      windowEnd: m.time,
      evidence: [m.eventId],
      figures: [{ name: 'party on the watch list', value: id, op: 'in', threshold: 'watch list', unit: 'list' }],
      summary: `${money(m.amount, m.currency)} ${m.kind} touching watch-listed ${id}`,
    }),
  );
}

interface Edge {
  from: string;
  to: string;
  time: number;
  amount: bigint;
  eventId: string;
}

function cycle(rule: RuleOf<'cycle'>, i: EvaluationInput): AlertCandidate[] {
  const m = i.movement;
  if (m.dir !== 'out' || m.counterparty === '' || m.kind !== 'transfer' || m.source !== 'chain') return [];
  const min = i.rules.amount(rule.minAmount, m.currency);
  if (min === undefined) return [];
  const key = (node: string) => subjectKeyOf(m.scope, node, m.currency);
  const outEdges = (node: string): Edge[] => {
    const w = i.windowOf?.(key(node)) ?? [];
    return [...w]
      .filter((e) => e.dir === 'out' && e.counterparty !== '' && e.kind === 'transfer' && e.source === 'chain' && Math.abs(e.time - m.time) <= rule.window)
      .sort(byTime)
      .map((e) => ({ from: node, to: e.counterparty, time: e.time, amount: e.amount, eventId: e.eventId }));
  };
  const start: Edge = { from: m.subject, to: m.counterparty, time: m.time, amount: m.amount, eventId: m.eventId };
  let budget = 10_000;
  const found = (edges: Edge[]): AlertCandidate | null => {
    // The cycle is valid if some rotation is in time order: that rotation starts at the origin.
    for (let r = 0; r < edges.length; r++) {
      const seq = [...edges.slice(r), ...edges.slice(0, r)];
      if (!seq.every((e, k) => k === 0 || e.time >= seq[k - 1]!.time)) continue;
      const first = seq[0]!;
      const last = seq[seq.length - 1]!;
      if (last.time - first.time > rule.window || first.amount < min) continue;
      if (last.amount * 10_000n < first.amount * BigInt(rule.minReturnShare)) continue;
      const path = [...seq.map((e) => e.from), first.from].join(' → ');
      return candidate(rule, i.rules, m, {
        subject: first.from,
        subjectKey: key(first.from),
        windowStart: first.time,
        windowEnd: last.time,
        bucketTime: first.time,
        evidence: seq.map((e) => e.eventId),
        figures: [
          { name: 'hops back to the origin', value: String(seq.length), op: 'in', threshold: `[${rule.minDepth}, ${rule.maxDepth}]`, unit: 'count' },
          { name: 'value sent out', value: first.amount.toString(), op: '>=', threshold: min.toString(), unit: minor(m.currency) },
          { name: 'share returned', value: String((last.amount * 10_000n) / first.amount), op: '>=', threshold: String(rule.minReturnShare), unit: 'bps' },
          { name: 'time to return', value: String(last.time - first.time), op: '<=', threshold: String(rule.window), unit: 'ms' },
        ],
        summary: `value returned to ${first.from} through ${path}: ${money(first.amount, m.currency)} out, ${money(last.amount, m.currency)} back`,
      });
    }
    return null;
  };
  const dfs = (edges: Edge[], visited: Set<string>): AlertCandidate | null => {
    const at = edges[edges.length - 1]!.to;
    for (const e of outEdges(at)) {
      if (--budget < 0) return null;
      if (e.to === start.from) {
        if (edges.length + 1 >= rule.minDepth) {
          const c = found([...edges, e]);
          if (c) return c;
        }
      } else if (!visited.has(e.to) && edges.length + 1 < rule.maxDepth) {
        visited.add(e.to);
        const c = dfs([...edges, e], visited);
        visited.delete(e.to);
        if (c) return c;
      }
    }
    return null;
  };
  const c = dfs([start], new Set([start.from, start.to]));
  return c ? [c] : [];
}

/** Every alert the rules raise on this movement (rules of its scope that read its source). */
export function evaluateMovement(i: EvaluationInput): AlertCandidate[] {
  const out: AlertCandidate[] = [];
  for (const rule of i.rules.rules) {
    if (rule.scope !== i.movement.scope || !rule.sources.includes(i.movement.source)) continue;
    out.push(...evaluateRule(rule, i));
  }
  return out;
}

export function evaluateRule(rule: Rule, i: EvaluationInput): AlertCandidate[] {
  switch (rule.type) {
    case 'large_value':
      return largeValue(rule, i);
    case 'structuring':
      return structuring(rule, i);
    case 'pass_through':
      return passThrough(rule, i);
    case 'velocity':
      return velocity(rule, i);
    case 'fan_out':
    case 'fan_in':
      return fan(rule, i);
    case 'cycle':
      return cycle(rule, i);
    case 'watchlist':
      return watchlist(rule, i);
    case 'dormant':
      return dormant(rule, i);
    case 'peer_segment':
      return peerSegment(rule, i);
  }
}

/** Nodes whose windows a cycle search from this movement may read, level by level (for prefetching). */
export function cycleRulesOf(rules: RuleSet, m: Movement): RuleOf<'cycle'>[] {
  return rules.rules.filter(
    (r): r is RuleOf<'cycle'> => r.type === 'cycle' && r.scope === m.scope && r.sources.includes(m.source) && m.dir === 'out' && m.counterparty !== '' && m.kind === 'transfer' && m.source === 'chain',
  );
}
