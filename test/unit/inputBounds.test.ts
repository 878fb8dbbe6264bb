import { describe, expect, it } from 'vitest';
import {
  amountBoundProblem,
  amountLimitsOf,
  amountProblem,
  checkIdentifier,
  checkTimestamp,
  DEFAULT_MAX_AMOUNT_MINOR,
  formatEpochMs,
  HARD_MAX_AMOUNT_MINOR,
  identifierProblem,
  MAX_IDENTIFIER_LENGTH,
  MAX_TEXT_LENGTH,
  MAX_UINT256,
  preview,
  textProblem,
  timestampProblem,
  uint256Problem,
} from '../../src/domain/inputBounds.js';
import { SchemaViolation } from '../../src/lib/errors.js';

const NOW = Date.UTC(2025, 5, 1);
const DAY = 86_400_000;
const range = { earliestMs: Date.UTC(2000, 0, 1), nowMs: NOW };

describe('inputBounds: identifiers', () => {
  it('accepts exactly MAX_IDENTIFIER_LENGTH (128) code units and refuses 129', () => {
    expect(MAX_IDENTIFIER_LENGTH).toBe(128);
    expect(identifierProblem('a'.repeat(128))).toBeUndefined();
    expect(identifierProblem('a'.repeat(129))).toBe('is 129 characters long; at most 128 are allowed');
    expect(identifierProblem('ab', 2)).toBeUndefined();
    expect(identifierProblem('abc', 2)).toMatch(/at most 2/);
  });

  it('accepts one character and refuses the empty and the blank string', () => {
    expect(identifierProblem('x')).toBeUndefined();
    expect(identifierProblem('')).toBe('is empty');
    expect(identifierProblem('   ')).toBe('is blank');
  });

  it('accepts letters, marks, digits, punctuation, symbols and inner single spaces in any script', () => {
    for (const ok of ['ACC-42', 'INV/2020#7', 'Müller & Söhne', '東京-001', 'e\u0301', '€100', 'a b c', 'a  b', '😀']) {
      expect(identifierProblem(ok), ok).toBeUndefined();
    }
  });

  it('refuses control, format, private-use and separator characters, naming the code point and index', () => {
    expect(identifierProblem('AB\u0000')).toBe('contains U+0000 at index 2, outside letters, digits, punctuation, symbols and inner spaces');
    expect(identifierProblem('\u001fA')).toMatch(/U\+001F at index 0/);
    expect(identifierProblem('A\u007f')).toMatch(/U\+007F/);
    expect(identifierProblem('A\u0085')).toMatch(/U\+0085/);
    expect(identifierProblem('A\u200bB')).toMatch(/U\+200B at index 1/);
    expect(identifierProblem('A\u202eB')).toMatch(/U\+202E/);
    expect(identifierProblem('A\ue000')).toMatch(/U\+E000/);
    expect(identifierProblem('A\u00a0B')).toMatch(/U\+00A0/);
    expect(identifierProblem('A\tB')).toMatch(/U\+0009/);
    expect(identifierProblem('😀\u0007')).toMatch(/U\+0007 at index 2/);
  });

  it('refuses leading and trailing spaces', () => {
    expect(identifierProblem(' A')).toBe('starts or ends with a space');
    expect(identifierProblem('A ')).toBe('starts or ends with a space');
  });

  it('refuses lone surrogates, high or low, and accepts the pair they belong to', () => {
    expect(identifierProblem('A\ud800')).toBe('is not well-formed Unicode: lone surrogate U+D800 at index 1');
    expect(identifierProblem('\udc00A')).toMatch(/lone surrogate U\+DC00 at index 0/);
    expect(identifierProblem('\ud83d\ude00\ude00')).toMatch(/lone surrogate U\+DE00 at index 2/);
    expect(identifierProblem('\ud83d\ude00')).toBeUndefined();
  });

  it('refuses a value that is not a string', () => {
    expect(identifierProblem(42)).toBe('is not a string (number)');
    expect(identifierProblem(null)).toBe('is not a string (object)');
  });

  it('checkIdentifier throws a SchemaViolation naming the field with a cut, escaped preview', () => {
    expect(checkIdentifier('Mapping', 'accountId', 'ACC-1')).toBe('ACC-1');
    try {
      checkIdentifier('Mapping', 'accountId', `${'x'.repeat(200)}`);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(SchemaViolation);
      expect((e as SchemaViolation).shortMessage).toBe(`Mapping: accountId is 200 characters long; at most 128 are allowed ("${'x'.repeat(40)}"…).`);
    }
    expect(() => checkIdentifier('Mapping', 'accountId', 'A\u0007')).toThrow(/accountId contains U\+0007 at index 1.*\("A\\u0007"\)/);
  });

  it('preview escapes control characters and lone surrogates and cuts after 40 code units', () => {
    expect(preview('a\nb')).toBe('"a\\nb"');
    expect(preview('\ud800')).toBe('"\\ud800"');
    expect(preview('y'.repeat(41))).toBe(`"${'y'.repeat(40)}"…`);
    expect(preview('y'.repeat(40))).toBe(`"${'y'.repeat(40)}"`);
  });
});

describe('inputBounds: free text', () => {
  it('accepts exactly MAX_TEXT_LENGTH (1,024) code units and refuses 1,025; empty text is fine', () => {
    expect(MAX_TEXT_LENGTH).toBe(1_024);
    expect(textProblem('t'.repeat(1_024))).toBeUndefined();
    expect(textProblem('t'.repeat(1_025))).toBe('is 1025 characters long; at most 1024 are allowed');
    expect(textProblem('')).toBeUndefined();
  });

  it('refuses every control character (tab and newline included) and line separators; keeps spaces and any script', () => {
    expect(textProblem('  Rechnung 17 — Müller, 東京  ')).toBeUndefined();
    expect(textProblem('a\tb')).toBe('contains control character U+0009 at index 1');
    expect(textProblem('a\r\nb')).toMatch(/U\+000D at index 1/);
    expect(textProblem('a\u0085')).toMatch(/U\+0085/);
    expect(textProblem('a\u2028')).toMatch(/U\+2028/);
    expect(textProblem('a\u0000')).toMatch(/U\+0000/);
  });

  it('refuses a lone surrogate', () => {
    expect(textProblem('ok \udfff')).toBe('is not well-formed Unicode: lone surrogate U+DFFF at index 3');
  });
});

describe('inputBounds: timestamps', () => {
  it('accepts exactly the earliest instant and refuses one millisecond before', () => {
    expect(timestampProblem(range.earliestMs, range)).toBeUndefined();
    expect(timestampProblem(range.earliestMs - 1, range)).toMatch(/^946684799999 \(1999-12-31T23:59:59.999Z\) is before 2000-01-01T00:00:00.000Z/);
  });

  it('accepts exactly now + a day and refuses one millisecond more', () => {
    expect(timestampProblem(NOW + DAY, range)).toBeUndefined();
    expect(timestampProblem(NOW + DAY + 1, range)).toMatch(/is more than a day after now/);
    expect(timestampProblem(NOW + 10, { ...range, maxFutureSkewMs: 10 })).toBeUndefined();
    expect(timestampProblem(NOW + 11, { ...range, maxFutureSkewMs: 10 })).toMatch(/more than 10 ms after now/);
  });

  it('never throws while formatting: ±8.64e15 is a date, one beyond is not, NaN and ±Infinity are refused', () => {
    expect(formatEpochMs(8.64e15)).toBe('+275760-09-13T00:00:00.000Z');
    expect(formatEpochMs(-8.64e15)).toBe('-271821-04-20T00:00:00.000Z');
    expect(formatEpochMs(8.64e15 + 1)).toBe('not a representable date');
    expect(formatEpochMs(Number.NaN)).toBe('not a representable date');
    expect(timestampProblem(8.64e15 + 1, range)).toMatch(/not a representable date\) is more than a day after now/);
    expect(timestampProblem(-8.64e15 - 1, range)).toMatch(/not a representable date\) is before/);
    expect(timestampProblem(Number.NaN, range)).toBe('NaN is not a whole number of milliseconds within ±2^53');
    expect(timestampProblem(Infinity, range)).toMatch(/Infinity is not a whole number/);
    expect(timestampProblem(1.5e12 + 0.5, range)).toMatch(/not a whole number/);
    expect(timestampProblem(2n ** 63n - 1n, range)).toBe('9223372036854775807 (not a representable date) is not a whole number of milliseconds within ±2^53');
    expect(timestampProblem(BigInt(NOW), range)).toBeUndefined();
  });

  it('checkTimestamp throws a SchemaViolation naming the field, never a RangeError', () => {
    expect(checkTimestamp('Block 7', 'blockTime', NOW, range)).toBe(NOW);
    expect(() => checkTimestamp('Block 7', 'blockTime', 9e15, range)).toThrow(SchemaViolation);
    expect(() => checkTimestamp('Block 7', 'blockTime', 9e15, range)).toThrow(/^Block 7: blockTime 9000000000000000 \(not a representable date\)/);
  });
});

describe('inputBounds: amounts', () => {
  it('accepts 1 minor unit and exactly the default bound (10^15); refuses 0, negatives and 10^15 + 1', () => {
    expect(DEFAULT_MAX_AMOUNT_MINOR).toBe(10n ** 15n);
    expect(amountProblem(1n, 'USD')).toBeUndefined();
    expect(amountProblem(10n ** 15n, 'USD')).toBeUndefined();
    expect(amountProblem(10n ** 15n + 1n, 'USD')).toBe('is 1000000000000001 minor units, above the plausibility bound of 1000000000000000 for USD (limits.maxAmountMinor)');
    expect(amountProblem(0n, 'USD')).toMatch(/must be positive/);
    expect(amountProblem(-1n, 'USD')).toMatch(/is -1 minor units; amounts must be positive/);
  });

  it('applies a per-currency bound before the default', () => {
    const limits = amountLimitsOf({ default: 1_000n, JPY: 10n });
    expect(amountProblem(10n, 'JPY', limits)).toBeUndefined();
    expect(amountProblem(11n, 'JPY', limits)).toMatch(/bound of 10 for JPY/);
    expect(amountProblem(1_000n, 'EUR', limits)).toBeUndefined();
    expect(amountProblem(1_001n, 'EUR', limits)).toMatch(/bound of 1000 for EUR/);
    expect(amountProblem(10n ** 15n, 'EUR', amountLimitsOf({ USD: 5n }))).toBeUndefined();
  });

  it('lets a configured bound be at most 10^18 (a single amount Redis int64 sums hold), and positive', () => {
    expect(HARD_MAX_AMOUNT_MINOR).toBe(10n ** 18n);
    expect(HARD_MAX_AMOUNT_MINOR * 9n).toBeLessThan(2n ** 63n - 1n);
    expect(amountBoundProblem(10n ** 18n)).toBeUndefined();
    expect(amountBoundProblem(10n ** 18n + 1n)).toMatch(/exceeds 1000000000000000000/);
    expect(amountBoundProblem(1n)).toBeUndefined();
    expect(amountBoundProblem(0n)).toMatch(/must be positive/);
  });

  it('uint256: accepts 0 and 2^256 - 1, refuses 2^256 and negatives', () => {
    expect(uint256Problem(0n)).toBeUndefined();
    expect(uint256Problem(MAX_UINT256)).toBeUndefined();
    expect(uint256Problem(MAX_UINT256 + 1n)).toMatch(/beyond uint256/);
    expect(uint256Problem(-1n)).toMatch(/negative/);
  });
});
