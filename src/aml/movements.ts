/**
 * Normalises what the engine reads into movements per subject (pure, no I/O).
 *
 * - A booked bank posting moves value in (credit) or out (debit) of its customer; pending and
 *   reversed postings, and tx types outside the rule file's `bankTxTypes`, are not movements.
 * - A chain event moves tokens between wallets. At wallet scope every mint, burn and transfer is a
 *   movement of the wallets it touches. At customer (and currency) scope a wallet stands for its
 *   customer: a transfer between two wallets of one customer is no movement at all, and a mint or
 *   burn of a mapped wallet is the chain's mirror of a bank deposit or withdrawal that the posting
 *   already counts, so it is skipped (a wallet mapped to no account is its own customer).
 * - Token amounts are floored to whole minor units of the token's currency (rule thresholds are
 *   whole minor units, so `floor(x) >= t` exactly when `x >= t`).
 */
import type { IdentityView } from '../domain/legs.js';
import { tokenKeyOf } from '../domain/legs.js';
import type { ChainEvent, LedgerEntry } from '../domain/types.js';
import type { RuleSet } from './ruleFile.js';
import type { AmlScope, Direction, Movement } from './types.js';

const ZERO = '0x0000000000000000000000000000000000000000';

export const subjectKeyOf = (scope: AmlScope, subject: string, currency: string) => `${scope}:${subject}:${currency}`;

/** Minor units of a token amount, floored. */
export function tokenToMinor(value: bigint, decimals: number, exponent: number): bigint {
  return decimals >= exponent ? value / 10n ** BigInt(decimals - exponent) : value * 10n ** BigInt(exponent - decimals);
}

export function movementsOfLedgerEntry(e: LedgerEntry, rules: Pick<RuleSet, 'scopes' | 'bankTxTypes'>): Movement[] {
  if (e.status !== 'booked' || !rules.bankTxTypes.has(e.txType)) return [];
  const dir: Direction = e.direction === 'credit' ? 'in' : 'out';
  const common = {
    eventId: `bank:${e.entryId}`,
    source: 'bank' as const,
    currency: e.currency,
    dir,
    amount: e.amountMinor,
    counterparty: '',
    kind: e.txType,
    time: e.bookingTime,
    touches: [e.accountId],
  };
  const out: Movement[] = [];
  if (rules.scopes.has('customer')) out.push({ ...common, scope: 'customer', subject: e.accountId, subjectKey: subjectKeyOf('customer', e.accountId, e.currency) });
  if (rules.scopes.has('currency')) out.push({ ...common, scope: 'currency', subject: e.currency, subjectKey: subjectKeyOf('currency', e.currency, e.currency) });
  return out;
}

export function movementsOfChainEvent(ev: ChainEvent, ids: IdentityView, rules: Pick<RuleSet, 'scopes'>): Movement[] {
  if (ev.kind !== 'mint' && ev.kind !== 'burn' && ev.kind !== 'transfer') return [];
  const currency = ids.currencyOfToken(tokenKeyOf(ev.chainId, ev.token));
  if (!currency) return [];
  const amount = tokenToMinor(ev.value, ev.decimals, ids.exponentOf(currency));
  const from = ev.from.toLowerCase();
  const to = ev.to.toLowerCase();
  const touches = [from, to].filter((a) => a !== ZERO);
  const common = { eventId: `chain:${ev.eventId}`, source: 'chain' as const, currency, amount, kind: ev.kind, time: ev.blockTime, touches };
  const out: Movement[] = [];
  const sides: { wallet: string; dir: Direction; other: string }[] = [];
  if (from !== ZERO) sides.push({ wallet: from, dir: 'out', other: to === ZERO ? '' : to });
  if (to !== ZERO) sides.push({ wallet: to, dir: 'in', other: from === ZERO ? '' : from });

  if (rules.scopes.has('wallet')) {
    for (const s of sides) out.push({ ...common, scope: 'wallet', subject: s.wallet, subjectKey: subjectKeyOf('wallet', s.wallet, currency), dir: s.dir, counterparty: s.other });
  }
  const party = (w: string) => (w === '' ? '' : (ids.accountOfWallet(w) ?? w));
  const mapped = (w: string) => w !== '' && ids.accountOfWallet(w) !== undefined;
  const customerSides = sides.filter((s) => {
    if (ev.kind === 'transfer') return party(from) !== party(to);
    return !mapped(s.wallet); // mint/burn of a mapped wallet mirrors a bank posting
  });
  if (rules.scopes.has('customer')) {
    for (const s of customerSides) {
      const p = party(s.wallet);
      out.push({ ...common, scope: 'customer', subject: p, subjectKey: subjectKeyOf('customer', p, currency), dir: s.dir, counterparty: party(s.other) });
    }
  }
  if (rules.scopes.has('currency') && customerSides.length > 0) {
    // The currency as a whole: a transfer is one movement (out of one customer, into another).
    const s = customerSides[0]!;
    out.push({ ...common, scope: 'currency', subject: currency, subjectKey: subjectKeyOf('currency', currency, currency), dir: s.dir, counterparty: '' });
  }
  return out;
}
