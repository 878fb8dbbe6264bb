/**
 * ISO 4217 minor-unit exponents: how many decimal places a currency's minor unit has
 * (2 for USD cents, 0 for JPY, 3 for BHD fils). Bank ledgers post integer minor units, so the
 * exponent is what turns `amountMinor` into a decimal amount and into token base units.
 */
import { SchemaViolation } from '../lib/errors.js';

/**
 * Code → exponent for the currencies the engine accepts. A currency absent here is rejected,
 * never guessed at 2: a wrong exponent would scale amounts by a power of ten.
 */
export const CURRENCY_EXPONENTS: Readonly<Record<string, number>> = Object.freeze({
  // Majors and G10.
  USD: 2,
  EUR: 2,
  GBP: 2,
  CHF: 2,
  JPY: 0,
  CAD: 2,
  AUD: 2,
  NZD: 2,
  SEK: 2,
  NOK: 2,
  DKK: 2,
  ISK: 0,
  // Europe, other.
  PLN: 2,
  CZK: 2,
  HUF: 2,
  RON: 2,
  BGN: 2,
  TRY: 2,
  // Asia-Pacific.
  SGD: 2,
  HKD: 2,
  CNY: 2,
  INR: 2,
  KRW: 0,
  TWD: 2,
  THB: 2,
  MYR: 2,
  IDR: 2,
  PHP: 2,
  VND: 0,
  // Middle East and Africa.
  AED: 2,
  SAR: 2,
  QAR: 2,
  ILS: 2,
  EGP: 2,
  BHD: 3,
  KWD: 3,
  JOD: 3,
  OMR: 3,
  TND: 3,
  LYD: 3,
  IQD: 3,
  ZAR: 2,
  NGN: 2,
  KES: 2,
  XOF: 0,
  XAF: 0,
  // Americas.
  BRL: 2,
  MXN: 2,
  CLP: 0,
  COP: 2,
  PEN: 2,
  ARS: 2,
  PYG: 0,
});

/** Whether `code` is a currency this table knows (exact, upper-case ISO 4217 code). */
export function isKnownCurrency(code: string): boolean {
  return Object.hasOwn(CURRENCY_EXPONENTS, code);
}

/**
 * The ISO 4217 minor-unit exponent of `code` (e.g. 2 for 'USD', 0 for 'JPY', 3 for 'BHD').
 * Throws `SchemaViolation` for a code the table does not know, including lower-case spellings.
 */
export function currencyExponent(code: string): number {
  if (!isKnownCurrency(code)) {
    throw new SchemaViolation(`Unknown currency '${code}': not an ISO 4217 code this engine knows.`, {
      details:
        code !== code.toUpperCase() && isKnownCurrency(code.toUpperCase())
          ? `ISO 4217 codes are upper case; did the producer mean '${code.toUpperCase()}'?`
          : 'Add it with its minor-unit exponent to src/domain/currencies.ts if it is legitimate.',
    });
  }
  return CURRENCY_EXPONENTS[code]!;
}
