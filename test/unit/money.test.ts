import { describe, expect, it } from 'vitest';
import { baseToMinor, formatBase, formatMinor, minorToBase, parseDecimalToMinor } from '../../src/domain/money.js';
import { SchemaViolation } from '../../src/lib/errors.js';

describe('minorToBase', () => {
  it('scales USD cents to an 18-decimal token exactly', () => {
    expect(minorToBase(1234n, 2, 18)).toBe(12_340_000_000_000_000_000n);
    expect(minorToBase(1n, 2, 18)).toBe(10n ** 16n);
  });

  it('scales JPY (exponent 0) to a 6-decimal token', () => {
    expect(minorToBase(500n, 0, 6)).toBe(500_000_000n);
  });

  it('keeps the amount when exponent equals decimals', () => {
    expect(minorToBase(12345n, 2, 2)).toBe(12345n);
  });

  it('scales BHD (exponent 3) down to a 2-decimal token when the fils divide exactly', () => {
    expect(minorToBase(1230n, 3, 2)).toBe(123n);
  });

  it('throws SchemaViolation scaling BHD (exponent 3) to a 2-decimal token when a fils would be lost', () => {
    expect(() => minorToBase(1235n, 3, 2)).toThrow(SchemaViolation);
    expect(() => minorToBase(1235n, 3, 2)).toThrow(/cannot be expressed exactly in a token with 2 decimals/);
  });

  it('stays exact beyond 2^53', () => {
    const big = 2n ** 63n - 1n;
    expect(minorToBase(big, 2, 18)).toBe(big * 10n ** 16n);
  });

  it('throws RangeError for a negative or fractional scale', () => {
    expect(() => minorToBase(1n, -1, 18)).toThrow(RangeError);
    expect(() => minorToBase(1n, 2, 1.5)).toThrow(RangeError);
    expect(() => minorToBase(1n, 2, 1_000_000)).toThrow(RangeError);
  });
});

describe('baseToMinor', () => {
  it('scales 18-decimal base units to cents exactly when they are whole cents', () => {
    expect(baseToMinor(12_340_000_000_000_000_000n, 18, 2)).toEqual({ minor: 1234n, exact: true });
  });

  it('reports an inexact conversion and truncates toward zero', () => {
    expect(baseToMinor(12_340_000_000_000_000_001n, 18, 2)).toEqual({ minor: 1234n, exact: false });
    expect(baseToMinor(-12_340_000_000_000_000_001n, 18, 2)).toEqual({ minor: -1234n, exact: false });
  });

  it('scales a 2-decimal token up to BHD fils exactly', () => {
    expect(baseToMinor(123n, 2, 3)).toEqual({ minor: 1230n, exact: true });
  });

  it('round-trips minorToBase', () => {
    for (const [minor, exponent, decimals] of [
      [1234n, 2, 18],
      [7n, 0, 6],
      [1230n, 3, 2],
    ] as const) {
      expect(baseToMinor(minorToBase(minor, exponent, decimals), decimals, exponent)).toEqual({ minor, exact: true });
    }
  });
});

describe('formatMinor', () => {
  it('prints exactly exponent fraction digits', () => {
    expect(formatMinor(123456n, 2)).toBe('1234.56');
    expect(formatMinor(123450n, 2)).toBe('1234.50');
    expect(formatMinor(5n, 2)).toBe('0.05');
    expect(formatMinor(-5n, 2)).toBe('-0.05');
    expect(formatMinor(500n, 0)).toBe('500');
    expect(formatMinor(1n, 3)).toBe('0.001');
    expect(formatMinor(0n, 2)).toBe('0.00');
  });

  it('is exact for int64 max', () => {
    expect(formatMinor(2n ** 63n - 1n, 2)).toBe('92233720368547758.07');
  });
});

describe('formatBase', () => {
  it('trims trailing fraction zeros like formatUnits', () => {
    expect(formatBase(1_500_000_000_000_000_000n, 18)).toBe('1.5');
    expect(formatBase(10n ** 18n, 18)).toBe('1');
    expect(formatBase(1n, 18)).toBe('0.000000000000000001');
    expect(formatBase(-1n, 6)).toBe('-0.000001');
    expect(formatBase(0n, 18)).toBe('0');
    expect(formatBase(42n, 0)).toBe('42');
  });
});

describe('parseDecimalToMinor', () => {
  it('parses exact decimal strings to minor units', () => {
    expect(parseDecimalToMinor('12.34', 2)).toBe(1234n);
    expect(parseDecimalToMinor('12.3', 2)).toBe(1230n);
    expect(parseDecimalToMinor('12', 2)).toBe(1200n);
    expect(parseDecimalToMinor('12.340', 2)).toBe(1234n);
    expect(parseDecimalToMinor('-0.05', 2)).toBe(-5n);
    expect(parseDecimalToMinor('1.000', 0)).toBe(1n);
    expect(parseDecimalToMinor('92233720368547758.07', 2)).toBe(2n ** 63n - 1n);
  });

  it('round-trips formatMinor', () => {
    expect(parseDecimalToMinor(formatMinor(987654321n, 3), 3)).toBe(987654321n);
  });

  it('throws SchemaViolation for more decimal places than the currency has', () => {
    expect(() => parseDecimalToMinor('12.345', 2)).toThrow(SchemaViolation);
    expect(() => parseDecimalToMinor('1.5', 0)).toThrow(SchemaViolation);
  });

  it.each(['', ' 1.00', '1e3', '.5', '1.', '1,000.00', '+1', '0x10', 'NaN', '--1'])('throws SchemaViolation for the malformed amount %j', (text) => {
    expect(() => parseDecimalToMinor(text, 2)).toThrow(SchemaViolation);
  });
});
