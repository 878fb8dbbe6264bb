import { describe, expect, it } from 'vitest';
import { chainEventToLeg, flowOfEntry, ledgerEntryToLeg, minorUnitsKey, type IdentityView } from '../../src/domain/legs.js';
import { IdentityMap } from '../../src/domain/identityMap.js';
import { currencyExponent } from '../../src/domain/currencies.js';
import type { ChainEvent, Direction, LedgerEntry, Leg, TxType } from '../../src/domain/types.js';

const ZERO = '0x0000000000000000000000000000000000000000';
const W1 = '0x1111111111111111111111111111111111111111';
const W2 = '0x2222222222222222222222222222222222222222';
const W3 = '0x3333333333333333333333333333333333333333';
const STRANGER = '0x9999999999999999999999999999999999999999';
const TOKEN = '0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';

const ids = (): IdentityView =>
  new IdentityMap(currencyExponent, {
    accounts: [
      { accountId: 'acc-1', wallets: [W1] },
      { accountId: 'acc-2', wallets: [W2, W3] },
    ],
    tokens: [{ chainId: 31337, address: TOKEN, currency: 'USD' }],
  });

const entry = (over: Partial<LedgerEntry> = {}): LedgerEntry => ({
  entryId: 'e1',
  accountId: 'acc-1',
  direction: 'credit',
  amountMinor: 12_345n,
  currency: 'USD',
  exponent: 2,
  bookingTime: 1_700_000_000_000,
  valueTime: 1_700_000_000_500,
  status: 'booked',
  txType: 'deposit',
  endToEndId: null,
  remittance: null,
  tokenizationRef: 'ref-1',
  schemaVersion: 1,
  ...over,
});

const event = (over: Partial<ChainEvent> = {}): ChainEvent => ({
  eventId: '31337:0xblock:0',
  chainId: 31337,
  token: TOKEN,
  blockNumber: 10n,
  blockHash: '0xblock',
  blockTime: 1_700_000_001_000,
  txHash: '0xtx',
  logIndex: 0,
  kind: 'mint',
  from: ZERO,
  to: W1,
  value: 123_450_000_000_000_000_000n,
  decimals: 18,
  reference: 'ref-1',
  ...over,
});

const legOf = (d: ReturnType<typeof ledgerEntryToLeg>): Leg => {
  if (d.kind !== 'leg') throw new Error(`expected a leg, got ${JSON.stringify(d)}`);
  return d.leg;
};

describe('flowOfEntry', () => {
  const cases: [TxType, Direction, 'deposit' | 'withdrawal' | null][] = [
    ['deposit', 'credit', 'deposit'],
    ['deposit', 'debit', null],
    ['withdrawal', 'debit', 'withdrawal'],
    ['withdrawal', 'credit', null],
    ['transfer', 'credit', null],
    ['transfer', 'debit', null],
    ['fee', 'credit', null],
    ['fee', 'debit', null],
    ['reversal', 'credit', null],
    ['reversal', 'debit', null],
  ];
  it.each(cases)('maps a %s %s to flow %s', (txType, direction, flow) => {
    expect(flowOfEntry({ txType, direction })).toBe(flow);
  });
});

describe('ledgerEntryToLeg', () => {
  it('takes the batch id (camt group) as the reference when the posting carries no tokenization reference', () => {
    const details = { groupId: 'BATCH-7' } as NonNullable<LedgerEntry['details']>;
    expect(legOf(ledgerEntryToLeg(entry({ tokenizationRef: null, details }), ids())).reference).toBe('BATCH-7');
    expect(legOf(ledgerEntryToLeg(entry({ tokenizationRef: 'TOK-1', details }), ids())).reference).toBe('TOK-1');
    expect(legOf(ledgerEntryToLeg(entry({ tokenizationRef: null }), ids())).reference).toBeNull();
  });

  it('orphans a posting on an account that has no wallets', () => {
    const d = ledgerEntryToLeg(entry({ accountId: 'acc-unknown' }), ids());
    expect(d.kind).toBe('orphan');
    expect(d.kind === 'orphan' && d.reason).toContain('acc-unknown');
  });

  it('leaves a fee on an account outside the token programme unmatched, but orphans a deposit there', () => {
    expect(ledgerEntryToLeg(entry({ accountId: 'acc-unknown', txType: 'fee', direction: 'debit' }), ids()).kind).toBe('unmatched');
    expect(ledgerEntryToLeg(entry({ accountId: 'acc-unknown', txType: 'deposit', direction: 'credit' }), ids()).kind).toBe('orphan');
  });

  it('records fees, transfers and wrong-direction postings of a mapped account as unmatched', () => {
    for (const [txType, direction] of [
      ['fee', 'debit'],
      ['transfer', 'credit'],
      ['transfer', 'debit'],
      ['deposit', 'debit'],
      ['reversal', 'credit'],
    ] as const) {
      expect(ledgerEntryToLeg(entry({ txType, direction }), ids())).toEqual({ kind: 'unmatched' });
    }
  });

  it('builds a deposit bank leg with minor-unit amount, booking time, reference and the single mapped wallet', () => {
    const leg = legOf(ledgerEntryToLeg(entry(), ids()));
    expect(leg).toMatchObject({
      legId: 'bank:e1',
      side: 'bank',
      flow: 'deposit',
      accountId: 'acc-1',
      wallet: W1,
      currency: 'USD',
      tokenKey: '',
      amountKey: '12345',
      amountNative: '12345',
      eventTime: 1_700_000_000_000,
      reference: 'ref-1',
    });
    expect(leg.fingerprint).toMatch(/^[0-9a-f]{16}$/);
  });

  it('builds a withdrawal leg from a withdrawal debit', () => {
    expect(legOf(ledgerEntryToLeg(entry({ txType: 'withdrawal', direction: 'debit' }), ids())).flow).toBe('withdrawal');
  });

  it('leaves the wallet empty when the account has several wallets', () => {
    expect(legOf(ledgerEntryToLeg(entry({ accountId: 'acc-2' }), ids())).wallet).toBe('');
  });

  it('keeps a null tokenization reference as null', () => {
    expect(legOf(ledgerEntryToLeg(entry({ tokenizationRef: null }), ids())).reference).toBeNull();
  });

  it('changes the fingerprint when the amount changes but not when only the status changes', () => {
    const base = legOf(ledgerEntryToLeg(entry(), ids())).fingerprint;
    expect(legOf(ledgerEntryToLeg(entry({ amountMinor: 12_346n }), ids())).fingerprint).not.toBe(base);
    expect(legOf(ledgerEntryToLeg(entry({ status: 'pending' }), ids())).fingerprint).toBe(base);
    expect(legOf(ledgerEntryToLeg(entry({ status: 'reversed' }), ids())).fingerprint).toBe(base);
    expect(legOf(ledgerEntryToLeg(entry({ currency: 'EUR' }), ids())).fingerprint).not.toBe(base);
    expect(legOf(ledgerEntryToLeg(entry({ accountId: 'acc-2' }), ids())).fingerprint).not.toBe(base);
  });
});

describe('chainEventToLeg', () => {
  it('turns a mint into a deposit leg for the receiving wallet, with the exact minor-unit amount', () => {
    const leg = legOf(chainEventToLeg(event(), ids()));
    expect(leg).toMatchObject({
      legId: 'chain:31337:0xblock:0',
      side: 'chain',
      flow: 'deposit',
      accountId: 'acc-1',
      wallet: W1,
      currency: 'USD',
      tokenKey: `31337:${TOKEN}`,
      amountKey: '12345',
      amountNative: '123450000000000000000',
      eventTime: 1_700_000_001_000,
      reference: 'ref-1',
    });
  });

  it('turns a burn into a withdrawal leg for the sending wallet', () => {
    const leg = legOf(chainEventToLeg(event({ kind: 'burn', from: W3, to: ZERO }), ids()));
    expect(leg).toMatchObject({ flow: 'withdrawal', wallet: W3, accountId: 'acc-2' });
  });

  it('records a transfer between mapped wallets as unmatched', () => {
    expect(chainEventToLeg(event({ kind: 'transfer', from: W1, to: W2 }), ids())).toEqual({ kind: 'unmatched' });
    expect(chainEventToLeg(event({ kind: 'transfer', from: STRANGER, to: W2 }), ids())).toEqual({ kind: 'unmatched' });
  });

  it('orphans a transfer between two unmapped wallets', () => {
    expect(chainEventToLeg(event({ kind: 'transfer', from: STRANGER, to: '0x8888888888888888888888888888888888888888' }), ids()).kind).toBe('orphan');
  });

  it('orphans an event of a token mapped to no currency', () => {
    const d = chainEventToLeg(event({ token: '0xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb' }), ids());
    expect(d.kind).toBe('orphan');
    expect(d.kind === 'orphan' && d.reason).toContain('31337:0xbbbb');
  });

  it('finds the token whatever the case of its address', () => {
    expect(chainEventToLeg(event({ token: TOKEN.toUpperCase().replace('0X', '0x') }), ids()).kind).toBe('leg');
  });

  it('orphans a mint to an unmapped wallet', () => {
    expect(chainEventToLeg(event({ to: STRANGER }), ids()).kind).toBe('orphan');
  });

  it('changes the fingerprint with the value', () => {
    const a = legOf(chainEventToLeg(event(), ids())).fingerprint;
    expect(legOf(chainEventToLeg(event({ value: 123_450_000_000_000_000_001n }), ids())).fingerprint).not.toBe(a);
    expect(legOf(chainEventToLeg(event(), ids())).fingerprint).toBe(a);
  });
});

describe('minorUnitsKey', () => {
  it('scales an 18-decimal token amount to exact USD cents with the fraction kept', () => {
    // 1.2345 tokens = 1.2345 USD = 123.45 cents.
    expect(minorUnitsKey(1_234_500_000_000_000_000n, 18, 2)).toBe('123.45');
  });

  it('prints a whole number of minor units as an integer', () => {
    expect(minorUnitsKey(10n ** 18n, 18, 2)).toBe('100');
    expect(minorUnitsKey(123_450_000_000_000_000_000n, 18, 2)).toBe('12345');
    expect(minorUnitsKey(0n, 18, 2)).toBe('0');
    expect(minorUnitsKey(1_234_567n, 6, 2)).toBe('123.4567');
    expect(minorUnitsKey(1_230_000n, 6, 2)).toBe('123');
  });

  it('keeps a single wei as a fractional key that can never equal a bank amount', () => {
    expect(minorUnitsKey(1n, 18, 2)).toBe('0.0000000000000001');
    expect(minorUnitsKey(10n ** 18n + 1n, 18, 2)).toBe('100.0000000000000001');
  });

  it('scales a 6-decimal token to JPY (exponent 0)', () => {
    expect(minorUnitsKey(1_000_000n, 6, 0)).toBe('1');
    expect(minorUnitsKey(1_500_000n, 6, 0)).toBe('1.5');
    expect(minorUnitsKey(5_000_000_000n, 6, 0)).toBe('5000');
  });

  it('multiplies when the token has fewer decimals than the currency exponent', () => {
    expect(minorUnitsKey(123n, 1, 2)).toBe('1230');
    expect(minorUnitsKey(7n, 0, 3)).toBe('7000');
    expect(minorUnitsKey(4567n, 2, 2)).toBe('4567');
  });
});

describe('signedMinorUnits', () => {
  it('converts token base units to exact minor units, a negative balance included', async () => {
    const { signedMinorUnits } = await import('../../src/domain/legs.js');
    expect(signedMinorUnits(1_234_500_000_000_000_000n, 18, 2)).toBe('123.45');
    expect(signedMinorUnits(-1_234_500_000_000_000_000n, 18, 2)).toBe('-123.45');
    expect(signedMinorUnits(1n, 18, 2)).toBe('0.0000000000000001');
    expect(signedMinorUnits(7n, 0, 2)).toBe('700');
  });
});
