import { describe, expect, it } from 'vitest';
import { chainEventToLeg, ledgerEntryToLeg } from '../../src/domain/legs.js';
import { IdentityMap } from '../../src/domain/identityMap.js';
import { currencyExponent } from '../../src/domain/currencies.js';
import { amlShardOf, amlWindowPrefixes, crc16, fnv1a32, shardedLeg, shardKeyOf, shardOf, shardPrefixes, shardTags, slotOfTag } from '../../src/domain/stateShards.js';
import type { ChainEvent, LedgerEntry, Leg } from '../../src/domain/types.js';

const W1 = '0x1111111111111111111111111111111111111111';
const W2 = '0x2222222222222222222222222222222222222222';
const OMNI = '0x4444444444444444444444444444444444444444';
const TOKEN = '0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
const ZERO = '0x0000000000000000000000000000000000000000';

const ids = new IdentityMap(currencyExponent, {
  accounts: [
    { accountId: 'CUST-1', wallets: [W1] },
    { accountId: 'CUST-2', wallets: [W2] },
    { accountId: 'OMNIBUS', wallets: [OMNI] },
  ],
  tokens: [{ chainId: 31337, address: TOKEN, currency: 'USD' }],
});

const credit = (entryId: string, accountId: string, amountMinor: bigint, tokenizationRef: string | null = null): Leg => {
  const e: LedgerEntry = {
    entryId,
    accountId,
    direction: 'credit',
    amountMinor,
    currency: 'USD',
    exponent: 2,
    bookingTime: 1_700_000_000_000,
    valueTime: 1_700_000_000_000,
    status: 'booked',
    txType: 'deposit',
    endToEndId: null,
    remittance: null,
    tokenizationRef,
    schemaVersion: 2,
  };
  const d = ledgerEntryToLeg(e, ids);
  if (d.kind !== 'leg') throw new Error(d.kind);
  return d.leg;
};

const mint = (logIndex: number, to: string, value: bigint, reference: string | null = null): Leg => {
  const ev: ChainEvent = {
    eventId: `31337:0x${'ab'.repeat(32)}:${logIndex}`,
    chainId: 31337,
    token: TOKEN,
    blockNumber: 7n,
    blockHash: `0x${'ab'.repeat(32)}`,
    blockTime: 1_700_000_001_000,
    txHash: `0x${'cd'.repeat(32)}`,
    logIndex,
    kind: 'mint',
    from: ZERO,
    to,
    value,
    decimals: 2,
    reference,
  };
  const d = chainEventToLeg(ev, ids);
  if (d.kind !== 'leg') throw new Error(d.kind);
  return d.leg;
};

describe('the shard of a leg', () => {
  it('puts both legs of an account pair in one shard: the chain wallet resolves to the account', () => {
    for (let i = 0; i < 50; i++) {
      const acct = i % 2 ? 'CUST-1' : 'CUST-2';
      const wallet = i % 2 ? W1 : W2;
      const b = credit(`e${i}`, acct, BigInt(1000 + i));
      const c = mint(i, wallet, BigInt(1000 + i), i % 3 === 0 ? `REF-${i}` : null);
      expect(shardOf(b, 6, 'account')).toBe(shardOf(c, 6, 'account'));
    }
  });

  it('by account: an omnibus mint and its customers’ credits with the batch id fall apart (the documented limit)', () => {
    const keys = [credit('c1', 'CUST-1', 25_000n, 'BATCH-42'), credit('c2', 'CUST-2', 75_000n, 'BATCH-42'), mint(1, OMNI, 100_000n, 'BATCH-42')].map((l) => shardKeyOf(l, 'account'));
    expect(new Set(keys).size).toBe(3);
  });

  it('by reference: the omnibus batch is one shard; a leg without a reference goes by its account', () => {
    const legs = [credit('c1', 'CUST-1', 25_000n, 'BATCH-42'), credit('c2', 'CUST-2', 75_000n, 'BATCH-42'), mint(1, OMNI, 100_000n, 'BATCH-42')];
    expect(new Set(legs.map((l) => shardKeyOf(l, 'reference')))).toEqual(new Set(['ref:BATCH-42']));
    expect(shardKeyOf(credit('c3', 'CUST-1', 1n), 'reference')).toBe('acct:CUST-1');
  });

  it('is the same for a leg and for the record Redis stores of it (account `a`, reference `r`, "" for none)', () => {
    const l = mint(3, W1, 500n, 'R-9');
    const stored = { a: l.accountId, r: l.reference ?? '' };
    for (const mode of ['account', 'reference'] as const) expect(shardOf(shardedLeg(stored), 7, mode)).toBe(shardOf(shardedLeg(l), 7, mode));
    expect(shardedLeg({ a: 'X', r: '' })).toEqual({ accountId: 'X', reference: null });
  });

  it('depends on nothing that changes over a leg’s life: status, amount, time', () => {
    const a = credit('e1', 'CUST-1', 100n);
    const b = { ...credit('e1', 'CUST-1', 999n), eventTime: a.eventTime + 60_000 };
    expect(shardOf(a, 16, 'account')).toBe(shardOf(b, 16, 'account'));
  });

  it('is FNV-1a of the key modulo the count, and 0 with one shard', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
    const l = credit('e1', 'CUST-2', 1n);
    expect(shardOf(l, 5, 'account')).toBe(fnv1a32('acct:CUST-2') % 5);
    expect(shardOf(l, 1, 'account')).toBe(0);
  });

  it('spreads many accounts evenly over the shards (each within ±20 % of the mean)', () => {
    const n = 6;
    const counts = Array.from({ length: n }, () => 0);
    for (let i = 0; i < 6_000; i++) counts[shardOf({ accountId: `ACC-${i}`, reference: null }, n, 'account')]!++;
    for (const c of counts) expect(Math.abs(c - 1_000)).toBeLessThan(200);
  });
});

describe('the hash tags of the shards', () => {
  it('computes slots as Redis Cluster does (CRC16-XMODEM mod 16384)', () => {
    expect(crc16('123456789')).toBe(0x31c3);
    // Values from the Redis documentation and `CLUSTER KEYSLOT`.
    expect(slotOfTag('somekey')).toBe(11_058);
    expect(slotOfTag('hash_tag')).toBe(2_515);
  });

  it('keeps today’s `{m}` with one shard', () => {
    expect(shardTags(1)).toEqual(['m']);
    expect(shardPrefixes('recon', 1)).toEqual(['recon:{m}:']);
  });

  it('gives shard i a slot in the i-th equal range of the slot space, so equal-range masters share the shards evenly', () => {
    for (const n of [2, 3, 6, 8, 16]) {
      const tags = shardTags(n);
      expect(new Set(tags).size).toBe(n);
      tags.forEach((t, i) => {
        expect(t).toMatch(new RegExp(`^m${i}(\\.\\d+)?$`));
        const slot = slotOfTag(t);
        expect(slot).toBeGreaterThanOrEqual(Math.floor((i * 16_384) / n));
        expect(slot).toBeLessThan(Math.floor(((i + 1) * 16_384) / n));
      });
    }
    // Three masters with the default split (0-5460, 5461-10922, 10923-16383) get two of six each.
    const master = (slot: number) => (slot <= 5460 ? 0 : slot <= 10_922 ? 1 : 2);
    expect(shardTags(6).map((t) => master(slotOfTag(t)))).toEqual([0, 0, 1, 1, 2, 2]);
    expect(shardPrefixes('recon', 6)[0]).toBe(`recon:{${shardTags(6)[0]}}:`);
  });

  it('lays the AML windows out like the match state: today’s `{aml}` with one shard, shard i of both in the same slot range', () => {
    expect(amlWindowPrefixes('recon', 1)).toEqual(['recon:{aml}:']);
    const aml = shardTags(6, 'aml');
    const m = shardTags(6);
    expect(new Set(aml).size).toBe(6);
    for (let i = 0; i < 6; i++) expect(Math.floor((slotOfTag(aml[i]!) * 6) / 16_384)).toBe(Math.floor((slotOfTag(m[i]!) * 6) / 16_384));
    // A customer's windows (any currency) sit in its account's match shard; an account id may hold colons.
    for (const acct of ['CUST-1', 'DE89:3704/eur', '0xabc']) {
      const leg = shardOf({ accountId: acct, reference: null }, 6, 'account');
      expect(amlShardOf(`customer:${acct}:EUR`, 6)).toBe(leg);
      expect(amlShardOf(`customer:${acct}:USD`, 6)).toBe(leg);
    }
    expect(amlShardOf('customer:CUST-1:EUR', 1)).toBe(0);
  });
});
