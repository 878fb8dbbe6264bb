/**
 * Exact money arithmetic on bigint. Bank amounts are integer minor units with the currency's
 * ISO 4217 exponent; token amounts are integer base units with the token's decimals. Converting
 * between them is a multiplication or division by a power of ten, and it is either exact or an
 * error: nothing here ever goes through Number or a float.
 *
 * Scales (exponent, decimals) must be integers from 0 to 255; anything else is a programming
 * or configuration bug and throws `RangeError`. Amounts that cannot be represented exactly are
 * bad input and throw `SchemaViolation`.
 */
import { SchemaViolation } from '../lib/errors.js';

/** ERC-20 `decimals()` is a uint8, and no ISO 4217 exponent comes close. */
const MAX_SCALE = 255;

function assertScale(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > MAX_SCALE) {
    throw new RangeError(`${name} must be an integer from 0 to ${MAX_SCALE}, got ${value}`);
  }
}

function pow10(n: number): bigint {
  return 10n ** BigInt(n);
}

/**
 * Scales bank minor units (`exponent` decimal places) to token base units (`decimals` places):
 * 1234n USD cents (2) → 12_340_000_000_000_000_000n at 18 decimals. When the token has fewer
 * decimals than the currency, the amount must divide exactly, else `SchemaViolation`
 * (1_235n BHD fils (3) cannot become a 2-decimal token amount; 1_230n becomes 123n).
 */
export function minorToBase(amountMinor: bigint, exponent: number, decimals: number): bigint {
  assertScale('exponent', exponent);
  assertScale('decimals', decimals);
  if (decimals >= exponent) return amountMinor * pow10(decimals - exponent);
  const divisor = pow10(exponent - decimals);
  if (amountMinor % divisor !== 0n) {
    throw new SchemaViolation(
      `Amount ${formatMinor(amountMinor, exponent)} (${amountMinor} minor units, exponent ${exponent}) ` + `cannot be expressed exactly in a token with ${decimals} decimals.`,
      { details: `Its last ${exponent - decimals} digit(s) would be lost; the amount must be a multiple of ${divisor} minor units.` },
    );
  }
  return amountMinor / divisor;
}

/**
 * Scales token base units (`decimals` places) to bank minor units (`exponent` places).
 * `exact` is false when base units below the currency's minor unit were dropped; `minor` is
 * then truncated toward zero. The caller decides whether an inexact amount is a mismatch.
 */
export function baseToMinor(base: bigint, decimals: number, exponent: number): { minor: bigint; exact: boolean } {
  assertScale('decimals', decimals);
  assertScale('exponent', exponent);
  if (exponent >= decimals) return { minor: base * pow10(exponent - decimals), exact: true };
  const divisor = pow10(decimals - exponent);
  return { minor: base / divisor, exact: base % divisor === 0n };
}

/** Splits |value| into integer and fraction digit strings at `scale` places, keeping the sign. */
function splitDecimal(value: bigint, scale: number): { sign: string; int: string; frac: string } {
  const sign = value < 0n ? '-' : '';
  const digits = (value < 0n ? -value : value).toString().padStart(scale + 1, '0');
  return { sign, int: digits.slice(0, digits.length - scale), frac: digits.slice(digits.length - scale) };
}

/**
 * Minor units as a decimal string with exactly `exponent` fraction digits, for display and logs:
 * formatMinor(123456n, 2) → '1234.56', formatMinor(-5n, 2) → '-0.05', formatMinor(500n, 0) → '500'.
 */
export function formatMinor(minor: bigint, exponent: number): string {
  assertScale('exponent', exponent);
  const { sign, int, frac } = splitDecimal(minor, exponent);
  return exponent === 0 ? `${sign}${int}` : `${sign}${int}.${frac}`;
}

/**
 * Token base units as a decimal string, trailing fraction zeros trimmed (like viem's
 * formatUnits): formatBase(1_500_000_000_000_000_000n, 18) → '1.5', formatBase(10n ** 18n, 18) → '1'.
 */
export function formatBase(base: bigint, decimals: number): string {
  assertScale('decimals', decimals);
  const { sign, int, frac } = splitDecimal(base, decimals);
  const trimmed = frac.replace(/0+$/, '');
  return trimmed === '' ? `${sign}${int}` : `${sign}${int}.${trimmed}`;
}

const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?$/;

/**
 * Parses a plain decimal string ('12.34', '-0.5', '100') into minor units at `exponent` places,
 * exactly: parseDecimalToMinor('12.34', 2) → 1234n, parseDecimalToMinor('12.340', 2) → 1234n.
 * Throws `SchemaViolation` for malformed input (exponents, spaces, '.5', '1.') or for more
 * significant fraction digits than the currency has ('12.345' at exponent 2).
 */
export function parseDecimalToMinor(text: string, exponent: number): bigint {
  assertScale('exponent', exponent);
  const m = DECIMAL.exec(text);
  if (!m) {
    throw new SchemaViolation(`'${text}' is not a decimal amount.`, {
      details: "Expected digits with an optional '-' sign and an optional '.' followed by digits, e.g. '1234.56'.",
    });
  }
  const [, sign = '', int = '', fracRaw = ''] = m;
  const frac = fracRaw.replace(/0+$/, '');
  if (frac.length > exponent) {
    throw new SchemaViolation(`Amount '${text}' has more decimal places than the currency's ${exponent}; it cannot be expressed exactly in minor units.`);
  }
  const minor = BigInt(int) * pow10(exponent) + BigInt(frac.padEnd(exponent, '0') || '0');
  return sign === '-' ? -minor : minor;
}
