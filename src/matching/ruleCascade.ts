/**
 * The cascade as the match script applies it: for one leg, the rules that apply to it (flow,
 * currency, account or group, stage), in file order, each turned into a probe: which index to
 * search (reference or account pool), the exact interval of the counterpart's amount, the largest
 * event-time distance, and what a hit yields. Pure: the amounts are computed here with bigint
 * (src/matching/amountRange.ts); the Lua script only compares decimal strings.
 */
import type { Flow, Side } from '../domain/types.js';
import { bankRangeOfChain, chainRangeOfBank, type Allowance } from '../domain/amountRange.js';
import type { MatchingRule, MatchingRuleSet } from './ruleFile.js';

export interface ProbeLeg {
  side: Side;
  flow: Flow;
  accountId: string;
  currency: string;
  amountKey: string;
}

/** Bound of an empty interval: the rule applies to the leg but no amount meets it. */
const EMPTY = '-';

export interface Probe {
  /** `id@version` of the rule, recorded on the match. */
  rule: string;
  key: 'reference' | 'accountAmount';
  lo: string;
  /** Null: no upper bound. */
  hi: string | null;
  windowMs: number;
  confidence: 'confirmed' | 'proposed';
  outcome: 'match' | 'mismatch';
  split: boolean;
  /** Split search bounds (not sent to Lua). */
  maxLegs: number;
  maxParts: number;
}

export interface CascadeDefaults {
  /** Default window of an arrival rule by account and amount: the matching window plus the allowed lateness. */
  attributeWindowMs: number;
  /** Default window of a rule by reference: the late retention (a shared reference is evidence enough). */
  referenceWindowMs: number;
}

function applies(rule: MatchingRule, leg: ProbeLeg, groups: Record<string, string[]>): boolean {
  if (!rule.flows.includes(leg.flow)) return false;
  if (rule.currencies.length > 0 && !rule.currencies.includes(leg.currency)) return false;
  if (rule.accounts.length === 0) return true;
  return rule.accounts.some((a) => (a.startsWith('@') ? (groups[a.slice(1)] ?? []).includes(leg.accountId) : a === leg.accountId));
}

/** The tolerance and fee a rule allows for a currency. */
export function allowanceOf(rule: MatchingRule, flow: Flow, currency: string): Allowance {
  const fee = rule.fees[currency] ?? rule.fees['*'];
  return {
    absMinor: rule.tolerance.absMinor,
    tolBps: rule.tolerance.bps,
    feeFixedMinor: fee?.fixedMinor ?? 0n,
    feeBps: fee?.bps ?? 0,
    feeLowers: flow === 'deposit' ? 'chain' : 'bank',
  };
}

/** The rules of a rule set that apply to legs of one stage, flow, account and currency (memoised: the hot path asks per leg). */
const applicable = new WeakMap<MatchingRuleSet, Map<string, { rule: MatchingRule; allowance: Allowance; exact: boolean }[]>>();
function rulesFor(rules: MatchingRuleSet, leg: ProbeLeg, stage: 'arrival' | 'expiry') {
  let byKey = applicable.get(rules);
  if (!byKey) applicable.set(rules, (byKey = new Map()));
  const key = `${stage}|${leg.flow}|${leg.currency}|${leg.accountId}`;
  let list = byKey.get(key);
  if (!list) {
    list = rules.rules
      .filter((r) => r.stage === stage && applies(r, leg, rules.accountGroups))
      .map((rule) => {
        const allowance = allowanceOf(rule, leg.flow, leg.currency);
        return { rule, allowance, exact: allowance.absMinor === 0n && allowance.tolBps === 0 && allowance.feeFixedMinor === 0n && allowance.feeBps === 0 };
      });
    // Bounded by the mapped accounts and currencies; a reload brings a new rule set (and map).
    byKey.set(key, list);
  }
  return list;
}

/** The probes of one leg at one stage, in cascade order (rules whose interval is empty are left out). */
export function probesFor(rules: MatchingRuleSet, leg: ProbeLeg, stage: 'arrival' | 'expiry', d: CascadeDefaults): Probe[] {
  const out: Probe[] = [];
  for (const { rule, allowance, exact } of rulesFor(rules, leg, stage)) {
    // Exact: the same amount (a whole one, when the bank side is looked for).
    const range = exact
      ? leg.side === 'chain' && leg.amountKey.includes('.')
        ? null
        : { lo: leg.amountKey, hi: leg.amountKey }
      : leg.side === 'bank'
        ? chainRangeOfBank(leg.amountKey, allowance)
        : bankRangeOfChain(leg.amountKey, allowance);
    // No amount meets it: an account rule is left out; a reference rule stays, with an empty
    // interval, so that a shared reference it applies to is still a mismatch rather than ignored.
    if (!range && rule.key !== 'reference') continue;
    out.push({
      rule: `${rule.id}@${rules.version}`,
      key: rule.key,
      lo: range?.lo ?? EMPTY,
      hi: range ? range.hi : EMPTY,
      windowMs: rule.window ?? (rule.key === 'reference' ? d.referenceWindowMs : d.attributeWindowMs),
      confidence: rule.confidence,
      outcome: rule.outcome,
      split: rule.split,
      maxLegs: rule.maxLegs,
      maxParts: rule.maxParts,
    });
  }
  return out;
}

/**
 * The compact form the Lua scripts read (lib.lua `parseProbes`): probes separated by \x1e, fields
 * by \x1f: rule, key (r|a), lo, hi ('' = unbounded), window ms, confidence (c|p), outcome (m|x), split (0|1).
 * With `amountKey` (the leg's, sent beside the probes), an exact interval on it is written `=` `=`:
 * the probes of legs under the same rules are then one string, which the script parses once per call.
 */
export function encodeProbes(probes: readonly Probe[], amountKey?: string): string {
  return probes
    .map((p) => {
      const exact = amountKey !== undefined && p.lo === amountKey && p.hi === amountKey;
      return [
        p.rule,
        p.key === 'reference' ? 'r' : 'a',
        exact ? '=' : p.lo,
        exact ? '=' : (p.hi ?? ''),
        p.windowMs,
        p.confidence === 'confirmed' ? 'c' : 'p',
        p.outcome === 'match' ? 'm' : 'x',
        p.split ? '1' : '0',
      ].join('\x1f');
    })
    .join('\x1e');
}
