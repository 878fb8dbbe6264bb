import type { BalanceSnapshotRow } from './facts.js';

/** Inputs of one balance check, all exact integers. */
export interface BalanceInputs {
  /** Booked bank balance per account and currency, minor units (credits − debits). */
  bank: { accountId: string; currency: string; exponent: number; minor: bigint }[];
  /** On-chain balance per wallet and token from confirmed events, base units. */
  wallets: { wallet: string; tokenKey: string; decimals: number; base: bigint }[];
  /** Bank legs still inside their window (signed: credit +, debit −), minor units. */
  bankInFlight: { accountId: string; currency: string; minor: bigint }[];
  /** Chain legs still inside their window (signed: mint +, burn −), base units. */
  chainInFlight: { wallet: string; tokenKey: string; decimals: number; base: bigint }[];
  /** Unmatched bank legs named by an open discrepancy (a MISSING_MINT's credit…), signed, minor units. */
  bankOpen?: { accountId: string; currency: string; minor: bigint }[];
  /** Unmatched chain legs named by an open discrepancy, signed, base units. */
  chainOpen?: { wallet: string; tokenKey: string; decimals: number; base: bigint }[];
  /** totalSupply() read from each token contract at the confirmed block, when available. */
  reportedSupply: { tokenKey: string; decimals: number; base: bigint }[];
  tokens: { tokenKey: string; currency: string }[];
  accountOfWallet: (wallet: string) => string | undefined;
}

/** A comparison of the two books for one subject, in one unit (the largest token decimals of the currency). */
export interface BalanceComparison {
  scope: 'account' | 'currency';
  subject: string;
  currency: string;
  decimals: number;
  bank: bigint;
  chain: bigint;
  reported: bigint;
  inFlight: bigint;
  /** The part of the gap that open leg discrepancies already name (a MISSING_MINT's credit, …). */
  explained: bigint;
  /** bank − chain − inFlight − explained: the part of the gap that nothing in flight or already open explains. */
  unexplained: bigint;
}

const scale = (v: bigint, from: number, to: number) => (to >= from ? v * 10n ** BigInt(to - from) : v / 10n ** BigInt(from - to));

/**
 * Compares the bank's books with the chain's, per account and per currency, in the token base
 * units of the currency (scaled to its largest token decimals so several tokens add up exactly).
 * The gap explained by legs still in flight is separated from the unexplained part.
 */
export function compareBalances(i: BalanceInputs): BalanceComparison[] {
  const currencyOfToken = new Map(i.tokens.map((t) => [t.tokenKey, t.currency]));
  const decimalsOf = new Map<string, number>();
  const noteDecimals = (tokenKey: string, d: number) => {
    const c = currencyOfToken.get(tokenKey);
    if (c) decimalsOf.set(c, Math.max(decimalsOf.get(c) ?? 0, d));
  };
  for (const w of i.wallets) noteDecimals(w.tokenKey, w.decimals);
  for (const s of i.reportedSupply) noteDecimals(s.tokenKey, s.decimals);
  for (const b of i.bank) if (!decimalsOf.has(b.currency)) decimalsOf.set(b.currency, b.exponent);
  const exponentOf = new Map(i.bank.map((b) => [b.currency, b.exponent]));

  const rows = new Map<string, BalanceComparison>();
  const row = (scope: 'account' | 'currency', subject: string, currency: string) => {
    const k = `${scope}|${subject}|${currency}`;
    let r = rows.get(k);
    if (!r) {
      r = { scope, subject, currency, decimals: decimalsOf.get(currency) ?? 0, bank: 0n, chain: 0n, reported: 0n, inFlight: 0n, explained: 0n, unexplained: 0n };
      rows.set(k, r);
    }
    return r;
  };
  const D = (c: string) => decimalsOf.get(c) ?? 0;

  for (const b of i.bank) {
    const v = scale(b.minor, b.exponent, D(b.currency));
    row('account', b.accountId, b.currency).bank += v;
    row('currency', b.currency, b.currency).bank += v;
  }
  for (const b of i.bankInFlight) {
    const v = scale(b.minor, exponentOf.get(b.currency) ?? 0, D(b.currency));
    row('account', b.accountId, b.currency).inFlight += v;
    row('currency', b.currency, b.currency).inFlight += v;
  }
  for (const b of i.bankOpen ?? []) {
    const v = scale(b.minor, exponentOf.get(b.currency) ?? 0, D(b.currency));
    row('account', b.accountId, b.currency).explained += v;
    row('currency', b.currency, b.currency).explained += v;
  }
  for (const w of i.chainOpen ?? []) {
    const c = currencyOfToken.get(w.tokenKey);
    if (!c) continue;
    const v = scale(w.base, w.decimals, D(c));
    const account = i.accountOfWallet(w.wallet);
    if (account) row('account', account, c).explained -= v;
    row('currency', c, c).explained -= v;
  }
  for (const w of i.wallets) {
    const c = currencyOfToken.get(w.tokenKey);
    if (!c) continue;
    const v = scale(w.base, w.decimals, D(c));
    const account = i.accountOfWallet(w.wallet);
    if (account) row('account', account, c).chain += v;
    row('currency', c, c).chain += v;
  }
  for (const w of i.chainInFlight) {
    const c = currencyOfToken.get(w.tokenKey);
    if (!c) continue;
    const v = scale(w.base, w.decimals, D(c));
    const account = i.accountOfWallet(w.wallet);
    if (account) row('account', account, c).inFlight -= v;
    row('currency', c, c).inFlight -= v;
  }
  const reported = new Map<string, bigint>();
  for (const s of i.reportedSupply) {
    const c = currencyOfToken.get(s.tokenKey);
    if (c) reported.set(c, (reported.get(c) ?? 0n) + scale(s.base, s.decimals, D(c)));
  }
  for (const r of rows.values()) {
    // Per currency the contract's own totalSupply is the chain's word; per account, the events.
    r.reported = r.scope === 'currency' ? (reported.get(r.currency) ?? r.chain) : r.chain;
    r.unexplained = r.bank - r.reported - r.inFlight - r.explained;
  }
  return [...rows.values()].sort((a, b) => (a.scope + a.subject + a.currency).localeCompare(b.scope + b.subject + b.currency));
}

export function snapshotRow(c: BalanceComparison, at: number): BalanceSnapshotRow {
  return {
    snapshot_id: `${c.scope}:${c.subject}:${c.currency}:${at}`,
    scope: c.scope,
    subject: c.subject,
    currency: c.currency,
    token_key: '',
    bank_balance: c.bank.toString(),
    chain_balance: c.chain.toString(),
    onchain_reported: c.reported.toString(),
    in_flight: c.inFlight.toString(),
    explained_by_open: c.explained.toString(),
    unexplained: c.unexplained.toString(),
    at,
  };
}

const abs = (v: bigint) => (v < 0n ? -v : v);

/** Drift bookkeeping: when unexplained drift began, and which drift discrepancy is open. */
export interface DriftState {
  since?: number;
  openId?: string;
}

/**
 * Decides what a comparison means for its drift discrepancy: nothing, open one (the unexplained
 * part has exceeded the tolerance for longer than the grace period) or resolve the open one.
 */
export function driftDecision(c: BalanceComparison, s: DriftState, o: { toleranceBase: bigint; graceMs: number }, now: number): { next: DriftState; open?: string; resolve?: string } {
  const drifting = abs(c.unexplained) > o.toleranceBase;
  if (!drifting) return s.openId ? { next: {}, resolve: s.openId } : { next: {} };
  const since = s.since ?? now;
  if (!s.openId && now - since >= o.graceMs) {
    const id = `BALANCE_DRIFT:${c.scope}:${c.subject}:${c.currency}:${since}`;
    return { next: { since, openId: id }, open: id };
  }
  return { next: { ...s, since } };
}
