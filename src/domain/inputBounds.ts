/**
 * Validation at the door: the bounds every input must keep before the engine stores or matches
 * it (ledger Avro, chain messages, mapping messages, watch-list updates, rule and config files).
 * Pure, no I/O. Each rule comes twice: `…Problem(value, …)` returns the reason as a sentence
 * (or undefined when the value is fine), for zod refinements and callers that phrase their own
 * error; `check…(field, value, …)` throws a `SchemaViolation` whose message names the field and
 * shows the input (escaped, cut to a preview: a 10,000-character id is not echoed in full).
 *
 * Contracts:
 * - Identifier (entry, account, end-to-end, tokenization and reference ids, wallets in config):
 *   1..`MAX_IDENTIFIER_LENGTH` UTF-16 code units, well-formed Unicode (no lone surrogate: a
 *   string ClickHouse and JSON consumers refuse for good), only letters, marks, digits,
 *   punctuation and symbols, with single ASCII spaces allowed inside but not at either end. So no
 *   control (Cc), format (Cf: zero-width, bidi overrides), private-use or unassigned characters.
 * - Free text (remittance): 0..`MAX_TEXT_LENGTH` code units, well-formed, no control character
 *   at all (not even tab or newline) and no line/paragraph separator.
 * - Timestamp (epoch ms): a safe integer within [earliest, now + skew]; its message formats the
 *   value as a date only when it is one (|t| <= 8.64e15), so formatting can never throw.
 * - Amount (integer minor units): positive and at most the configured plausibility bound of
 *   its currency (default `DEFAULT_MAX_AMOUNT_MINOR`), which may never exceed
 *   `HARD_MAX_AMOUNT_MINOR`, what every downstream store holds for a single amount.
 *
 * "No finer decimals than the currency allows": a bank amount is an Avro long of minor units at
 * the currency's ISO 4217 exponent, so it cannot be finer by construction (and config or rule
 * amounts go through `parseDecimalToMinor`, which refuses extra digits). A token value is base
 * units at the token's decimals; the door does NOT refuse one below a cent: nothing truncates it
 * silently (`minorUnitsKey` keeps the exact fraction for matching, `baseToMinor` reports
 * `exact: false`, AML floors on purpose and says so), and whether 2-decimal cash matches
 * 18-decimal dust is a matching tolerance, not bad input. The door only bounds it to uint256.
 */
import { SchemaViolation } from '../lib/errors.js';

/** Longest identifier, in UTF-16 code units (ISO 20022 ids are at most 35; IBANs 34). */
export const MAX_IDENTIFIER_LENGTH = 128;
/** Longest free text (remittance), in UTF-16 code units (ISO 20022 Ustrd is 140 a line). */
export const MAX_TEXT_LENGTH = 1_024;

/** 2000-01-01T00:00:00Z: no posting this engine reconciles is older. */
export const EARLIEST_POSTING_MS = Date.UTC(2000, 0, 1);
/** 2015-07-30T00:00:00Z: the first block of Ethereum mainnet; no EVM block worth reading is older. */
export const EARLIEST_BLOCK_MS = Date.UTC(2015, 6, 30);
/** Clocks disagree: a business time up to a day ahead of ours is accepted. */
export const MAX_FUTURE_SKEW_MS = 24 * 60 * 60 * 1000;
/** The largest |t| that `new Date(t)` represents (ECMAScript time range). */
const MAX_DATE_MS = 8.64e15;

/**
 * Default plausibility bound of one amount: 10^15 minor units (10 trillion USD, 1 quadrillion
 * JPY). Far above any real posting, and 9,223 of them still fit the int64 that Redis sums with
 * HINCRBY (AML windows), so a single amount can never overflow a sum on its own.
 */
export const DEFAULT_MAX_AMOUNT_MINOR = 10n ** 15n;
/**
 * The ceiling no configured bound may exceed: 10^18 minor units, below Redis' int64 (9.22e18,
 * HINCRBY) and far below ClickHouse's Int128 `amount_minor` and Decimal256(18) discrepancy
 * amounts (58 integer digits). Kept a power of ten under int64 so a few such amounts still sum.
 */
export const HARD_MAX_AMOUNT_MINOR = 10n ** 18n;
/** uint256: the EVM word, and ClickHouse's `value UInt256`. */
export const MAX_UINT256 = 2n ** 256n - 1n;
/** 10^78 > 2^256: a token with more decimals could not hold one whole unit. */
export const MAX_TOKEN_DECIMALS = 77;

const PREVIEW_LENGTH = 40;

/** The value as an operator can read it in a log line: JSON-escaped, cut after 40 code units. */
export function preview(value: string): string {
  return value.length > PREVIEW_LENGTH ? `${JSON.stringify(value.slice(0, PREVIEW_LENGTH))}…` : JSON.stringify(value);
}

function codePoint(value: string, index: number): string {
  return `U+${value.codePointAt(index)!.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** The first lone surrogate's index, or -1. */
function loneSurrogateAt(value: string): number {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = value.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
      else return i;
    } else if (c >= 0xdc00 && c <= 0xdfff) return i;
  }
  return -1;
}

const IDENTIFIER_CHAR = /[\p{L}\p{M}\p{N}\p{P}\p{S} ]/u;
const IDENTIFIER = /^[\p{L}\p{M}\p{N}\p{P}\p{S}](?:[\p{L}\p{M}\p{N}\p{P}\p{S} ]*[\p{L}\p{M}\p{N}\p{P}\p{S}])?$/u;
const TEXT_FORBIDDEN = /[\p{Cc}\u2028\u2029]/u;

function firstOutside(value: string, allowed: RegExp): number {
  let i = 0;
  for (const ch of value) {
    if (!allowed.test(ch)) return i;
    i += ch.length;
  }
  return -1;
}

/** Why `value` is not an identifier of at most `maxLength` code units, or undefined. */
export function identifierProblem(value: unknown, maxLength = MAX_IDENTIFIER_LENGTH): string | undefined {
  if (typeof value !== 'string') return `is not a string (${typeof value})`;
  if (value.length === 0) return 'is empty';
  if (value.length > maxLength) return `is ${value.length} characters long; at most ${maxLength} are allowed`;
  const lone = loneSurrogateAt(value);
  if (lone >= 0) return `is not well-formed Unicode: lone surrogate ${codePoint(value, lone)} at index ${lone}`;
  if (IDENTIFIER.test(value)) return undefined;
  if (value.trim() === '') return 'is blank';
  const bad = firstOutside(value, IDENTIFIER_CHAR);
  if (bad >= 0) return `contains ${codePoint(value, bad)} at index ${bad}, outside letters, digits, punctuation, symbols and inner spaces`;
  return 'starts or ends with a space';
}

/** Why `value` is not free text of at most `maxLength` code units, or undefined. */
export function textProblem(value: unknown, maxLength = MAX_TEXT_LENGTH): string | undefined {
  if (typeof value !== 'string') return `is not a string (${typeof value})`;
  if (value.length > maxLength) return `is ${value.length} characters long; at most ${maxLength} are allowed`;
  const lone = loneSurrogateAt(value);
  if (lone >= 0) return `is not well-formed Unicode: lone surrogate ${codePoint(value, lone)} at index ${lone}`;
  const m = TEXT_FORBIDDEN.exec(value);
  if (m) return `contains control character ${codePoint(value, m.index)} at index ${m.index}`;
  return undefined;
}

/** Epoch ms as an ISO date, or a note that it is none; never throws. */
export function formatEpochMs(t: number): string {
  return Number.isFinite(t) && Math.abs(t) <= MAX_DATE_MS ? new Date(t).toISOString() : 'not a representable date';
}

export interface TimestampRange {
  /** Earliest accepted epoch ms (inclusive). */
  earliestMs: number;
  /** Now, epoch ms: the latest accepted is `nowMs + maxFutureSkewMs` (inclusive). */
  nowMs: number;
  maxFutureSkewMs?: number;
}

/**
 * Why `time` is not a plausible epoch-ms timestamp in `range`, or undefined. Never throws. A
 * bigint (an exact Avro long) is judged exactly, however far out of range.
 */
export function timestampProblem(time: number | bigint, range: TimestampRange): string | undefined {
  if (typeof time === 'bigint' && (time > BigInt(Number.MAX_SAFE_INTEGER) || time < BigInt(Number.MIN_SAFE_INTEGER))) {
    return `${time} (not a representable date) is not a whole number of milliseconds within ±2^53`;
  }
  const t = Number(time);
  if (!Number.isSafeInteger(t)) return `${t} is not a whole number of milliseconds within ±2^53`;
  if (t < range.earliestMs) {
    return `${t} (${formatEpochMs(t)}) is before ${formatEpochMs(range.earliestMs)}; seconds or a zero date were likely sent`;
  }
  const skew = range.maxFutureSkewMs ?? MAX_FUTURE_SKEW_MS;
  if (t > range.nowMs + skew) {
    return `${t} (${formatEpochMs(t)}) is more than ${skew === MAX_FUTURE_SKEW_MS ? 'a day' : `${skew} ms`} after now (${formatEpochMs(range.nowMs)}); microseconds or a wrong date were likely sent`;
  }
  return undefined;
}

/** Plausibility bounds of one amount, in minor units: per currency, else the default. */
export interface AmountLimits {
  defaultMaxMinor: bigint;
  maxMinorByCurrency: ReadonlyMap<string, bigint>;
}

export const DEFAULT_AMOUNT_LIMITS: AmountLimits = Object.freeze({ defaultMaxMinor: DEFAULT_MAX_AMOUNT_MINOR, maxMinorByCurrency: new Map() });

/** Limits from a table of bounds per currency code, `default` for the others (config `limits.maxAmountMinor`). */
export function amountLimitsOf(table: Readonly<Record<string, bigint>>): AmountLimits {
  const byCurrency = new Map(Object.entries(table).filter(([code]) => code !== 'default'));
  return { defaultMaxMinor: table.default ?? DEFAULT_MAX_AMOUNT_MINOR, maxMinorByCurrency: byCurrency };
}

/** The largest amount of `currency` accepted, in minor units. */
export function maxAmountMinorOf(limits: AmountLimits, currency: string): bigint {
  return limits.maxMinorByCurrency.get(currency) ?? limits.defaultMaxMinor;
}

/** Why `bound` cannot be a configured plausibility bound, or undefined. */
export function amountBoundProblem(bound: bigint): string | undefined {
  if (bound <= 0n) return `must be positive, got ${bound}`;
  if (bound > HARD_MAX_AMOUNT_MINOR) return `${bound} exceeds ${HARD_MAX_AMOUNT_MINOR} (10^18), the most a single amount may be for Redis int64 sums`;
  return undefined;
}

/** Why `amountMinor` of `currency` is not a plausible amount, or undefined. */
export function amountProblem(amountMinor: bigint, currency: string, limits: AmountLimits = DEFAULT_AMOUNT_LIMITS): string | undefined {
  if (amountMinor <= 0n) return `is ${amountMinor} minor units; amounts must be positive (the direction carries the sign)`;
  const max = maxAmountMinorOf(limits, currency);
  if (amountMinor > max) return `is ${amountMinor} minor units, above the plausibility bound of ${max} for ${currency} (limits.maxAmountMinor)`;
  return undefined;
}

/** Why `value` is not a uint256 in base units, or undefined. */
export function uint256Problem(value: bigint): string | undefined {
  if (value < 0n) return `is negative (${value})`;
  if (value > MAX_UINT256) return `is ${value}, beyond uint256`;
  return undefined;
}

function fail(what: string, field: string, problem: string): never {
  throw new SchemaViolation(`${what}: ${field} ${problem}.`);
}

/** `value` when it is an identifier, else `SchemaViolation` `"<what>: <field> <reason> (<preview>)"`. */
export function checkIdentifier(what: string, field: string, value: string, maxLength = MAX_IDENTIFIER_LENGTH): string {
  const p = identifierProblem(value, maxLength);
  if (p) fail(what, field, typeof value === 'string' ? `${p} (${preview(value)})` : p);
  return value;
}

/** `t` when it is a plausible timestamp, else `SchemaViolation` naming `field`. Never a RangeError. */
export function checkTimestamp(what: string, field: string, t: number | bigint, range: TimestampRange): number {
  const p = timestampProblem(t, range);
  if (p) fail(what, field, p);
  return Number(t);
}
