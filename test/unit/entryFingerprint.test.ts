import { describe, expect, it } from 'vitest';
import { chainEventFingerprint, ledgerEntryFingerprint } from '../../src/domain/entryFingerprint.js';
import type { DiscrepancyEventRow } from '../../src/domain/facts.js';
import { factOfContentConflict } from '../../src/domain/outcomeFacts.js';
import type { ChainEvent, LedgerEntry } from '../../src/domain/types.js';

const entry = (over: Partial<LedgerEntry> = {}): LedgerEntry => ({
  entryId: 'fee-1',
  accountId: 'ACC-1',
  direction: 'debit',
  amountMinor: 150n,
  currency: 'USD',
  exponent: 2,
  bookingTime: 1_000,
  valueTime: 1_000,
  status: 'booked',
  txType: 'fee',
  endToEndId: 'E2E-1',
  remittance: 'Monthly fee',
  tokenizationRef: null,
  schemaVersion: 2,
  ...over,
});
const event = (over: Partial<ChainEvent> = {}): ChainEvent => ({
  eventId: '31337:0xb:0',
  chainId: 31337,
  token: '0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  blockNumber: 7n,
  blockHash: '0xb',
  blockTime: 2_000,
  txHash: '0xt',
  logIndex: 0,
  kind: 'transfer',
  from: '0x1111111111111111111111111111111111111111',
  to: '0x2222222222222222222222222222222222222222',
  value: 10n ** 18n,
  decimals: 18,
  reference: null,
  ...over,
});

describe('ledgerEntryFingerprint', () => {
  it('is the same for a status update of the same entry (pending, booked, reversed; times, text or schema moved)', () => {
    const first = ledgerEntryFingerprint(entry({ status: 'pending' }));
    for (const again of [entry(), entry({ status: 'reversed' }), entry({ bookingTime: 5_000, valueTime: 6_000 }), entry({ remittance: null }), entry({ schemaVersion: 1 })]) {
      expect(ledgerEntryFingerprint(again)).toBe(first);
    }
  });

  it.each<[string, Partial<LedgerEntry>]>([
    ['amount', { amountMinor: 151n }],
    ['account', { accountId: 'ACC-2' }],
    ['direction', { direction: 'credit' }],
    ['currency', { currency: 'EUR' }],
    ['tx type', { txType: 'transfer' }],
    ['end-to-end id', { endToEndId: 'E2E-2' }],
    ['tokenization reference', { tokenizationRef: 'TOK-1' }],
  ])('differs when the %s differs', (_, over) => {
    expect(ledgerEntryFingerprint(entry(over))).not.toBe(ledgerEntryFingerprint(entry()));
  });

  it('tells amounts beyond 2^53 apart', () => {
    expect(ledgerEntryFingerprint(entry({ amountMinor: 2n ** 63n }))).not.toBe(ledgerEntryFingerprint(entry({ amountMinor: 2n ** 63n + 1n })));
  });
});

describe('chainEventFingerprint', () => {
  it('ignores address case and differs on any content', () => {
    expect(chainEventFingerprint(event({ from: event().from.toUpperCase().replace('0X', '0x') }))).toBe(chainEventFingerprint(event()));
    for (const over of [{ value: 10n ** 18n + 1n }, { to: '0x3333333333333333333333333333333333333333' }, { kind: 'mint' as const }, { reference: 'R' }, { txHash: '0xu' }]) {
      expect(chainEventFingerprint(event(over))).not.toBe(chainEventFingerprint(event()));
    }
  });
});

describe('factOfContentConflict', () => {
  it('opens DUPLICATE keyed by the id and the new fingerprint, naming both fingerprints', () => {
    const f = factOfContentConflict({
      id: 'bank:fee-1',
      first: 'aaaa',
      again: 'bbbb',
      says: 'fee debit of 175',
      eventTime: 1_000,
      now: 9_000,
      fields: { account_id: 'ACC-1', currency: 'USD', expected_amount: '175' },
    });
    const row = f.row as DiscrepancyEventRow;
    expect(f.table).toBe('discrepancy_events');
    expect(row).toMatchObject({
      discrepancy_id: 'DUPLICATE:bank:fee-1:bbbb',
      kind: 'DUPLICATE',
      status: 'open',
      account_id: 'ACC-1',
      bank_leg_id: 'bank:fee-1',
      chain_leg_id: '',
      expected_amount: '175',
    });
    expect(row.reason).toContain('bbbb');
    expect(row.reason).toContain('first seen: aaaa');
  });

  it('puts a chain event id on the chain side', () => {
    const row = factOfContentConflict({ id: 'chain:31337:0xb:0', first: 'a', again: 'b', says: '', eventTime: 0, now: 0, fields: {} }).row as DiscrepancyEventRow;
    expect(row).toMatchObject({ chain_leg_id: 'chain:31337:0xb:0', bank_leg_id: '', discrepancy_id: 'DUPLICATE:chain:31337:0xb:0:b' });
  });
});
