import { currencyExponent } from '../domain/currencies.js';
import { formatMinor } from '../domain/money.js';
import type { AlertEvent } from './alertEvent.js';
import type { AlertsConfig } from './alertsConfig.js';

/**
 * A recorded amount for people: minor units (possibly with a fraction of a minor unit, kept
 * exactly) shown in the currency's major unit, or token base units as they are. '' stays ''.
 */
export function displayAmount(amount: string, unit: AlertEvent['amountUnit'], currency: string): string {
  if (!amount) return '';
  if (unit !== 'minor' || !currency) return `${amount}${unit === 'base' ? ' (token base units)' : ''}${currency && unit !== 'base' ? ` ${currency}` : ''}`;
  let exponent: number;
  try {
    exponent = currencyExponent(currency);
  } catch {
    return `${amount} ${currency} (minor units)`;
  }
  const [whole = '0', fraction] = amount.split('.');
  if (!/^-?\d+$/.test(whole)) return `${amount} ${currency}`;
  const major = formatMinor(BigInt(whole), exponent);
  const exact = fraction ? `${exponent === 0 ? `${major}.` : major}${fraction}` : major;
  return `${exact} ${currency}`;
}

/** The amount an alert is about, in one phrase (the bank's side first). */
export function headlineAmount(a: AlertEvent): string {
  return displayAmount(a.expectedAmount, a.amountUnit, a.currency) || displayAmount(a.actualAmount, a.amountUnit, a.currency);
}

/** Sum of the amounts of several alerts in minor units of one currency (exact; fractions dropped), or '' when not summable. */
export function totalAmount(alerts: readonly AlertEvent[]): string {
  const currency = alerts[0]?.currency;
  if (!currency || alerts.some((a) => a.currency !== currency || a.amountUnit !== 'minor')) return '';
  let sum = 0n;
  for (const a of alerts) {
    const v = (a.expectedAmount || a.actualAmount).split('.')[0];
    if (!v || !/^-?\d+$/.test(v)) return '';
    sum += BigInt(v);
  }
  return displayAmount(sum.toString(), 'minor', currency);
}

const RUNBOOK: Record<string, string> = {
  MISSING_MINT: "Check the minting service queue for the credit's tokenization reference; confirm the wallet mapping; mint or reverse the credit.",
  MISSING_BURN: 'Check the burn request for the withdrawal; confirm the wallet still holds the tokens; burn or reverse the debit.',
  MISSING_BANK_CREDIT: 'Tokens exist without a bank credit: find the mint transaction and its requester; freeze the wallet if unauthorised.',
  MISSING_BANK_DEBIT: 'Tokens were burned without a bank debit: find the burn transaction and post the debit or investigate.',
  AMOUNT_MISMATCH: 'Compare the posting and the mint/burn for the reference; correct the smaller side.',
  CURRENCY_MISMATCH: "The posting is not in the token's currency: check the account's programme and the token mapping.",
  DUPLICATE: 'A second leg carries an already matched reference: check for a double mint or a replayed posting.',
  ORPHAN_CHAIN_EVENT: 'The wallet maps to no account: add the mapping (MAPPINGS stream) or investigate the wallet.',
  ORPHAN_LEDGER_ENTRY: 'The account maps to no wallet: add the mapping or move the account off the token programme.',
  REVERSAL_AFTER_MATCH: 'The bank reversed a posting whose tokens exist: burn (or re-mint) to restore parity.',
  BALANCE_DRIFT: 'Compare bank and on-chain balances in the balance snapshots; look for unrecorded postings or transfers.',
  FEED_STALLED: 'Check the ingester / ledger producer and its connection to NATS; look at the watermark lag metric.',
  PARTIALLY_MATCHED: 'Find the missing tranche for the reference (a batch mint that stopped half-way); mint or burn the remainder with the same reference.',
  PROPOSED_MATCH: 'Compare the two legs and the difference; confirm or reject the proposal (recon cases proposal <id> confirm|reject).',
  STATEMENT_BALANCE_MISMATCH: "Compare the statement's opening and closing balances with its entries in statement_balances and ledger_entries; ask the bank for a corrected statement.",
  STATEMENT_SEQUENCE_GAP: 'Ask the bank (or the drop directory / camt subject) for the missing statements and ingest them; the gap resolves itself.',
  STATEMENT_OVERLAP: 'Two statements cover the same period or number: check for a re-issued statement and whether its entries were counted twice.',
};

/** One sentence on what the operator should look at first. */
export const whatToCheck = (kind: string): string =>
  RUNBOOK[kind] ?? (kind.startsWith('AML_') ? "Review the subject's recent activity and the rule's window in the AML alert details." : 'See the facts in ClickHouse for this id.');

/** A Grafana link to the discrepancies panel, around the alert's time; undefined without a base URL. */
export function grafanaLink(g: AlertsConfig['grafana'], database: string, a?: Pick<AlertEvent, 'eventTime'>): string | undefined {
  if (!g.baseUrl) return undefined;
  const u = new URL(`${g.baseUrl.replace(/\/$/, '')}/d/${encodeURIComponent(g.dashboardUid)}`);
  u.searchParams.set('orgId', '1');
  u.searchParams.set('var-database', database);
  u.searchParams.set('viewPanel', String(g.panelId));
  if (a && a.eventTime > 0) {
    u.searchParams.set('from', String(a.eventTime - 3_600_000));
    u.searchParams.set('to', 'now');
  }
  return u.toString();
}

/** '0x1234…abcd' for a long hex id; other strings unchanged. */
export const shortHex = (s: string): string => (/^0x[0-9a-fA-F]{16,}$/.test(s) ? `${s.slice(0, 6)}…${s.slice(-4)}` : s);

/** '3m 12s', '2h 5m', '4d 1h'. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1_000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}
