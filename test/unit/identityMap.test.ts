import { describe, expect, it } from 'vitest';
import { IdentityMap } from '../../src/domain/identityMap.js';
import { currencyExponent } from '../../src/domain/currencies.js';

const A = '0xAaAa000000000000000000000000000000000001';
const B = '0xbbbb000000000000000000000000000000000002';
const C = '0xcccc000000000000000000000000000000000003';

const seeded = () =>
  new IdentityMap(currencyExponent, {
    accounts: [{ accountId: 'acc-1', wallets: [A, B] }],
    tokens: [{ chainId: 1, address: '0xDdDd000000000000000000000000000000000004', currency: 'EUR' }],
  });

describe('IdentityMap', () => {
  it('stores wallets lower case and finds them whatever the case', () => {
    const m = seeded();
    expect(m.accountOfWallet(A)).toBe('acc-1');
    expect(m.accountOfWallet(A.toLowerCase())).toBe('acc-1');
    expect(m.accountOfWallet(A.toUpperCase().replace('0X', '0x'))).toBe('acc-1');
    expect(m.walletsOfAccount('acc-1')).toEqual([A.toLowerCase(), B]);
  });

  it('finds a token currency whatever the case of the token key', () => {
    const m = seeded();
    expect(m.currencyOfToken('1:0xdddd000000000000000000000000000000000004')).toBe('EUR');
    expect(m.currencyOfToken('1:0xDDDD000000000000000000000000000000000004')).toBe('EUR');
    expect(m.currencyOfToken('2:0xdddd000000000000000000000000000000000004')).toBeUndefined();
  });

  it('replaces the wallets of an account: a dropped wallet no longer resolves', () => {
    const m = seeded();
    m.setAccount({ accountId: 'acc-1', wallets: [C] });
    expect(m.walletsOfAccount('acc-1')).toEqual([C]);
    expect(m.accountOfWallet(A)).toBeUndefined();
    expect(m.accountOfWallet(B)).toBeUndefined();
    expect(m.accountOfWallet(C)).toBe('acc-1');
  });

  it('moves a wallet re-linked to another account out of the first', () => {
    const m = seeded();
    m.setAccount({ accountId: 'acc-2', wallets: [B] });
    expect(m.accountOfWallet(B)).toBe('acc-2');
    expect(m.walletsOfAccount('acc-1')).toEqual([A.toLowerCase()]);
    expect(m.walletsOfAccount('acc-2')).toEqual([B]);
    // Re-mapping the first account later must not steal the moved wallet back.
    m.setAccount({ accountId: 'acc-1', wallets: [A] });
    expect(m.accountOfWallet(B)).toBe('acc-2');
  });

  it('stops counting an account whose every wallet moved to another account', () => {
    const m = seeded();
    m.setAccount({ accountId: 'acc-2', wallets: [A, B] });
    expect(m.walletsOfAccount('acc-1')).toEqual([]);
    // acc-1 is now in the same state as one unmapped with an empty list.
    expect(m.accountCount).toBe(1);
  });

  it('unmaps an account given an empty wallet list', () => {
    const m = seeded();
    expect(m.accountCount).toBe(1);
    m.setAccount({ accountId: 'acc-1', wallets: [] });
    expect(m.walletsOfAccount('acc-1')).toEqual([]);
    expect(m.accountOfWallet(A)).toBeUndefined();
    expect(m.accountCount).toBe(0);
  });

  it('reports a wallet re-linked to another account as moved, with both accounts', () => {
    const m = seeded();
    expect(m.setAccount({ accountId: 'acc-2', wallets: [B, C] })).toEqual([
      { kind: 'moved', wallet: B, from: 'acc-1', to: 'acc-2' },
      { kind: 'linked', wallet: C, from: null, to: 'acc-2' },
    ]);
  });

  it('reports wallets dropped from an account as unlinked, and nothing for wallets that stay', () => {
    const m = seeded();
    expect(m.setAccount({ accountId: 'acc-1', wallets: [B] })).toEqual([{ kind: 'unlinked', wallet: A.toLowerCase(), from: 'acc-1', to: null }]);
    expect(m.setAccount({ accountId: 'acc-1', wallets: [B.toUpperCase().replace('0X', '0x')] })).toEqual([]);
  });

  it('does not report a wallet moved away earlier as unlinked when its old account is re-mapped', () => {
    const m = seeded();
    m.setAccount({ accountId: 'acc-2', wallets: [B] });
    expect(m.setAccount({ accountId: 'acc-1', wallets: [] })).toEqual([{ kind: 'unlinked', wallet: A.toLowerCase(), from: 'acc-1', to: null }]);
  });

  it('answers the currency exponent through the function it was given', () => {
    expect(seeded().exponentOf('JPY')).toBe(0);
    expect(seeded().exponentOf('BHD')).toBe(3);
  });

  it('keeps the peer segment an update names, and the default for accounts and wallets that name none', () => {
    const m = seeded();
    expect(m.segmentOf('acc-1')).toBe('default');
    expect(m.setAccount({ accountId: 'acc-1', wallets: [A, B], segment: 'sme' })).toEqual([]); // no identity change
    m.setAccount({ accountId: 'acc-2', wallets: [], segment: 'corporate' });
    expect(m.segmentOf('acc-1')).toBe('sme');
    expect(m.segmentCustomers()).toEqual([
      { customer: 'acc-1', segment: 'sme' },
      { customer: 'acc-2', segment: 'corporate' },
    ]);
    // An update is the whole mapping: one without a segment puts the account back in the default.
    m.setAccount({ accountId: 'acc-1', wallets: [A] });
    expect(m.segmentOf('acc-1')).toBe('default');
    expect(m.segmentOf(C.toLowerCase())).toBe('default');
  });
});
