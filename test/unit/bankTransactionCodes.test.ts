import { describe, expect, it } from 'vitest';
import { DEFAULT_FALLBACK, formatTransactionCode, transactionTypeOf, type BankTransactionCode } from '../../src/iso20022/bankTransactionCodes.js';
import { camtConfigSchema } from '../../src/iso20022/camtConfig.js';

const code = (c: string): BankTransactionCode => {
  if (c.startsWith('prtry:')) return { domain: null, family: null, subFamily: null, proprietary: c.slice(6) };
  const [domain = null, family = null, subFamily = null] = c.split('/');
  return { domain, family, subFamily, proprietary: null };
};

describe('bank transaction codes', () => {
  it.each([
    ['PMNT/RCDT/ESCT', 'credit', 'deposit'],
    ['PMNT/RCDT/BOOK', 'credit', 'deposit'],
    ['PMNT/ICDT/ESCT', 'debit', 'withdrawal'],
    ['PMNT/CCRD/CHRG', 'debit', 'fee'],
    ['ACMT/MDOP/ADJT', 'debit', 'fee'],
    ['PMNT/RCDT/RRTN', 'debit', 'transfer'],
    ['PMNT/ICDT/BOOK', 'credit', 'transfer'],
    ['PMNT/RDDT/ESDD', 'debit', 'withdrawal'],
    ['SECU/SETT/TRAD', 'credit', 'deposit'],
    ['prtry:544', 'debit', 'withdrawal'],
  ] as const)('maps %s %s to %s with the default table', (c, d, t) => {
    expect(transactionTypeOf(code(c), d)).toBe(t);
  });

  it('never gives a type that contradicts the direction (a credit is never a withdrawal)', () => {
    expect(transactionTypeOf(code('PMNT/ICDT/ESCT'), 'credit')).toBe('deposit');
    expect(transactionTypeOf(code('PMNT/ICDT/ESCT'), 'credit', [{ code: 'PMNT/ICDT/*', txType: 'withdrawal' }])).toBe('transfer');
  });

  it('takes a configured table in order, proprietary codes included, then the configured fallback', () => {
    const { transactionCodes, fallback } = camtConfigSchema.parse({
      transactionCodes: [
        { code: 'prtry:NTRF+544', txType: 'fee' },
        { code: 'PMNT/*/*', direction: 'credit', txType: 'transfer' },
      ],
      fallback: { credit: 'transfer' },
    });
    expect(transactionTypeOf(code('prtry:NTRF+544'), 'debit', transactionCodes, fallback)).toBe('fee');
    expect(transactionTypeOf(code('PMNT/RCDT/ESCT'), 'credit', transactionCodes, fallback)).toBe('transfer');
    expect(transactionTypeOf(code('LDAS/CSLN/DDWN'), 'credit', transactionCodes, fallback)).toBe('transfer');
    expect(transactionTypeOf(code('LDAS/CSLN/DDWN'), 'debit', transactionCodes, fallback)).toBe(DEFAULT_FALLBACK.debit);
  });

  it('refuses a malformed rule in configuration', () => {
    expect(() => camtConfigSchema.parse({ transactionCodes: [{ code: 'PMNT-RCDT', txType: 'deposit' }] })).toThrow(/DOMN\/FMLY\/SUBFMLY/);
    expect(() => camtConfigSchema.parse({ reference: { pattern: '(' } })).toThrow(/not a valid regular expression/);
  });

  it('formats codes as shown in postings', () => {
    expect(formatTransactionCode(code('PMNT/RCDT/ESCT'))).toBe('PMNT/RCDT/ESCT');
    expect(formatTransactionCode(code('prtry:544'))).toBe('prtry:544');
    expect(formatTransactionCode({ domain: null, family: null, subFamily: null, proprietary: null })).toBe('');
  });
});
