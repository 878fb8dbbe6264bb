/**
 * The matching rule file: an ordered cascade of rules as versioned data, validated with zod at start
 * and on every reload (src/config/watchedFile.ts). Every match records the id and version of the
 * rule that made it. Amounts are integer minor units of the leg's currency (never a float); shares
 * are basis points. See docs/matching-rules.md.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z, ZodError } from 'zod';
import { durationMs } from '../config/duration.js';
import { freeTextString, identifierString } from '../config/schema.js';
import { MAX_IDENTIFIER_LENGTH } from '../domain/inputBounds.js';
import { ConfigError } from '../lib/errors.js';

const bps = z.number().int().min(0).max(10_000);
const minor = z.union([z.number().int().nonnegative(), z.string().regex(/^\d{1,19}$/, 'must be a whole number of minor units')]).transform((v) => BigInt(v));

/** Accepted difference between the two legs: absolute minor units plus a share of the bank amount. */
const tolerance = z.object({
  absMinor: minor.default(0n).describe('Absolute difference allowed, minor units of the currency.'),
  bps: bps.default(0).describe('Relative difference allowed, basis points of the bank amount.'),
});

/** A fee taken between the two books: the later book (the mint of a deposit, the bank payout of a withdrawal) is smaller by up to this. */
const fee = z.object({
  fixedMinor: minor.default(0n).describe('Fixed part of the fee, minor units.'),
  bps: bps.default(0).describe('Proportional part of the fee, basis points of the bank amount.'),
});

export const matchingRuleSchema = z
  .object({
    id: z
      .string()
      .max(MAX_IDENTIFIER_LENGTH, `at most ${MAX_IDENTIFIER_LENGTH} characters`)
      .regex(/^[a-z0-9][a-z0-9_.-]*$/, 'lower-case letters, digits, . _ -'),
    description: z
      .string()
      .transform((d) => d.trim())
      .pipe(freeTextString())
      .default(''),
    enabled: z.boolean().default(true),
    /** When the rule is tried: as a leg arrives, or when its window closes without a counterpart. */
    stage: z.enum(['arrival', 'expiry']).default('arrival'),
    flows: z
      .array(z.enum(['deposit', 'withdrawal']))
      .min(1)
      .default(['deposit', 'withdrawal']),
    /** ISO codes; empty: every currency. */
    currencies: z.array(z.string().regex(/^[A-Z]{3}$/, 'an ISO 4217 code such as USD')).default([]),
    /** Bank accounts, or `@group` names from `accountGroups`; empty: every account. */
    accounts: z.array(identifierString()).default([]),
    /** `reference`: the shared tokenization reference; `accountAmount`: same account and currency, amount within tolerance. */
    key: z.enum(['reference', 'accountAmount']),
    tolerance: tolerance.prefault({}),
    /** Fee schedule per currency code or `*`. */
    fees: z.record(z.string().regex(/^([A-Z]{3}|\*)$/, "an ISO 4217 code or '*'"), fee).default({}),
    /** Largest event-time distance between the two legs; default: the matching window plus lateness (arrival) or the late retention (expiry). */
    window: durationMs(z.number().int().positive()).optional(),
    /** `confirmed`: a match; `proposed`: a proposal an operator confirms or rejects (the legs wait). */
    confidence: z.enum(['confirmed', 'proposed']).default('confirmed'),
    /** `match`: the pair reconciles; `mismatch`: the pair is one AMOUNT_MISMATCH naming both legs (expiry stage only). */
    outcome: z.enum(['match', 'mismatch']).default('match'),
    /**
     * Tranches (reference key, arrival): one leg may be met by several smaller legs of the other side
     * carrying the same reference, each allocated against its remaining amount; what is left when
     * its window closes is PARTIALLY_MATCHED. Search (accountAmount key, expiry): the open legs of
     * the other side of the same account and currency inside the window that add up to the closing
     * leg's amount within the allowance (a bounded subset-sum search).
     */
    split: z.boolean().default(false),
    /** Split search: more open legs than this on the other side, and no search (a recorded reason). */
    maxLegs: z.number().int().min(2).max(16).default(12),
    /** Split search: at most this many legs in one split. */
    maxParts: z.number().int().min(2).max(16).default(4),
  })
  .superRefine((r, ctx) => {
    if (r.outcome === 'mismatch' && r.stage !== 'expiry')
      ctx.addIssue({ code: 'custom', path: ['outcome'], message: 'a mismatch rule pairs legs only when their windows close: stage must be expiry' });
    if (r.split && r.key === 'reference' && r.stage !== 'arrival')
      ctx.addIssue({ code: 'custom', path: ['split'], message: 'tranches by reference are allocated as they arrive: stage must be arrival' });
    if (r.split && r.key === 'accountAmount' && r.stage !== 'expiry')
      ctx.addIssue({ code: 'custom', path: ['split'], message: 'a split without a reference is searched when the window closes: stage must be expiry' });
    if (r.split && r.outcome === 'mismatch') ctx.addIssue({ code: 'custom', path: ['split'], message: 'a split is a match or a proposal, not a mismatch' });
  });

export type MatchingRule = z.output<typeof matchingRuleSchema>;

export const matchingRuleFileSchema = z
  .object({
    /** Recorded on every match made under this file. */
    version: z.union([identifierString(), z.number()]).transform(String),
    accountGroups: z.record(identifierString(), z.array(identifierString()).min(1)).default({}),
    rules: z.array(matchingRuleSchema).min(1),
  })
  .superRefine((f, ctx) => {
    const seen = new Set<string>();
    f.rules.forEach((r, i) => {
      if (seen.has(r.id)) ctx.addIssue({ code: 'custom', path: ['rules', i, 'id'], message: `duplicate rule id ${r.id}` });
      seen.add(r.id);
      r.accounts.forEach((a, j) => {
        if (a.startsWith('@') && !f.accountGroups[a.slice(1)]) ctx.addIssue({ code: 'custom', path: ['rules', i, 'accounts', j], message: `unknown account group ${a}` });
      });
    });
  });

export interface MatchingRuleSet {
  version: string;
  rules: MatchingRule[];
  /** Accounts of each `@group`. */
  accountGroups: Record<string, string[]>;
}

/** Today's behaviour as a rule file: the shared reference, then account + exact amount. */
export const DEFAULT_MATCHING_RULES: MatchingRuleSet = parseMatchingRules({
  version: 'builtin-1',
  rules: [
    { id: 'exact-reference', key: 'reference' },
    { id: 'exact-attributes', key: 'accountAmount' },
  ],
});

/** Validates a rule document (already parsed from YAML/JSON); a bad one names each bad field. */
export function parseMatchingRules(doc: unknown, origin = 'matching rule file'): MatchingRuleSet {
  try {
    const f = matchingRuleFileSchema.parse(doc);
    return { version: f.version, rules: f.rules.filter((r) => r.enabled), accountGroups: f.accountGroups };
  } catch (e) {
    if (e instanceof ZodError) {
      const lines = e.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
      throw new ConfigError(`invalid ${origin}: ${lines.join('; ')}`, { cause: e });
    }
    throw e;
  }
}

/** Reads and validates a YAML or JSON matching rule file. */
export function loadMatchingRules(path: string): MatchingRuleSet {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read matching rule file ${path}`, { cause: e });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new ConfigError(`matching rule file ${path} is not YAML/JSON: ${(e as Error).message}`, { cause: e });
  }
  return parseMatchingRules(doc, `matching rule file ${path}`);
}
