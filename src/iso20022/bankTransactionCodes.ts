/**
 * ISO 20022 bank transaction codes (BkTxCd: Domn/Cd, Fmly/Cd, Fmly/SubFmlyCd, or a proprietary
 * Prtry/Cd) mapped to the engine's transaction types by an ordered, configurable table: the first
 * rule whose pattern and direction fit wins; a code no rule fits falls back by direction. Pure.
 */
import type { Direction, TxType } from '../domain/types.js';

/** One rule: `DOMN/FMLY/SUBFMLY` with `*` for any part, or `prtry:<code>` for a proprietary code. */
export interface TransactionCodeRule {
  code: string;
  /** Only entries of this direction; unset: both. */
  direction?: Direction | undefined;
  txType: Exclude<TxType, 'reversal'>;
}

export interface BankTransactionCode {
  domain: string | null;
  family: string | null;
  subFamily: string | null;
  proprietary: string | null;
}

/**
 * Defaults after the ISO external code list (ExternalBankTransactionDomain/Family/SubFamily):
 * charges, fees and commissions are fees; a received credit transfer (PMNT/RCDT) is a deposit, an
 * issued one (PMNT/ICDT) a withdrawal; internal book transfers and returns are transfers.
 */
export const DEFAULT_TRANSACTION_CODES: readonly TransactionCodeRule[] = [
  { code: '*/*/CHRG', txType: 'fee' },
  { code: '*/*/FEES', txType: 'fee' },
  { code: '*/*/COMM', txType: 'fee' },
  { code: '*/*/COME', txType: 'fee' },
  { code: 'ACMT/MDOP/*', txType: 'fee' },
  { code: 'PMNT/RCDT/RRTN', txType: 'transfer' },
  { code: 'PMNT/ICDT/RRTN', txType: 'transfer' },
  { code: 'PMNT/RCDT/*', direction: 'credit', txType: 'deposit' },
  { code: 'PMNT/ICDT/*', direction: 'debit', txType: 'withdrawal' },
  { code: 'PMNT/RDDT/*', direction: 'debit', txType: 'withdrawal' },
  { code: 'PMNT/IDDT/*', direction: 'credit', txType: 'deposit' },
  { code: 'PMNT/*/BOOK', txType: 'transfer' },
  { code: 'CAMT/*/*', txType: 'transfer' },
];

/** When no rule fits: a credit is a deposit, a debit a withdrawal (configurable). */
export const DEFAULT_FALLBACK: Readonly<Record<Direction, Exclude<TxType, 'reversal'>>> = { credit: 'deposit', debit: 'withdrawal' };

/** `DOMN/FMLY/SUBFMLY` or `prtry:<code>` of a code, as shown in postings (`''` when the entry has none). */
export function formatTransactionCode(c: BankTransactionCode): string {
  if (c.domain) return `${c.domain}/${c.family ?? ''}/${c.subFamily ?? ''}`;
  if (c.proprietary) return `prtry:${c.proprietary}`;
  return '';
}

function fits(rule: TransactionCodeRule, c: BankTransactionCode, direction: Direction): boolean {
  if (rule.direction !== undefined && rule.direction !== direction) return false;
  if (rule.code.startsWith('prtry:')) return c.proprietary !== null && (rule.code.slice(6) === '*' || rule.code.slice(6) === c.proprietary);
  if (!c.domain) return false;
  const parts = rule.code.split('/');
  const have = [c.domain, c.family ?? '', c.subFamily ?? ''];
  return parts.length === 3 && parts.every((p, i) => p === '*' || p === have[i]);
}

/**
 * The transaction type of an entry with code `c` and `direction`: the first fitting rule, else the
 * direction's fallback. The result always agrees with the direction (a deposit is a credit, a
 * withdrawal a debit): a rule naming the other one gives `transfer` instead.
 */
export function transactionTypeOf(
  c: BankTransactionCode,
  direction: Direction,
  rules: readonly TransactionCodeRule[] = DEFAULT_TRANSACTION_CODES,
  fallback: Readonly<Record<Direction, Exclude<TxType, 'reversal'>>> = DEFAULT_FALLBACK,
): Exclude<TxType, 'reversal'> {
  const rule = rules.find((r) => fits(r, c, direction));
  const t = rule ? rule.txType : fallback[direction];
  if ((t === 'deposit' && direction === 'debit') || (t === 'withdrawal' && direction === 'credit')) return 'transfer';
  return t;
}
