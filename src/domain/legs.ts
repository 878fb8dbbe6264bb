import { hash } from 'node:crypto';
import type { ChainEvent, Flow, LedgerEntry, Leg } from './types.js';

/** Identity knowledge the normaliser needs: bank accounts ↔ wallets, tokens ↔ currencies. */
export interface IdentityView {
  accountOfWallet(wallet: string): string | undefined;
  walletsOfAccount(accountId: string): readonly string[];
  /** The currency a token contract represents, by `${chainId}:${address}`. */
  currencyOfToken(tokenKey: string): string | undefined;
  exponentOf(currency: string): number;
}

export type LegDecision =
  /** The posting or event takes part in matching. */
  | { kind: 'leg'; leg: Leg }
  /** Recorded as a fact, but not matched (transfers, fees, wallet-to-wallet token transfers). */
  | { kind: 'unmatched' }
  /** Its identity is not mapped. */
  | { kind: 'orphan'; reason: string };

export const tokenKeyOf = (chainId: number, address: string) => `${chainId}:${address.toLowerCase()}`;

const shortHash = (s: string) => hash('sha256', s, 'hex').slice(0, 16);

/** Which flow a posting belongs to: deposit credits meet mints, withdrawal debits meet burns. */
export function flowOfEntry(e: Pick<LedgerEntry, 'txType' | 'direction'>): Flow | null {
  if (e.txType === 'deposit' && e.direction === 'credit') return 'deposit';
  if (e.txType === 'withdrawal' && e.direction === 'debit') return 'withdrawal';
  return null;
}

/**
 * Exact canonical decimal string of a token amount in minor units of its currency: integral
 * amounts print as integers, fractional ones keep every digit ("12345.000000000000001").
 */
/** `minorUnitsKey` of a signed amount (a balance may be negative). */
export function signedMinorUnits(value: bigint, decimals: number, exponent: number): string {
  return value < 0n ? `-${minorUnitsKey(-value, decimals, exponent)}` : minorUnitsKey(value, decimals, exponent);
}

export function minorUnitsKey(value: bigint, decimals: number, exponent: number): string {
  if (decimals <= exponent) return (value * 10n ** BigInt(exponent - decimals)).toString();
  const scale = 10n ** BigInt(decimals - exponent);
  const whole = value / scale;
  const frac = value % scale;
  if (frac === 0n) return whole.toString();
  const digits = frac
    .toString()
    .padStart(decimals - exponent, '0')
    .replace(/0+$/, '');
  return `${whole}.${digits}`;
}

/** Normalises a validated ledger entry into a bank leg, or says why it is not one. */
export function ledgerEntryToLeg(e: LedgerEntry, ids: IdentityView): LegDecision {
  const flow = flowOfEntry(e);
  // Fees and transfers are ordinary banking: on an account outside the token programme they are
  // simply not ours to match. A deposit or withdrawal there is an orphan: tokens were expected.
  if (!flow) return { kind: 'unmatched' };
  const wallets = ids.walletsOfAccount(e.accountId);
  if (wallets.length === 0) return { kind: 'orphan', reason: `bank account ${e.accountId} is not mapped to any wallet` };
  return {
    kind: 'leg',
    leg: {
      legId: `bank:${e.entryId}`,
      side: 'bank',
      flow,
      accountId: e.accountId,
      wallet: wallets.length === 1 ? wallets[0]! : '',
      currency: e.currency,
      tokenKey: '',
      amountKey: e.amountMinor.toString(),
      amountNative: e.amountMinor.toString(),
      eventTime: e.bookingTime,
      // A batch (camt: one entry with several transactions) minted by one batch mint carries the
      // batch id as the mint's reference: without a tokenization reference of its own, a leg is
      // found by its batch id, and the tranche rules make the batch's legs one N:1 split (across
      // accounts too: the omnibus mint of several customers' deposits).
      reference: e.tokenizationRef ?? e.details?.groupId ?? null,
      fingerprint: shortHash(`${e.accountId}|${e.direction}|${e.amountMinor}|${e.currency}|${e.txType}`),
    },
  };
}

/** Normalises a confirmed chain event into a chain leg, or says why it is not one. */
export function chainEventToLeg(ev: ChainEvent, ids: IdentityView): LegDecision {
  const tokenKey = tokenKeyOf(ev.chainId, ev.token);
  const currency = ids.currencyOfToken(tokenKey);
  if (!currency) return { kind: 'orphan', reason: `token ${tokenKey} is not mapped to a currency` };
  // A collateral update is recorded as a fact; nothing on the bank side pairs with it.
  if (ev.kind === 'collateral') return { kind: 'unmatched' };
  if (ev.kind === 'transfer') {
    const known = ids.accountOfWallet(ev.from) ?? ids.accountOfWallet(ev.to);
    return known ? { kind: 'unmatched' } : { kind: 'orphan', reason: `neither ${ev.from} nor ${ev.to} is a mapped wallet` };
  }
  const wallet = ev.kind === 'mint' ? ev.to : ev.from;
  const accountId = ids.accountOfWallet(wallet);
  if (!accountId) return { kind: 'orphan', reason: `wallet ${wallet} is not mapped to a bank account` };
  return {
    kind: 'leg',
    leg: {
      legId: `chain:${ev.eventId}`,
      side: 'chain',
      flow: ev.kind === 'mint' ? 'deposit' : 'withdrawal',
      accountId,
      wallet,
      currency,
      tokenKey,
      amountKey: minorUnitsKey(ev.value, ev.decimals, ids.exponentOf(currency)),
      amountNative: ev.value.toString(),
      eventTime: ev.blockTime,
      reference: ev.reference,
      fingerprint: shortHash(`${tokenKey}|${ev.from}|${ev.to}|${ev.value}`),
    },
  };
}
