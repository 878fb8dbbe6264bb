/**
 * The AML rule file: versioned data, validated with zod at start and on every reload. Thresholds
 * are decimal strings in units of the currency, per currency code or `'*'` (an integer number of
 * major units, "the equivalent of 10,000 in the currency"); they are parsed exactly into minor
 * units with the currency's ISO 4217 exponent, never through a float. Durations are milliseconds
 * or strings such as `90s`, `30m`, `24h`, `7d`; shares are `'80%'` or basis points (`8000`).
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z, ZodError } from 'zod';
import { freeTextString, identifierString } from '../config/schema.js';
import { currencyExponent } from '../domain/currencies.js';
import { MAX_IDENTIFIER_LENGTH, preview } from '../domain/inputBounds.js';
import { parseDecimalToMinor } from '../domain/money.js';
import { ConfigError } from '../lib/errors.js';
import type { AmlScope, AmlSource } from './types.js';
import { durationMs } from '../config/duration.js';
import { SEGMENT_MEASURES, segmentPercentileKey, type SegmentPercentileSpec } from './segments.js';

/** Windows and periods: the same duration forms as the configuration (src/config/duration.ts). */
export const duration = durationMs();

/** '80%' → 8000 bps; 8000 → 8000 bps; '0.8' → 8000 bps. */
export const share = z.union([z.number().int().min(0).max(10_000), z.string().regex(/^\d+(\.\d+)?%?$/, "must be like '80%' or a number of basis points")]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  const bps = v.endsWith('%') ? Number(parseDecimalToMinor(v.slice(0, -1), 2)) : Number(parseDecimalToMinor(v, 4));
  if (bps > 10_000) ctx.addIssue({ code: 'custom', message: 'must be at most 100%' });
  return bps;
});

const decimalText = z.union([z.string().regex(/^\d+(\.\d+)?$/, 'must be a non-negative decimal such as "10000.00"'), z.number().int().nonnegative()]).transform((v) => String(v));

/**
 * A threshold from data: the given percentile of the currency's booked posting amounts over the
 * last `over`, recomputed on a schedule (src/jobs/amountPercentiles.ts), never below `floor`.
 */
const percentileEntry = z
  .object({
    percentile: z.number().min(50).max(99.99),
    over: duration.default(30 * 86_400_000),
    floor: decimalText.optional(),
  })
  .strict();
export type PercentileEntry = z.infer<typeof percentileEntry>;

/**
 * Amounts per currency code (exact decimals at its exponent, or a percentile of the currency's
 * amounts) or '*' (whole major units).
 */
export const amountTable = z.record(z.string(), z.union([decimalText, percentileEntry])).superRefine((t, ctx) => {
  for (const [code, entry] of Object.entries(t)) {
    if (code !== '*' && !/^[A-Z]{3}$/.test(code)) {
      // Named by a preview, not by the path: a key is free text until checked.
      ctx.addIssue({ code: 'custom', message: `key ${preview(code)} must be '*' or an ISO 4217 code such as USD` });
      continue;
    }
    if (code === '*') {
      if (typeof entry !== 'string' || !/^\d+$/.test(entry)) ctx.addIssue({ code: 'custom', path: [code], message: "'*' must be a whole number of major units" });
      continue;
    }
    const text = typeof entry === 'string' ? entry : entry.floor;
    if (text === undefined) continue;
    try {
      parseDecimalToMinor(text, currencyExponent(code));
    } catch (e) {
      ctx.addIssue({ code: 'custom', path: typeof entry === 'string' ? [code] : [code, 'floor'], message: (e as Error).message });
    }
  }
});
export type AmountTable = z.infer<typeof amountTable>;

/** One percentile of one currency's booked posting amounts over a period. */
export interface PercentileSpec {
  currency: string;
  percentile: number;
  overMs: number;
}
/** Computed percentiles in minor units, by `percentileKey`. */
export type PercentileValues = ReadonlyMap<string, bigint>;
export const percentileKey = (currency: string, percentile: number, overMs: number) => `${currency}|${percentile}|${overMs}`;

const scope = z.enum(['customer', 'wallet', 'currency']);
const source = z.enum(['bank', 'chain']);
const direction = z.enum(['in', 'out', 'any']);

const base = {
  id: z
    .string()
    .max(MAX_IDENTIFIER_LENGTH, `at most ${MAX_IDENTIFIER_LENGTH} characters`)
    .regex(/^[a-z0-9][a-z0-9_.-]*$/, 'lower-case letters, digits, . _ -'),
  enabled: z.boolean().default(true),
  /** One line of text (a YAML folded `>` block's trailing newline is trimmed). */
  description: z
    .string()
    .transform((d) => d.trim())
    .pipe(freeTextString())
    .default(''),
  severity: z.enum(['low', 'medium', 'high', 'critical']).default('medium'),
  scope: scope.default('customer'),
  sources: z.array(source).min(1).optional(),
  /** One alert per rule and subject within this event-time distance. */
  suppress: duration.default(86_400_000),
  /**
   * The same rule at longer (or shorter) time scales: each entry a window with the thresholds
   * that fit it, run as a rule of its own, id `<id>@<window>` (fan patterns whose counterparties
   * arrive over weeks are invisible to a one-day window; a 30-day count needs another threshold).
   */
  scales: z
    .array(
      z
        .object({
          window: duration,
          minCounterparties: z.number().int().min(2).optional(),
          minCount: z.number().int().min(2).optional(),
          minTotal: amountTable.optional(),
          threshold: amountTable.optional(),
          minAmount: amountTable.optional(),
          suppress: duration.optional(),
        })
        .strict(),
    )
    .max(6)
    .optional(),
};

/** Which fields a scale of each windowed rule type may set (its window always). */
const SCALE_FIELDS: Partial<Record<string, readonly string[]>> = {
  structuring: ['window', 'threshold', 'minCount', 'suppress'],
  pass_through: ['window', 'minAmount', 'suppress'],
  fan_out: ['window', 'minCounterparties', 'minTotal', 'suppress'],
  fan_in: ['window', 'minCounterparties', 'minTotal', 'suppress'],
  cycle: ['window', 'minAmount', 'suppress'],
};

/** `7d`, `12h`, `90m`, or ms: the label of a scale in its rule id. */
export function windowLabel(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
  ] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

export const ruleSchema = z.discriminatedUnion('type', [
  z.object({ ...base, type: z.literal('large_value'), threshold: amountTable, direction: direction.default('any') }),
  z.object({
    ...base,
    type: z.literal('structuring'),
    threshold: amountTable,
    window: duration.default(86_400_000),
    /** How far below the threshold a movement still counts as "just below". */
    nearBelow: share.default(2_000),
    minCount: z.number().int().min(2).default(3),
    direction: direction.default('in'),
  }),
  z.object({
    ...base,
    type: z.literal('pass_through'),
    window: duration.default(86_400_000),
    minAmount: amountTable,
    /** Share of what came in that went out again. */
    minOutShare: share.default(8_000),
  }),
  z
    .object({
      ...base,
      type: z.literal('velocity'),
      period: duration.default(86_400_000),
      baselinePeriods: z.number().int().min(1).max(366).default(14),
      /** Current period vs the mean of the baseline periods: a decimal factor such as 5 or "2.5". */
      factor: decimalText.default('5'),
      minCount: z.number().int().positive().optional(),
      minValue: amountTable.optional(),
      direction: direction.default('any'),
      /** A subject with no movement in its baseline periods has no baseline to exceed (new customers). */
      requireBaseline: z.boolean().default(true),
    })
    .refine((r) => r.minCount !== undefined || r.minValue !== undefined, 'velocity needs an absolute floor: minCount and/or minValue'),
  z.object({ ...base, type: z.literal('fan_out'), window: duration.default(86_400_000), minCounterparties: z.number().int().min(2).default(10), minTotal: amountTable.optional() }),
  z.object({ ...base, type: z.literal('fan_in'), window: duration.default(86_400_000), minCounterparties: z.number().int().min(2).default(10), minTotal: amountTable.optional() }),
  z.object({
    ...base,
    type: z.literal('cycle'),
    window: duration.default(7 * 86_400_000),
    minDepth: z.number().int().min(2).max(4).default(2),
    maxDepth: z.number().int().min(2).max(4).default(4),
    minAmount: amountTable,
    minReturnShare: share.default(5_000),
  }),
  z.object({
    ...base,
    type: z.literal('peer_segment'),
    /** The customer's period ending at the movement, and the peers' period ending when the job ran. */
    period: duration.default(30 * 86_400_000),
    measure: z.enum(SEGMENT_MEASURES).default('volume'),
    direction: direction.default('any'),
    /** Percentile of the measure among the active customers of the customer's segment. */
    segmentPercentile: z.number().min(50).max(99.99),
    /** Currencies whose segment percentiles are computed (windows never mix currencies). */
    currencies: z
      .array(z.string().regex(/^[A-Z]{3}$/, 'an ISO 4217 code such as EUR'))
      .min(1)
      .max(20),
    /** Fewer active customers in the segment than this: no percentile, the rule waits. */
    minPeers: z.number().int().min(1).default(20),
    /** Alert above percentile × factor: a decimal such as 1 or "1.5". */
    factor: decimalText.default('1'),
    /** `new_counterparties`: a counterparty with no movement in this long before the period is new. */
    history: duration.default(30 * 86_400_000),
    /** Absolute floors: a volume at least `minValue`, a count (or new counterparties) at least `minCount`. */
    minValue: amountTable.optional(),
    minCount: z.number().int().positive().optional(),
  }),
  z.object({ ...base, type: z.literal('watchlist'), suppress: duration.default(0) }),
  z.object({ ...base, type: z.literal('dormant'), dormancy: duration.default(90 * 86_400_000), threshold: amountTable }),
]);

const points = z.number().int().min(0).max(1_000_000);

/** The period risk score (src/aml/risk): graph typologies on the rolling transfer graph, weighted per customer. */
export const riskSchema = z.object({
  /** Length of the period scored (the transfer graph covers it; windows keep at least this much). */
  period: duration.default(30 * 86_400_000),
  /** Currency whose transfers form the graph (one graph per currency). */
  currency: z.string().regex(/^[A-Z]{3}$/),
  fanMinCounterparties: z.number().int().min(2).default(4),
  gatherScatterMinIn: z.number().int().min(1).default(2),
  gatherScatterMinOut: z.number().int().min(1).default(2),
  scatterGatherMinMiddles: z.number().int().min(2).default(3),
  cycleMinLength: z.number().int().min(3).max(20).default(3),
  cycleMaxLength: z.number().int().min(3).max(20).default(10),
  /** Value roughly holds along a loop: its smallest hop is at least this share of its largest. */
  cycleMinHopShare: share.default(1_000),
  cycleMaxRecurringHops: z.number().int().min(0).max(3).default(1),
  cycleSearchBudget: z.number().int().positive().default(100_000),
  /** Detect bipartite and stack layering (src/aml/graph/layering.ts); false: the five typologies before them. */
  layering: z.boolean().default(true),
  /** A layer node collects from at least this many one-off payers… */
  layerMinIn: z.number().int().min(2).default(2),
  /** …and passes value on to at least this many one-off payees… */
  layerMinOut: z.number().int().min(2).default(2),
  /** …within this long of its first collection… */
  layerWindow: duration.default(14 * 86_400_000),
  /** …holding value: what it passes on is at least this share of what it collected, and vice versa. */
  layerMinHeldShare: share.default(8_000),
  /** Payers and payees with more one-off counterparties than this link no layering group (hubs are fans). */
  layerMaxDegree: z.number().int().min(2).default(50),
  /** Intermediaries sharing payers and payees that make a bipartite layering group. */
  bipartiteMinMiddles: z.number().int().min(2).default(2),
  /** Bipartite groups in succession that make a stack. */
  stackMinLayers: z.number().int().min(2).default(2),
  /** Steps allowed to grouping and stacking (bounds the cost on dense graphs). */
  layerSearchBudget: z.number().int().positive().default(100_000),
  weights: z
    .object({
      fan_in: points.default(40),
      fan_out: points.default(40),
      cycle: points.default(60),
      scatter_gather: points.default(60),
      gather_scatter: points.default(60),
      bipartite: points.default(60),
      stack: points.default(80),
    })
    .default({ fan_in: 40, fan_out: 40, cycle: 60, scatter_gather: 60, gather_scatter: 60, bipartite: 60, stack: 80 }),
  /** Share of a pattern's weight each non-anchor member gets. */
  memberShare: share.default(7_000),
  /**
   * A fan's members get `memberShare` scaled by the hub's one-off share on the fan's side (a
   * one-off payer of a business whose payers mostly recur is likely a new customer, not a mule).
   */
  fanMembersByHubFreshShare: z.boolean().default(true),
  freshEdgePoints: points.default(5),
  freshSharePoints: points.default(40),
  alertThreshold: points.default(50),
  escalateThreshold: points.default(100),
  /** Only customers anchoring a pattern are alerted (members are ranked, not alerted). */
  alertAnchorsOnly: z.boolean().default(true),
});
export type RiskSection = z.infer<typeof riskSchema>;

export const ruleFileSchema = z
  .object({
    /** Recorded on every alert raised under this file. */
    version: z.union([identifierString(), z.number()]).transform(String),
    /** Bank transaction types that are movements (fees and reversals are not, by default). */
    bankTxTypes: z.array(z.enum(['deposit', 'withdrawal', 'transfer', 'fee', 'reversal'])).default(['deposit', 'withdrawal', 'transfer']),
    /** How late (event time) a movement may arrive and still find the window state it belongs to. */
    allowedLateness: duration.default(30 * 86_400_000),
    /** At most this many movements of one subject are read per evaluation (the latest). */
    maxWindowEvents: z.number().int().positive().default(2_000),
    rules: z.array(ruleSchema).default([]),
    /** Optional per-customer period risk score (graph typologies); absent: not computed. */
    risk: riskSchema.optional(),
  })
  .superRefine((f, ctx) => {
    const seen = new Set<string>();
    f.rules.forEach((r, i) => {
      if (seen.has(r.id)) ctx.addIssue({ code: 'custom', path: ['rules', i, 'id'], message: `duplicate rule id ${r.id}` });
      seen.add(r.id);
      (r.scales ?? []).forEach((sc, j) => {
        const allowed = SCALE_FIELDS[r.type];
        if (!allowed) {
          ctx.addIssue({ code: 'custom', path: ['rules', i, 'scales'], message: `a ${r.type} rule has no window to scale` });
          return;
        }
        for (const k of Object.keys(sc)) if (!allowed.includes(k)) ctx.addIssue({ code: 'custom', path: ['rules', i, 'scales', j, k], message: `a ${r.type} rule's scale sets ${allowed.join(', ')}` });
        if ('window' in r && sc.window === r.window) ctx.addIssue({ code: 'custom', path: ['rules', i, 'scales', j, 'window'], message: `the rule itself runs at ${windowLabel(sc.window)}` });
        const id = `${r.id}@${windowLabel(sc.window)}`;
        if (seen.has(id)) ctx.addIssue({ code: 'custom', path: ['rules', i, 'scales', j, 'window'], message: `duplicate rule id ${id}` });
        seen.add(id);
      });
      if (r.type === 'cycle' && r.minDepth > r.maxDepth) ctx.addIssue({ code: 'custom', path: ['rules', i], message: 'minDepth > maxDepth' });
      if (r.type === 'cycle' && r.scope === 'currency') ctx.addIssue({ code: 'custom', path: ['rules', i, 'scope'], message: 'a cycle needs customer or wallet scope' });
      if ((r.type === 'fan_out' || r.type === 'fan_in') && r.scope === 'currency') ctx.addIssue({ code: 'custom', path: ['rules', i, 'scope'], message: 'fan-out/in needs customer or wallet scope' });
      if (r.type === 'peer_segment' && r.scope !== 'customer')
        ctx.addIssue({ code: 'custom', path: ['rules', i, 'scope'], message: 'a segment belongs to a customer: peer_segment needs customer scope' });
      if (r.type === 'peer_segment' && r.minValue !== undefined && r.measure !== 'volume')
        ctx.addIssue({ code: 'custom', path: ['rules', i, 'minValue'], message: `minValue floors a volume; a ${r.measure} rule takes minCount` });
      if (r.type === 'peer_segment' && r.minCount !== undefined && r.measure === 'volume')
        ctx.addIssue({ code: 'custom', path: ['rules', i, 'minCount'], message: 'minCount floors a count; a volume rule takes minValue' });
      if (r.scope === 'wallet' && r.sources?.includes('bank')) ctx.addIssue({ code: 'custom', path: ['rules', i, 'sources'], message: 'a wallet scope sees chain events only' });
    });
    if (f.risk && f.risk.cycleMinLength > f.risk.cycleMaxLength) ctx.addIssue({ code: 'custom', path: ['risk'], message: 'cycleMinLength > cycleMaxLength' });
    if (f.risk && f.risk.alertThreshold > f.risk.escalateThreshold) ctx.addIssue({ code: 'custom', path: ['risk'], message: 'alertThreshold > escalateThreshold' });
  });

export type RuleFileInput = z.input<typeof ruleFileSchema>;
export type Rule = z.infer<typeof ruleSchema> & { sources: AmlSource[] };
export type RuleOf<T extends Rule['type']> = Extract<Rule, { type: T }>;

/** A validated rule file, compiled: sources defaulted, thresholds resolvable per currency. */
export interface RuleSet {
  version: string;
  bankTxTypes: ReadonlySet<string>;
  maxWindowEvents: number;
  allowedLatenessMs: number;
  /** Enabled rules only. */
  rules: readonly Rule[];
  /** Scopes some enabled rule needs. */
  scopes: ReadonlySet<AmlScope>;
  /** How far around an event a subject's window is read (the longest rule window). */
  horizonMs: number;
  /** Velocity aggregates kept: bucket size → number of baseline buckets. */
  buckets: ReadonlyMap<number, number>;
  /** The period risk score section, if the file has one. */
  risk: RiskSection | undefined;
  /** Percentiles of posting amounts the rules' thresholds need (computed by src/jobs/amountPercentiles.ts). */
  percentiles: readonly PercentileSpec[];
  /** Segment percentiles the `peer_segment` rules need (computed by the same job). */
  segmentPercentiles: readonly SegmentPercentileSpec[];
  /**
   * Threshold of `table` in minor units of `currency`, or undefined if the table has none for it.
   * A percentile entry reads `data` (the latest computed percentiles) and keeps to its floor.
   */
  amount(table: AmountTable | undefined, currency: string, data?: PercentileValues): bigint | undefined;
}

const DEFAULT_SOURCES: Record<AmlScope, AmlSource[]> = { customer: ['bank', 'chain'], wallet: ['chain'], currency: ['bank', 'chain'] };

export function ruleWindowMs(r: Rule): number {
  switch (r.type) {
    case 'structuring':
    case 'pass_through':
    case 'fan_out':
    case 'fan_in':
    case 'cycle':
      return r.window;
    case 'velocity':
      return r.period;
    case 'peer_segment':
      return r.period + (r.measure === 'new_counterparties' ? r.history : 0);
    default:
      return 0;
  }
}

/** What a `peer_segment` rule measures and which percentile of its segment it compares with. */
export function segmentSpecOf(r: RuleOf<'peer_segment'>): SegmentPercentileSpec {
  return {
    measure: r.measure,
    direction: r.direction,
    sources: r.sources,
    periodMs: r.period,
    historyMs: r.measure === 'new_counterparties' ? r.history : 0,
    currencies: r.currencies,
    percentile: r.segmentPercentile,
    minPeers: r.minPeers,
  };
}

/** Compiles a parsed rule file. */
export function compileRuleSet(parsed: z.infer<typeof ruleFileSchema>): RuleSet {
  // Each scale is a rule of its own: the base rule with the scale's window and thresholds.
  const expanded = parsed.rules.flatMap((r) => {
    const { scales, ...rule } = r;
    const scaled = (scales ?? []).map((sc) => {
      const overrides = Object.fromEntries(Object.entries(sc).filter(([, v]) => v !== undefined));
      return { ...rule, ...overrides, id: `${r.id}@${windowLabel(sc.window)}` } as typeof rule;
    });
    return [rule, ...scaled];
  });
  const rules = expanded.filter((r) => r.enabled).map((r) => ({ ...r, sources: r.sources ?? DEFAULT_SOURCES[r.scope] }) as Rule);
  const buckets = new Map<number, number>();
  for (const r of rules) if (r.type === 'velocity') buckets.set(r.period, Math.max(buckets.get(r.period) ?? 0, r.baselinePeriods));
  const cache = new Map<AmountTable, Map<string, bigint | undefined>>();
  // Every percentile some enabled rule's amount table asks for, once each.
  const percentiles = new Map<string, PercentileSpec>();
  for (const r of rules) {
    for (const v of Object.values(r)) {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) continue;
      for (const [currency, entry] of Object.entries(v as Record<string, unknown>)) {
        if (!/^[A-Z]{3}$/.test(currency) || entry === null || typeof entry !== 'object' || !('percentile' in entry)) continue;
        const e = entry as PercentileEntry;
        percentiles.set(percentileKey(currency, e.percentile, e.over), { currency, percentile: e.percentile, overMs: e.over });
      }
    }
  }
  const segmentSpecs = new Map<string, SegmentPercentileSpec>();
  for (const r of rules) {
    if (r.type !== 'peer_segment') continue;
    const spec = segmentSpecOf(r);
    const key = segmentPercentileKey(spec, '', '');
    const known = segmentSpecs.get(key);
    segmentSpecs.set(key, { ...spec, currencies: [...new Set([...(known?.currencies ?? []), ...spec.currencies])].sort() });
  }
  return {
    version: parsed.version,
    bankTxTypes: new Set(parsed.bankTxTypes),
    maxWindowEvents: parsed.maxWindowEvents,
    allowedLatenessMs: parsed.allowedLateness,
    rules,
    // The risk score reads customer windows: they must exist and reach back one period.
    scopes: new Set([...rules.map((r) => r.scope), ...(parsed.risk ? (['customer'] as const) : [])]),
    horizonMs: Math.max(0, ...rules.map(ruleWindowMs), parsed.risk?.period ?? 0),
    risk: parsed.risk,
    buckets,
    percentiles: [...percentiles.values()],
    segmentPercentiles: [...segmentSpecs.values()],
    amount(table, currency, data) {
      if (!table) return undefined;
      const entry = table[currency];
      if (entry !== undefined && typeof entry !== 'string') {
        // From data: the latest computed percentile, never below the floor; nothing computed yet
        // and no floor: the rule waits.
        let floor: bigint | undefined;
        try {
          floor = entry.floor === undefined ? undefined : parseDecimalToMinor(entry.floor, currencyExponent(currency));
        } catch {
          floor = undefined;
        }
        const computed = data?.get(percentileKey(currency, entry.percentile, entry.over));
        if (computed === undefined) return floor;
        return floor !== undefined && floor > computed ? floor : computed;
      }
      let byCurrency = cache.get(table);
      if (!byCurrency) cache.set(table, (byCurrency = new Map()));
      if (byCurrency.has(currency)) return byCurrency.get(currency);
      let v: bigint | undefined;
      try {
        const exponent = currencyExponent(currency);
        const star = table['*'];
        if (entry !== undefined) v = parseDecimalToMinor(entry, exponent);
        else if (typeof star === 'string') v = BigInt(star) * 10n ** BigInt(exponent);
      } catch {
        v = undefined;
      }
      byCurrency.set(currency, v);
      return v;
    },
  };
}

/** Validates a rule document (already parsed from YAML/JSON); a bad one names each bad field. */
export function parseRuleSet(doc: unknown, origin = 'rule file'): RuleSet {
  try {
    return compileRuleSet(ruleFileSchema.parse(doc));
  } catch (e) {
    if (e instanceof ZodError) {
      const lines = e.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
      throw new ConfigError(`invalid ${origin}: ${lines.join('; ')}`, { cause: e });
    }
    throw e;
  }
}

/** Reads and validates a YAML or JSON rule file. */
export function loadRuleFile(path: string): RuleSet {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read AML rule file ${path}`, { cause: e });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new ConfigError(`AML rule file ${path} is not YAML/JSON: ${(e as Error).message}`, { cause: e });
  }
  return parseRuleSet(doc, `AML rule file ${path}`);
}
