import { describe, expect, it } from 'vitest';
import { factOfExpiredLeg, factsOfOutcome } from '../../src/domain/outcomeFacts.js';
import type { DiscrepancyEventRow, Fact, MatchRow } from '../../src/domain/facts.js';
import type { Leg } from '../../src/domain/types.js';
import type { StoredLeg } from '../../src/domain/outcomes.js';

const NOW = 1_800_000_000_000;
const WALLET = '0x1111111111111111111111111111111111111111';
const TOKEN_KEY = '31337:0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';

const bankLeg = (over: Partial<Leg> = {}): Leg => ({
  legId: 'bank:e1',
  side: 'bank',
  flow: 'deposit',
  accountId: 'acc-1',
  wallet: WALLET,
  currency: 'USD',
  tokenKey: '',
  amountKey: '12345',
  amountNative: '12345',
  eventTime: 1_000,
  reference: 'ref-1',
  fingerprint: 'fp-bank',
  ...over,
});
const chainLeg = (over: Partial<Leg> = {}): Leg => ({
  legId: 'chain:31337:0xb:0',
  side: 'chain',
  flow: 'deposit',
  accountId: 'acc-1',
  wallet: WALLET,
  currency: 'USD',
  tokenKey: TOKEN_KEY,
  amountKey: '12345',
  amountNative: '123450000000000000000',
  eventTime: 2_000,
  reference: 'ref-1',
  fingerprint: 'fp-chain',
  ...over,
});
const stored = (l: Leg, over: Partial<StoredLeg> = {}): StoredLeg => ({
  id: l.legId,
  s: l.side,
  f: l.flow,
  a: l.accountId,
  w: l.wallet,
  c: l.currency,
  k: l.tokenKey,
  m: l.amountKey,
  n: l.amountNative,
  t: l.eventTime,
  r: l.reference ?? '',
  state: 'parked',
  d: '',
  mid: '',
  ...over,
});

const matchRows = (fs: Fact[]) => fs.filter((f) => f.table === 'matches').map((f) => f.row as MatchRow);
const discrepancies = (fs: Fact[]) => fs.filter((f) => f.table === 'discrepancy_events').map((f) => f.row as DiscrepancyEventRow);

describe('factsOfOutcome', () => {
  it.each(['parked', 'pending', 'stale'] as const)('writes nothing for a %s leg', (t) => {
    expect(factsOfOutcome(bankLeg(), { t, legId: 'bank:e1' }, NOW)).toEqual([]);
  });

  it('writes one match row (version 1, not late) when a mint matches a parked credit', () => {
    const mid = 'match:bank:e1|chain:31337:0xb:0';
    const facts = factsOfOutcome(chainLeg(), { t: 'match', legId: 'chain:31337:0xb:0', mid, by: 'attributes', rule: 'exact-attributes@7', other: stored(bankLeg()), resolves: '' }, NOW);
    expect(facts).toHaveLength(1);
    expect(matchRows(facts)[0]).toEqual({
      match_id: mid,
      flow: 'deposit',
      match_by: 'attributes',
      bank_leg_id: 'bank:e1',
      chain_leg_id: 'chain:31337:0xb:0',
      account_id: 'acc-1',
      wallet: WALLET,
      currency: 'USD',
      token_key: TOKEN_KEY,
      amount_base: '123450000000000000000',
      bank_time: 1_000,
      chain_time: 2_000,
      late: 0,
      resolved_discrepancy_id: '',
      status: 'matched',
      version: 1,
      recorded_at: NOW,
      rule_id: 'exact-attributes',
      rule_version: '7',
      confidence: 'confirmed',
      amount_difference: '0',
    });
  });

  it('puts bank and chain legs in their columns whichever side arrived last', () => {
    const mid = 'match:bank:e1|chain:31337:0xb:0';
    const fromBank = factsOfOutcome(bankLeg(), { t: 'match', legId: 'bank:e1', mid, by: 'reference', other: stored(chainLeg()), resolves: '' }, NOW);
    const fromChain = factsOfOutcome(chainLeg(), { t: 'match', legId: 'chain:31337:0xb:0', mid, by: 'reference', other: stored(bankLeg()), resolves: '' }, NOW);
    expect(matchRows(fromBank)).toEqual(matchRows(fromChain));
  });

  it("marks a late match and resolves the other leg's missing-leg discrepancy", () => {
    const mid = 'match:bank:e1|chain:31337:0xb:0';
    const facts = factsOfOutcome(
      chainLeg(),
      {
        t: 'match',
        legId: 'chain:31337:0xb:0',
        mid,
        by: 'attributes',
        other: stored(bankLeg(), { state: 'expired', d: 'MISSING_MINT:bank:e1' }),
        resolves: 'MISSING_MINT:bank:e1',
      },
      NOW,
    );
    expect(matchRows(facts)[0]).toMatchObject({ late: 1, resolved_discrepancy_id: 'MISSING_MINT:bank:e1', version: 1 });
    const [d] = discrepancies(facts);
    expect(d).toMatchObject({
      discrepancy_id: 'MISSING_MINT:bank:e1',
      event_id: 'MISSING_MINT:bank:e1:resolved',
      kind: 'MISSING_MINT',
      status: 'resolved',
      bank_leg_id: 'bank:e1',
      chain_leg_id: 'chain:31337:0xb:0',
      event_time: 2_000,
      recorded_at: NOW,
    });
  });

  it("opens AMOUNT_MISMATCH with both amounts and resolves the expired leg's discrepancy", () => {
    const did = 'AMOUNT_MISMATCH:bank:e1|chain:31337:0xb:0';
    const facts = factsOfOutcome(
      chainLeg({ amountKey: '12000' }),
      {
        t: 'mismatch',
        legId: 'chain:31337:0xb:0',
        kind: 'AMOUNT_MISMATCH',
        discrepancyId: did,
        by: 'reference',
        other: stored(bankLeg(), { state: 'expired', d: 'MISSING_MINT:bank:e1' }),
        resolves: 'MISSING_MINT:bank:e1',
      },
      NOW,
    );
    const ds = discrepancies(facts);
    expect(ds).toHaveLength(2);
    expect(ds[0]).toMatchObject({
      discrepancy_id: did,
      event_id: `${did}:open`,
      kind: 'AMOUNT_MISMATCH',
      status: 'open',
      expected_amount: '12345',
      actual_amount: '12000',
      bank_leg_id: 'bank:e1',
      chain_leg_id: 'chain:31337:0xb:0',
    });
    expect(ds[0]!.reason).toContain('12345');
    expect(ds[1]).toMatchObject({ discrepancy_id: 'MISSING_MINT:bank:e1', event_id: 'MISSING_MINT:bank:e1:resolved', kind: 'MISSING_MINT', status: 'resolved' });
    expect(matchRows(facts)).toEqual([]);
  });

  it('opens CURRENCY_MISMATCH alone when the other leg was still parked', () => {
    const did = 'CURRENCY_MISMATCH:bank:e1|chain:31337:0xb:0';
    const facts = factsOfOutcome(
      bankLeg(),
      {
        t: 'mismatch',
        legId: 'bank:e1',
        kind: 'CURRENCY_MISMATCH',
        discrepancyId: did,
        by: 'reference',
        other: stored(chainLeg({ currency: 'EUR' })),
        resolves: '',
      },
      NOW,
    );
    expect(facts).toHaveLength(1);
    expect(discrepancies(facts)[0]).toMatchObject({ event_id: `${did}:open`, kind: 'CURRENCY_MISMATCH', currency: 'USD', token_key: TOKEN_KEY });
  });

  it('opens DUPLICATE keyed by the duplicate leg when a mint reuses a matched reference', () => {
    const dup = chainLeg({ legId: 'chain:31337:0xc:1' });
    const facts = factsOfOutcome(
      dup,
      {
        t: 'duplicate',
        legId: dup.legId,
        other: stored(bankLeg(), { state: 'matched', mid: 'match:bank:e1|chain:31337:0xb:0' }),
      },
      NOW,
    );
    expect(discrepancies(facts)).toEqual([
      expect.objectContaining({
        discrepancy_id: 'DUPLICATE:chain:31337:0xc:1',
        event_id: 'DUPLICATE:chain:31337:0xc:1:open',
        kind: 'DUPLICATE',
        status: 'open',
        bank_leg_id: 'bank:e1',
        chain_leg_id: 'chain:31337:0xc:1',
      }),
    ]);
  });

  it('opens DUPLICATE keyed by leg id and the new fingerprint for a conflicting redelivery', () => {
    const again = bankLeg({ amountKey: '99999', amountNative: '99999', fingerprint: 'fp-new' });
    const facts = factsOfOutcome(again, { t: 'conflict', legId: 'bank:e1', other: stored(bankLeg()) }, NOW);
    const [d] = discrepancies(facts);
    expect(facts).toHaveLength(1);
    expect(d).toMatchObject({
      discrepancy_id: 'DUPLICATE:bank:e1:fp-new',
      event_id: 'DUPLICATE:bank:e1:fp-new:open',
      kind: 'DUPLICATE',
      bank_leg_id: 'bank:e1',
      chain_leg_id: '',
      expected_amount: '99999',
      actual_amount: '',
    });
    expect(d!.reason).toContain('12345');
  });

  it('re-versions the match as reversed (version 2) and opens REVERSAL_AFTER_MATCH when a matched credit is reversed', () => {
    const mid = 'match:bank:e1|chain:31337:0xb:0';
    const facts = factsOfOutcome(bankLeg(), { t: 'reversal', legId: 'bank:e1', mid, by: 'attributes', resolves: 'MISSING_MINT:bank:e1', other: stored(chainLeg(), { state: 'matched', mid }) }, NOW);
    // The reversed version replaces the matched one, so it keeps how and whether-late it matched.
    expect(matchRows(facts)).toEqual([
      expect.objectContaining({
        match_id: mid,
        status: 'reversed',
        version: 2,
        bank_leg_id: 'bank:e1',
        chain_leg_id: 'chain:31337:0xb:0',
        match_by: 'attributes',
        late: 1,
        resolved_discrepancy_id: 'MISSING_MINT:bank:e1',
      }),
    ]);
    expect(discrepancies(facts)).toEqual([
      expect.objectContaining({
        discrepancy_id: 'REVERSAL_AFTER_MATCH:bank:e1',
        event_id: 'REVERSAL_AFTER_MATCH:bank:e1:open',
        kind: 'REVERSAL_AFTER_MATCH',
        status: 'open',
      }),
    ]);
  });

  it('writes nothing for a reversal whose counterpart Redis no longer holds', () => {
    expect(factsOfOutcome(bankLeg(), { t: 'reversal', legId: 'bank:e1', mid: 'm', by: 'reference', resolves: '', other: null }, NOW)).toEqual([]);
  });

  it("resolves the expired leg's discrepancy when a withdrawn leg had one, and writes nothing otherwise", () => {
    const facts = factsOfOutcome(bankLeg(), { t: 'withdrawn', legId: 'bank:e1', resolves: 'MISSING_MINT:bank:e1' }, NOW);
    expect(discrepancies(facts)).toEqual([
      expect.objectContaining({
        discrepancy_id: 'MISSING_MINT:bank:e1',
        event_id: 'MISSING_MINT:bank:e1:resolved',
        kind: 'MISSING_MINT',
        status: 'resolved',
        bank_leg_id: 'bank:e1',
      }),
    ]);
    expect(factsOfOutcome(bankLeg(), { t: 'withdrawn', legId: 'bank:e1', resolves: '' }, NOW)).toEqual([]);
  });

  it('derives the same facts from the same outcome (deterministic ids for replay)', () => {
    const o = { t: 'match' as const, legId: 'chain:31337:0xb:0', mid: 'match:x', by: 'attributes' as const, other: stored(bankLeg()), resolves: 'MISSING_MINT:bank:e1' };
    expect(factsOfOutcome(chainLeg(), o, NOW)).toEqual(factsOfOutcome(chainLeg(), o, NOW));
  });
});

describe('factOfExpiredLeg', () => {
  const cases: [string, Leg, string, string][] = [
    ['bank deposit', bankLeg(), 'MISSING_MINT', 'mint'],
    ['bank withdrawal', bankLeg({ flow: 'withdrawal' }), 'MISSING_BURN', 'burn'],
    ['chain deposit', chainLeg(), 'MISSING_BANK_CREDIT', 'bank credit'],
    ['chain withdrawal', chainLeg({ flow: 'withdrawal' }), 'MISSING_BANK_DEBIT', 'bank debit'],
  ];
  it.each(cases)('opens %s as %s, naming the missing %s', (_, leg, kind, missing) => {
    const id = `${kind}:${leg.legId}`;
    const f = factOfExpiredLeg(stored(leg, { state: 'expired', d: id }), NOW);
    expect(f.table).toBe('discrepancy_events');
    const row = f.row as DiscrepancyEventRow;
    expect(row).toMatchObject({ discrepancy_id: id, event_id: `${id}:open`, kind, status: 'open', event_time: leg.eventTime, recorded_at: NOW, flow: leg.flow });
    expect(leg.side === 'bank' ? row.bank_leg_id : row.chain_leg_id).toBe(leg.legId);
    expect(leg.side === 'bank' ? row.chain_leg_id : row.bank_leg_id).toBe('');
    expect(row.reason).toContain(`saw no ${missing} `);
  });
});
