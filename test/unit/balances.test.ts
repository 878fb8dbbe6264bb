import { describe, expect, it } from 'vitest';
import { compareBalances, driftDecision, type BalanceComparison, type BalanceInputs } from '../../src/domain/balances.js';

const W = '0x1111111111111111111111111111111111111111';
const W6 = '0x2222222222222222222222222222222222222222';
const T18 = '31337:0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
const T6 = '31337:0xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
const E18 = 10n ** 18n;

const inputs = (over: Partial<BalanceInputs> = {}): BalanceInputs => ({
  bank: [{ accountId: 'acc-1', currency: 'USD', exponent: 2, minor: 10_000n }],
  wallets: [{ wallet: W, tokenKey: T18, decimals: 18, base: 100n * E18 }],
  bankInFlight: [],
  chainInFlight: [],
  reportedSupply: [],
  tokens: [
    { tokenKey: T18, currency: 'USD' },
    { tokenKey: T6, currency: 'USD' },
  ],
  accountOfWallet: (w) => (w === W || w === W6 ? 'acc-1' : undefined),
  ...over,
});

const pick = (rows: BalanceComparison[], scope: 'account' | 'currency') => {
  const r = rows.find((x) => x.scope === scope);
  if (!r) throw new Error(`no ${scope} row in ${JSON.stringify(rows, (_, v) => (typeof v === 'bigint' ? v.toString() : v))}`);
  return r;
};

describe('compareBalances', () => {
  it('finds nothing unexplained when 100.00 USD at the bank meets 100 18-decimal tokens', () => {
    const rows = compareBalances(inputs());
    expect(rows).toHaveLength(2);
    const acc = pick(rows, 'account');
    expect(acc).toMatchObject({ subject: 'acc-1', currency: 'USD', decimals: 18, bank: 100n * E18, chain: 100n * E18, inFlight: 0n, unexplained: 0n });
    expect(pick(rows, 'currency')).toMatchObject({ subject: 'USD', bank: 100n * E18, chain: 100n * E18, reported: 100n * E18, unexplained: 0n });
  });

  it('stays exact at extreme values: Int128-max bank balances scaled to 18 decimals against UInt256-max wallets', () => {
    const bankMinor = 2n ** 127n - 1n;
    const walletBase = 2n ** 256n - 1n;
    const rows = compareBalances(
      inputs({
        bank: [{ accountId: 'acc-1', currency: 'USD', exponent: 2, minor: bankMinor }],
        wallets: [
          { wallet: W, tokenKey: T18, decimals: 18, base: walletBase },
          { wallet: W6, tokenKey: T6, decimals: 6, base: walletBase },
        ],
        chainInFlight: [{ wallet: W, tokenKey: T18, decimals: 18, base: -walletBase }],
      }),
    );
    const acc = pick(rows, 'account');
    expect(acc.bank).toBe(bankMinor * 10n ** 16n);
    expect(acc.chain).toBe(walletBase + walletBase * 10n ** 12n);
    expect(acc.inFlight).toBe(walletBase);
    expect(acc.unexplained).toBe(bankMinor * 10n ** 16n - (walletBase + walletBase * 10n ** 12n) - walletBase);
  });

  it('links a gap an open MISSING_MINT already names instead of calling it unexplained', () => {
    // 100.00 credited, never minted: the credit is named by its open MISSING_MINT.
    const rows = compareBalances(inputs({ wallets: [{ wallet: W, tokenKey: T18, decimals: 18, base: 0n }], bankOpen: [{ accountId: 'acc-1', currency: 'USD', minor: 10_000n }] }));
    expect(pick(rows, 'account')).toMatchObject({ bank: 100n * E18, chain: 0n, explained: 100n * E18, unexplained: 0n });
    expect(pick(rows, 'currency')).toMatchObject({ explained: 100n * E18, unexplained: 0n });
  });

  it('links a mint named by an open MISSING_BANK_CREDIT, and leaves what nothing names unexplained', () => {
    const rows = compareBalances(
      inputs({
        wallets: [{ wallet: W, tokenKey: T18, decimals: 18, base: 130n * E18 }],
        chainOpen: [{ wallet: W, tokenKey: T18, decimals: 18, base: 20n * E18 }],
      }),
    );
    // 100 bank against 130 chain: 20 named by the open discrepancy, 10 unexplained.
    expect(pick(rows, 'account')).toMatchObject({ explained: -20n * E18, unexplained: -10n * E18 });
  });

  it('reports a gap with nothing in flight as unexplained, in token base units', () => {
    const rows = compareBalances(inputs({ wallets: [{ wallet: W, tokenKey: T18, decimals: 18, base: 99n * E18 }] }));
    expect(pick(rows, 'account').unexplained).toBe(1n * E18);
  });

  it('explains a gap by a parked bank credit still in flight', () => {
    const rows = compareBalances(
      inputs({
        bank: [{ accountId: 'acc-1', currency: 'USD', exponent: 2, minor: 15_000n }],
        bankInFlight: [{ accountId: 'acc-1', currency: 'USD', minor: 5_000n }],
      }),
    );
    expect(pick(rows, 'account')).toMatchObject({ inFlight: 50n * E18, unexplained: 0n });
    expect(pick(rows, 'currency')).toMatchObject({ inFlight: 50n * E18, unexplained: 0n });
  });

  it('explains a positive gap (bank above chain) by a burn still in flight', () => {
    const rows = compareBalances(
      inputs({
        wallets: [{ wallet: W, tokenKey: T18, decimals: 18, base: 70n * E18 }],
        chainInFlight: [{ wallet: W, tokenKey: T18, decimals: 18, base: -30n * E18 }],
      }),
    );
    expect(pick(rows, 'account')).toMatchObject({ bank: 100n * E18, chain: 70n * E18, inFlight: 30n * E18, unexplained: 0n });
  });

  it('explains a negative gap (chain above bank) by a mint still in flight', () => {
    const rows = compareBalances(
      inputs({
        wallets: [{ wallet: W, tokenKey: T18, decimals: 18, base: 150n * E18 }],
        chainInFlight: [{ wallet: W, tokenKey: T18, decimals: 18, base: 50n * E18 }],
      }),
    );
    expect(pick(rows, 'account')).toMatchObject({ inFlight: -50n * E18, unexplained: 0n });
  });

  it('adds a 6-decimal and an 18-decimal token of one currency exactly, at 18 decimals', () => {
    const rows = compareBalances(
      inputs({
        bank: [{ accountId: 'acc-1', currency: 'USD', exponent: 2, minor: 401n }], // 4.01 USD
        wallets: [
          { wallet: W6, tokenKey: T6, decimals: 6, base: 1_510_000n }, // 1.51
          { wallet: W, tokenKey: T18, decimals: 18, base: 25n * 10n ** 17n }, // 2.5
        ],
      }),
    );
    const acc = pick(rows, 'account');
    expect(acc.decimals).toBe(18);
    expect(acc.chain).toBe(4_010_000_000_000_000_000n);
    expect(acc.bank).toBe(4_010_000_000_000_000_000n);
    expect(acc.unexplained).toBe(0n);
  });

  it('uses the reported totalSupply for the currency scope and the events for the account scope', () => {
    const rows = compareBalances(inputs({ reportedSupply: [{ tokenKey: T18, decimals: 18, base: 103n * E18 }] }));
    expect(pick(rows, 'currency')).toMatchObject({ chain: 100n * E18, reported: 103n * E18, unexplained: -3n * E18 });
    expect(pick(rows, 'account')).toMatchObject({ reported: 100n * E18, unexplained: 0n });
  });

  it('counts an unmapped wallet in the currency scope only', () => {
    const rows = compareBalances(
      inputs({
        wallets: [
          { wallet: W, tokenKey: T18, decimals: 18, base: 100n * E18 },
          { wallet: '0x9999999999999999999999999999999999999999', tokenKey: T18, decimals: 18, base: 5n * E18 },
        ],
      }),
    );
    expect(pick(rows, 'account').chain).toBe(100n * E18);
    expect(pick(rows, 'currency').chain).toBe(105n * E18);
  });
});

describe('driftDecision', () => {
  const cmp = (unexplained: bigint): BalanceComparison => ({
    scope: 'account',
    subject: 'acc-1',
    currency: 'USD',
    decimals: 18,
    bank: 0n,
    chain: 0n,
    reported: 0n,
    inFlight: 0n,
    explained: 0n,
    unexplained,
  });
  const opts = { toleranceBase: 10n, graceMs: 60_000 };

  it('does nothing while the unexplained part is within tolerance (inclusive, either sign)', () => {
    expect(driftDecision(cmp(10n), {}, opts, 1_000)).toEqual({ next: {} });
    expect(driftDecision(cmp(-10n), {}, opts, 1_000)).toEqual({ next: {} });
  });

  it('starts the clock but opens nothing for drift shorter than the grace period', () => {
    const first = driftDecision(cmp(11n), {}, opts, 1_000);
    expect(first).toEqual({ next: { since: 1_000 } });
    const later = driftDecision(cmp(-500n), first.next, opts, 60_999);
    expect(later.open).toBeUndefined();
    expect(later.next).toEqual({ since: 1_000 });
  });

  it('opens BALANCE_DRIFT with the drift start in its id once drift has lasted the grace period, and only once', () => {
    const d = driftDecision(cmp(11n), { since: 1_000 }, opts, 61_000);
    expect(d.open).toBe('BALANCE_DRIFT:account:acc-1:USD:1000');
    expect(d.next).toEqual({ since: 1_000, openId: 'BALANCE_DRIFT:account:acc-1:USD:1000' });
    const again = driftDecision(cmp(11n), d.next, opts, 120_000);
    expect(again.open).toBeUndefined();
    expect(again.next.openId).toBe('BALANCE_DRIFT:account:acc-1:USD:1000');
  });

  it('resolves the open drift and resets the clock when back within tolerance', () => {
    const d = driftDecision(cmp(0n), { since: 1_000, openId: 'BALANCE_DRIFT:account:acc-1:USD:1000' }, opts, 200_000);
    expect(d).toEqual({ next: {}, resolve: 'BALANCE_DRIFT:account:acc-1:USD:1000' });
  });

  it('forgets a drift that recovered before the grace period', () => {
    expect(driftDecision(cmp(0n), { since: 1_000 }, opts, 30_000)).toEqual({ next: {} });
  });
});
