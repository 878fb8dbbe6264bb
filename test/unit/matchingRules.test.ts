import { describe, expect, it } from 'vitest';
import { amountDifference, amountsMeet, bankRangeOfChain, chainRangeOfBank, compareDecimal, type Allowance } from '../../src/domain/amountRange.js';
import { encodeProbes, probesFor, type ProbeLeg } from '../../src/matching/ruleCascade.js';
import { DEFAULT_MATCHING_RULES, parseMatchingRules } from '../../src/matching/ruleFile.js';

const none: Allowance = { absMinor: 0n, tolBps: 0, feeFixedMinor: 0n, feeBps: 0, feeLowers: 'chain' };
const D = { attributeWindowMs: 1_000, referenceWindowMs: 9_000 };
const bankLeg = (amountKey: string, over: Partial<ProbeLeg> = {}): ProbeLeg => ({ side: 'bank', flow: 'deposit', accountId: 'ACC-1', currency: 'USD', amountKey, ...over });
const chainLeg = (amountKey: string, over: Partial<ProbeLeg> = {}): ProbeLeg => ({ side: 'chain', flow: 'deposit', accountId: 'ACC-1', currency: 'USD', amountKey, ...over });

describe('amount ranges (exact, bigint)', () => {
  it('an exact rule meets only the same amount, whichever side is known', () => {
    expect(chainRangeOfBank('100000', none)).toEqual({ lo: '100000', hi: '100000' });
    expect(bankRangeOfChain('100000', none)).toEqual({ lo: '100000', hi: '100000' });
    // A token amount with a fraction of a cent meets no whole bank amount exactly.
    expect(bankRangeOfChain('99999.5', none)).toBeNull();
  });

  it('absolute tolerance: exactly at it meets, one minor unit beyond does not', () => {
    const a = { ...none, absMinor: 1n };
    expect(amountsMeet('100000', '99999', a)).toBe(true);
    expect(amountsMeet('100000', '100001', a)).toBe(true);
    expect(amountsMeet('100000', '99998', a)).toBe(false);
    expect(amountsMeet('100000', '100002', a)).toBe(false);
    // Rounding between 2-decimal cash and an 18-decimal token: a fraction of a cent inside.
    expect(amountsMeet('100000', '99999.000000000000000001', a)).toBe(true);
    expect(amountsMeet('100000', '99998.999999999999999999', a)).toBe(false);
  });

  it('relative tolerance in basis points of the bank amount', () => {
    const a = { ...none, tolBps: 5 }; // 0.05 % of 1,000.00 = 50 cents
    expect(chainRangeOfBank('100000', a)).toEqual({ lo: '99950', hi: '100050' });
    expect(amountsMeet('100000', '99950', a)).toBe(true);
    expect(amountsMeet('100000', '99949', a)).toBe(false);
    // The inverse from the chain side gives the same pairs.
    const r = bankRangeOfChain('99950', a)!;
    expect(compareDecimal(r.lo, '100000') <= 0 && compareDecimal(r.hi!, '100000') >= 0).toBe(true);
    expect(amountsMeet(r.hi!, '99950', a)).toBe(true);
    expect(amountsMeet((BigInt(r.hi!) + 1n).toString(), '99950', a)).toBe(false);
    expect(amountsMeet(r.lo, '99950', a)).toBe(true);
    expect(amountsMeet((BigInt(r.lo) - 1n).toString(), '99950', a)).toBe(false);
  });

  it('a fee lowers only the later book: a deposit of 1,000.00 minted as 999.50', () => {
    const fee: Allowance = { ...none, feeFixedMinor: 50n };
    expect(amountsMeet('100000', '99950', fee)).toBe(true);
    expect(amountsMeet('100000', '99949', fee)).toBe(false);
    // Minting more than was deposited is not a fee.
    expect(amountsMeet('100000', '100001', fee)).toBe(false);
    expect(bankRangeOfChain('99950', fee)).toEqual({ lo: '99950', hi: '100000' });
    // Withdrawal: the bank pays out less than was burnt.
    const wd: Allowance = { ...fee, feeLowers: 'bank' };
    expect(amountsMeet('99950', '100000', wd)).toBe(true);
    expect(amountsMeet('99949', '100000', wd)).toBe(false);
    expect(amountsMeet('100000', '99999', wd)).toBe(false);
    expect(bankRangeOfChain('100000', wd)).toEqual({ lo: '99950', hi: '100000' });
  });

  it('fee in basis points plus a tolerance, computed on the bank amount', () => {
    const a: Allowance = { ...none, feeBps: 25, absMinor: 1n }; // 0.25 % of 2,000.00 = 5.00, plus 1 cent
    expect(chainRangeOfBank('200000', a)).toEqual({ lo: '199499', hi: '200001' });
    const r = bankRangeOfChain('199499', a)!;
    expect(amountsMeet(r.hi!, '199499', a)).toBe(true);
    expect(amountsMeet((BigInt(r.hi!) + 1n).toString(), '199499', a)).toBe(false);
  });

  it('differences are exact decimals, signed bank minus chain', () => {
    expect(amountDifference('100000', '99950')).toBe('50');
    expect(amountDifference('100000', '100000.000000000000000001')).toBe('-0.000000000000000001');
    expect(amountDifference('1000000000000000000', '0')).toBe('1000000000000000000');
  });
});

describe('the rule file and its cascade', () => {
  const rules = parseMatchingRules({
    version: '2026-12-05.1',
    accountGroups: { omnibus: ['OMNI-1', 'OMNI-2'] },
    rules: [
      { id: 'exact-reference', key: 'reference' },
      { id: 'tranches', key: 'reference', split: true, flows: ['deposit'] },
      { id: 'exact-attributes', key: 'accountAmount' },
      { id: 'deposit-fee', key: 'accountAmount', flows: ['deposit'], currencies: ['USD'], fees: { USD: { fixedMinor: 50 } } },
      { id: 'omnibus-rounding', key: 'accountAmount', accounts: ['@omnibus'], tolerance: { absMinor: 1 } },
      { id: 'nearest', key: 'accountAmount', stage: 'expiry', tolerance: { bps: 500 }, confidence: 'proposed' },
      { id: 'pair-mismatch', key: 'accountAmount', stage: 'expiry', tolerance: { bps: 10_000 }, outcome: 'mismatch' },
    ],
  });

  it('keeps file order and filters by flow, currency, account group and stage', () => {
    const ids = (l: ProbeLeg, stage: 'arrival' | 'expiry' = 'arrival') => probesFor(rules, l, stage, D).map((p) => p.rule);
    expect(ids(bankLeg('100000'))).toEqual(['exact-reference@2026-12-05.1', 'tranches@2026-12-05.1', 'exact-attributes@2026-12-05.1', 'deposit-fee@2026-12-05.1']);
    expect(ids(bankLeg('100000', { flow: 'withdrawal' }))).toEqual(['exact-reference@2026-12-05.1', 'exact-attributes@2026-12-05.1']);
    expect(ids(bankLeg('100000', { currency: 'EUR' }))).not.toContain('deposit-fee@2026-12-05.1');
    expect(ids(bankLeg('100000', { accountId: 'OMNI-2' }))).toContain('omnibus-rounding@2026-12-05.1');
    expect(ids(bankLeg('100000'), 'expiry')).toEqual(['nearest@2026-12-05.1', 'pair-mismatch@2026-12-05.1']);
    // A chain amount with a fraction of a cent: no exact bank amount, so the exact account rule
    // drops out; the reference rules stay with an empty interval (a shared reference is a mismatch).
    expect(ids(chainLeg('99950.5'))).toEqual(['exact-reference@2026-12-05.1', 'tranches@2026-12-05.1', 'deposit-fee@2026-12-05.1']);
    expect(probesFor(rules, chainLeg('99950.5'), 'arrival', D)[0]).toMatchObject({ lo: '-', hi: '-' });
  });

  it('default windows: reference by the late retention, account and amount by window + lateness', () => {
    const ps = probesFor(rules, bankLeg('100000'), 'arrival', D);
    expect(ps.find((p) => p.key === 'reference')!.windowMs).toBe(9_000);
    expect(ps.find((p) => p.key === 'accountAmount')!.windowMs).toBe(1_000);
    expect(probesFor(rules, bankLeg('100000'), 'expiry', D)[0]!.windowMs).toBe(1_000);
  });

  it('encodes probes for the Lua script', () => {
    const enc = encodeProbes(probesFor(rules, bankLeg('100000'), 'expiry', D));
    expect(enc.split('\x1e')).toEqual(['nearest@2026-12-05.1\x1fa\x1f95000\x1f105000\x1f1000\x1fp\x1fm\x1f0', 'pair-mismatch@2026-12-05.1\x1fa\x1f0\x1f200000\x1f1000\x1fc\x1fx\x1f0']);
  });

  it('the default rule set is today’s behaviour: reference, then account + exact amount', () => {
    expect(probesFor(DEFAULT_MATCHING_RULES, bankLeg('12345'), 'arrival', D).map((p) => [p.rule, p.lo, p.hi])).toEqual([
      ['exact-reference@builtin-1', '12345', '12345'],
      ['exact-attributes@builtin-1', '12345', '12345'],
    ]);
  });

  it('refuses a bad file naming the field', () => {
    expect(() => parseMatchingRules({ version: 1, rules: [{ id: 'x', key: 'accountAmount', stage: 'arrival', outcome: 'mismatch' }] })).toThrow(/rules\.0\.outcome: a mismatch rule/);
    expect(() => parseMatchingRules({ version: 1, rules: [{ id: 'x', key: 'accountAmount', split: true }] })).toThrow(
      /rules\.0\.split: a split without a reference is searched when the window closes/,
    );
    expect(() => parseMatchingRules({ version: 1, rules: [{ id: 'x', key: 'reference', split: true, stage: 'expiry' }] })).toThrow(/rules\.0\.split: tranches by reference/);
    expect(() => parseMatchingRules({ version: 1, rules: [{ id: 'x', key: 'accountAmount', split: true, stage: 'expiry', maxLegs: 17 }] })).toThrow(/rules\.0\.maxLegs/);
    expect(() => parseMatchingRules({ version: 1, rules: [{ id: 'x', key: 'accountAmount', accounts: ['@nope'] }] })).toThrow(/rules\.0\.accounts\.0: unknown account group @nope/);
    expect(() => parseMatchingRules({ version: 1, rules: [{ id: 'x', key: 'accountAmount', tolerance: { bps: 10_001 } }] })).toThrow(/rules\.0\.tolerance\.bps/);
    expect(() =>
      parseMatchingRules({
        version: 1,
        rules: [
          { id: 'a', key: 'reference' },
          { id: 'a', key: 'reference' },
        ],
      }),
    ).toThrow(/duplicate rule id a/);
    expect(() => parseMatchingRules({ version: 1, rules: [{ id: 'x', key: 'amount' }] })).toThrow(/rules\.0\.key/);
  });
});

describe('the shipped rule file', () => {
  it('validates', async () => {
    const { loadMatchingRules } = await import('../../src/matching/ruleFile.js');
    const r = loadMatchingRules('config/matching-rules.yaml');
    expect(r.rules.map((x) => x.id)).toEqual(['exact-reference', 'tranches', 'exact-attributes', 'token-rounding', 'deposit-fee', 'nearest-amount', 'amount-typed-wrong']);
  });
});
