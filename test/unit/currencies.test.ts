import { describe, expect, it } from 'vitest';
import { CURRENCY_EXPONENTS, currencyExponent, isKnownCurrency } from '../../src/domain/currencies.js';
import { SchemaViolation } from '../../src/lib/errors.js';

describe('currencyExponent', () => {
  it.each([
    ['USD', 2],
    ['EUR', 2],
    ['JPY', 0],
    ['KRW', 0],
    ['CLP', 0],
    ['ISK', 0],
    ['BHD', 3],
    ['KWD', 3],
    ['JOD', 3],
    ['OMR', 3],
    ['TND', 3],
  ])('gives %s the ISO 4217 exponent %i', (code, exponent) => {
    expect(currencyExponent(code)).toBe(exponent);
  });

  it('throws SchemaViolation for an unknown code', () => {
    expect(() => currencyExponent('XYZ')).toThrow(SchemaViolation);
    expect(() => currencyExponent('XYZ')).toThrow(/Unknown currency 'XYZ'/);
  });

  it('throws SchemaViolation for a lower-case spelling, suggesting the upper-case code', () => {
    try {
      currencyExponent('usd');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(SchemaViolation);
      expect((e as SchemaViolation).details).toContain("'USD'");
    }
  });

  it('does not treat Object.prototype keys as currencies', () => {
    expect(isKnownCurrency('constructor')).toBe(false);
    expect(() => currencyExponent('toString')).toThrow(SchemaViolation);
  });

  it('lists only three-letter upper-case codes with exponents 0 to 3', () => {
    for (const [code, exponent] of Object.entries(CURRENCY_EXPONENTS)) {
      expect(code).toMatch(/^[A-Z]{3}$/);
      expect([0, 2, 3]).toContain(exponent);
    }
  });
});
