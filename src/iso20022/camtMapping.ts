/**
 * camt elements to the engine's postings and statement balances, exactly (pure, no I/O): amounts
 * parsed as decimals at the currency's ISO 4217 exponent (never a float), direction from
 * CdtDbtInd, status from Sts, both dates kept, references and counterparty carried, a batch entry
 * split into one posting per transaction, and posting ids derived from the account servicer's
 * references so that a camt.054 and the camt.052/053 repeating its entry yield the same posting.
 * Field-by-field table: docs/iso20022.md.
 */
import { createHash } from 'node:crypto';
import { currencyExponent } from '../domain/currencies.js';
import { identifierProblem, MAX_TEXT_LENGTH } from '../domain/inputBounds.js';
import { parseDecimalToMinor } from '../domain/money.js';
import type { Direction, PostingDetails, PostingStatus, TxType } from '../domain/types.js';
import { SchemaViolation } from '../lib/errors.js';
import type { LedgerPosting } from '../streams/ledgerCodec.js';
import { formatTransactionCode, transactionTypeOf, type BankTransactionCode, type TransactionCodeRule } from './bankTransactionCodes.js';
import type { CamtVersion } from './camtVersions.js';
import { child, childrenNamed, firstText, text, type XmlNode } from './xmlNode.js';

/** A posting with its v3 details, as camt ingestion publishes it. */
export type CamtPosting = LedgerPosting & { details: PostingDetails };

export type ReferenceSource = 'creditorReference' | 'unstructured' | 'endToEndId';

export interface CamtMappingOptions {
  businessTime: 'booking' | 'value';
  referenceSources: readonly ReferenceSource[];
  referencePattern: RegExp;
  transactionCodes: readonly TransactionCodeRule[];
  fallback: Readonly<Record<Direction, Exclude<TxType, 'reversal'>>>;
}

/** What one Stmt / Rpt / Ntfctn says about itself. */
export interface StatementHeader {
  family: CamtVersion['family'];
  version: number;
  messageId: string;
  /** Stmt/Id (Rpt/Id, Ntfctn/Id). */
  reportId: string;
  /** The account as the bank names it: IBAN, else Othr/Id. */
  account: string;
  /** Acct/Ccy, when given. */
  accountCurrency: string | null;
  electronicSeq: bigint | null;
  legalSeq: bigint | null;
  /** FrToDt, epoch ms, when given. */
  from: number | null;
  to: number | null;
  /** Report CreDtTm, else the group header's. */
  createdAt: number;
}

export type BalanceType = 'OPBD' | 'CLBD' | 'ITBD' | 'CLAV' | 'OPAV' | 'ITAV' | 'PRCD' | 'FWAV' | 'INFO' | string;

export interface StatementBalance {
  type: BalanceType;
  /** Signed minor units: a DBIT balance is negative. */
  amountMinor: bigint;
  currency: string;
  exponent: number;
  /** Dt/Dt or Dt/DtTm as written. */
  date: string;
  time: number;
}

export interface EntryContext {
  header: StatementHeader;
  /** Engine account id the statement account maps to. */
  accountId: string;
  /** 0-based position of the entry in its report (fallback identity when the bank gives no reference). */
  entryIndex: number;
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})?$/;

/**
 * Epoch ms of an ISO date (`2014-12-31`, midnight UTC) or date-time (`2014-12-31T13:15:00+01:00`;
 * without an offset, read as UTC). Throws `SchemaViolation` otherwise.
 */
export function camtTime(value: string, where: string): number {
  const d = DATE.exec(value);
  let t = Number.NaN;
  if (d) {
    t = Date.UTC(Number(d[1]), Number(d[2]) - 1, Number(d[3]));
    if (new Date(t).toISOString().slice(0, 10) !== value) t = Number.NaN;
  } else if (DATE_TIME.test(value)) {
    t = Date.parse(/(Z|[+-]\d{2}:\d{2})$/.test(value) ? value : `${value}Z`);
  }
  if (!Number.isFinite(t)) throw new SchemaViolation(`${where}: '${value.slice(0, 40)}' is not an ISO date or date-time.`);
  return t;
}

function dateOf(node: XmlNode | undefined): string | null {
  return firstText(node, 'Dt', 'DtTm');
}

/** Amount of an `Amt Ccy="…"` element in minor units of its currency. */
export function camtAmount(node: XmlNode | undefined, where: string): { amountMinor: bigint; currency: string; exponent: number } {
  if (!node || node.text === '') throw new SchemaViolation(`${where}: has no amount.`);
  const currency = node.attrs.Ccy ?? '';
  let exponent: number;
  try {
    exponent = currencyExponent(currency);
  } catch (cause) {
    throw new SchemaViolation(`${where}: currency '${currency.slice(0, 8)}' is not an ISO 4217 code this engine knows.`, { cause });
  }
  let amountMinor: bigint;
  try {
    amountMinor = parseDecimalToMinor(node.text, exponent);
  } catch (cause) {
    throw new SchemaViolation(`${where}: amount ${node.text.slice(0, 40)} ${currency} ${(cause as Error).message.replace(/^.*?: /, '').replace(/^Amount '[^']*' /, '')}`, { cause });
  }
  if (amountMinor < 0n) throw new SchemaViolation(`${where}: amount ${node.text} is negative; camt amounts are unsigned with CdtDbtInd.`);
  return { amountMinor, currency, exponent };
}

function directionOf(value: string | null, where: string): Direction {
  if (value === 'CRDT') return 'credit';
  if (value === 'DBIT') return 'debit';
  throw new SchemaViolation(`${where}: CdtDbtInd is ${value === null ? 'missing' : `'${value.slice(0, 10)}'`}, expected CRDT or DBIT.`);
}

const seq = (v: string | null, where: string): bigint | null => {
  if (v === null) return null;
  if (!/^\d{1,18}$/.test(v)) throw new SchemaViolation(`${where}: '${v.slice(0, 30)}' is not a sequence number.`);
  return BigInt(v);
};

/** The account identifier of an `Acct`: IBAN, else Othr/Id. */
function accountIdentifier(acct: XmlNode | undefined): string | null {
  return firstText(acct, 'Id/IBAN', 'Id/Othr/Id');
}

/** Reads a report's own elements (and its message's group header). */
export function mapStatementHeader(header: XmlNode, groupHeader: XmlNode, version: CamtVersion): StatementHeader {
  const messageId = text(groupHeader, 'MsgId');
  const reportId = text(header, 'Id');
  const where = `${version.family}.001.0${version.version} ${reportId ?? '(no Id)'}`;
  if (!messageId) throw new SchemaViolation(`${where}: GrpHdr/MsgId is missing.`);
  if (!reportId) throw new SchemaViolation(`${version.family} message ${messageId}: ${version.reportElement}/Id is missing.`);
  const account = accountIdentifier(child(header, 'Acct'));
  if (!account) throw new SchemaViolation(`${where}: Acct/Id has neither IBAN nor Othr/Id.`);
  const created = text(header, 'CreDtTm') ?? text(groupHeader, 'CreDtTm');
  if (!created) throw new SchemaViolation(`${where}: no CreDtTm.`);
  const fromText = firstText(header, 'FrToDt/FrDtTm');
  const toText = firstText(header, 'FrToDt/ToDtTm');
  return {
    family: version.family,
    version: version.version,
    messageId,
    reportId,
    account,
    accountCurrency: text(header, 'Acct/Ccy'),
    electronicSeq: seq(text(header, 'ElctrncSeqNb'), `${where} ElctrncSeqNb`),
    legalSeq: seq(text(header, 'LglSeqNb'), `${where} LglSeqNb`),
    from: fromText ? camtTime(fromText, `${where} FrToDt/FrDtTm`) : null,
    to: toText ? camtTime(toText, `${where} FrToDt/ToDtTm`) : null,
    createdAt: camtTime(created, `${where} CreDtTm`),
  };
}

/** One Bal: its type code (Tp/CdOrPrtry/Cd, or Prtry), signed amount and date. */
export function mapBalance(node: XmlNode, where: string): StatementBalance {
  const type = firstText(node, 'Tp/CdOrPrtry/Cd', 'Tp/CdOrPrtry/Prtry');
  if (!type) throw new SchemaViolation(`${where}: balance without Tp/CdOrPrtry.`);
  const at = `${where} balance ${type}`;
  const { amountMinor, currency, exponent } = camtAmount(child(node, 'Amt'), at);
  const direction = directionOf(text(node, 'CdtDbtInd'), at);
  const date = dateOf(child(node, 'Dt'));
  if (!date) throw new SchemaViolation(`${at}: no Dt.`);
  return { type, amountMinor: direction === 'debit' ? -amountMinor : amountMinor, currency, exponent, date, time: camtTime(date, at) };
}

const STATUS: Readonly<Record<string, PostingStatus | 'info'>> = { BOOK: 'booked', PDNG: 'pending', FUTR: 'pending', INFO: 'info' };

function statusOf(entry: XmlNode, where: string): PostingStatus | 'info' {
  const sts = child(entry, 'Sts');
  const code = sts ? (sts.children.length > 0 ? firstText(sts, 'Cd', 'Prtry') : sts.text) : null;
  const s = code === null ? undefined : STATUS[code];
  if (!s) throw new SchemaViolation(`${where}: Sts is ${code === null ? 'missing' : `'${code.slice(0, 10)}'`}, expected BOOK, PDNG, FUTR or INFO.`);
  return s;
}

function transactionCode(node: XmlNode | undefined): BankTransactionCode {
  return {
    domain: text(node, 'Domn/Cd'),
    family: text(node, 'Domn/Fmly/Cd'),
    subFamily: text(node, 'Domn/Fmly/SubFmlyCd'),
    proprietary: text(node, 'Prtry/Cd'),
  };
}

const NOT_PROVIDED = 'NOTPROVIDED';
const ref = (node: XmlNode | undefined, path: string): string | null => {
  const v = text(node, path);
  return v === null || v === NOT_PROVIDED ? null : v;
};

/** A party's name: `Nm`, or `Pty/Nm` (v8), or the account's id. */
function partyName(tx: XmlNode | undefined, role: 'Dbtr' | 'Cdtr'): string | null {
  return firstText(tx, `RltdPties/${role}/Nm`, `RltdPties/${role}/Pty/Nm`, `RltdPties/Ultmt${role}/Nm`, `RltdPties/Ultmt${role}/Pty/Nm`);
}

function clip(s: string | null): string | null {
  if (s === null) return null;
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > MAX_TEXT_LENGTH ? `${one.slice(0, MAX_TEXT_LENGTH - 1)}…` : one;
}

function remittanceOf(tx: XmlNode | undefined): { ustrd: string[]; creditorRefs: string[] } {
  const rmt = child(tx, 'RmtInf');
  const ustrd = childrenNamed(rmt, 'Ustrd')
    .map((n) => n.text)
    .filter((t) => t !== '');
  const creditorRefs = childrenNamed(rmt, 'Strd')
    .map((s) => text(s, 'CdtrRefInf/Ref'))
    .filter((t): t is string => t !== null);
  return { ustrd, creditorRefs };
}

/** The tokenization reference: the first source text the pattern matches (its group 1, or the match). */
export function extractReference(candidates: Readonly<Record<ReferenceSource, readonly string[]>>, options: Pick<CamtMappingOptions, 'referenceSources' | 'referencePattern'>): string | null {
  for (const source of options.referenceSources) {
    for (const t of candidates[source]) {
      const m = options.referencePattern.exec(t);
      const r = m ? (m[1] ?? m[0]).trim() : '';
      if (r !== '' && identifierProblem(r) === undefined) return r;
    }
  }
  return null;
}

const hashId = (parts: readonly string[]) => `camt-${createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 32)}`;

/** The posting id of an entry (or batch transaction) the bank references with `servicerRef` (AcctSvcrRef) on `accountId`. */
export const camtPostingId = (accountId: string, servicerRef: string) => hashId([accountId, `svc:${servicerRef}`]);

/**
 * The postings of one Ntry: none for an INFO entry, one per TxDtls when the entry batches several
 * transactions that each carry an amount (the batch's id as `groupId`), else one. Throws
 * `SchemaViolation` naming the entry for anything that cannot be mapped exactly.
 */
export function mapEntry(entry: XmlNode, ctx: EntryContext, options: CamtMappingOptions): CamtPosting[] {
  const h = ctx.header;
  const servicerRef = text(entry, 'AcctSvcrRef');
  const entryRef = text(entry, 'NtryRef');
  const where = `${h.family} ${h.reportId} entry ${ctx.entryIndex + 1}${servicerRef ? ` (AcctSvcrRef ${servicerRef.slice(0, 40)})` : entryRef ? ` (NtryRef ${entryRef.slice(0, 40)})` : ''}`;
  const status = statusOf(entry, where);
  if (status === 'info') return [];
  const amount = camtAmount(child(entry, 'Amt'), where);
  if (h.accountCurrency && amount.currency !== h.accountCurrency) {
    throw new SchemaViolation(`${where}: amount in ${amount.currency}, but the account is in ${h.accountCurrency}.`);
  }
  const direction = directionOf(text(entry, 'CdtDbtInd'), where);
  const reversal = /^(true|1)$/.test(text(entry, 'RvslInd') ?? '');
  const bookingDate = dateOf(child(entry, 'BookgDt'));
  const valueDate = dateOf(child(entry, 'ValDt'));
  const bookingMs = bookingDate ? camtTime(bookingDate, `${where} BookgDt`) : null;
  const valueMs = valueDate ? camtTime(valueDate, `${where} ValDt`) : null;
  const booking = bookingMs ?? valueMs ?? h.createdAt;
  const value = valueMs ?? booking;
  const entryCode = transactionCode(child(entry, 'BkTxCd'));

  const txs = childrenNamed(entry, 'NtryDtls').flatMap((d) => childrenNamed(d, 'TxDtls'));
  const txAmount = (tx: XmlNode) => child(tx, 'Amt') ?? child(tx, 'AmtDtls/TxAmt/Amt');
  const split = txs.length > 1 && txs.every((tx) => txAmount(tx) !== undefined);
  // Identity from the servicer's references: the same entry in a camt.054 and a camt.053 gets the same id.
  const entryKey = servicerRef ? `svc:${servicerRef}` : entryRef ? `ntry:${entryRef}` : `pos:${h.messageId}:${h.reportId}:${ctx.entryIndex}`;
  const groupId = split ? hashId([ctx.accountId, entryKey]) : null;

  const parts = split
    ? txs.map((tx, i) => {
        const at = `${where} TxDtls ${i + 1}`;
        const a = camtAmount(txAmount(tx), at);
        if (a.currency !== amount.currency) throw new SchemaViolation(`${at}: amount in ${a.currency}, the entry is in ${amount.currency}.`);
        const txDirection = text(tx, 'CdtDbtInd') ? directionOf(text(tx, 'CdtDbtInd'), at) : direction;
        const txServicerRef = ref(tx, 'Refs/AcctSvcrRef');
        return {
          tx,
          amountMinor: a.amountMinor,
          direction: txDirection,
          id: hashId([ctx.accountId, txServicerRef ? `svc:${txServicerRef}` : `${entryKey}:${i}`]),
          servicerRef: txServicerRef ?? servicerRef,
        };
      })
    : [{ tx: txs[0], amountMinor: amount.amountMinor, direction, id: hashId([ctx.accountId, entryKey]), servicerRef: servicerRef ?? ref(txs[0], 'Refs/AcctSvcrRef') }];

  if (split) {
    const signed = (d: Direction, v: bigint) => (d === direction ? v : -v);
    const sum = parts.reduce((s, p) => s + signed(p.direction, p.amountMinor), 0n);
    if (sum !== amount.amountMinor) {
      throw new SchemaViolation(`${where}: its ${parts.length} TxDtls amount to ${sum} minor units, the entry to ${amount.amountMinor}.`);
    }
  }

  return parts.map((p): CamtPosting => {
    const tx = p.tx;
    const code = tx && child(tx, 'BkTxCd') ? transactionCode(child(tx, 'BkTxCd')) : entryCode;
    const endToEndId = ref(tx, 'Refs/EndToEndId');
    const { ustrd, creditorRefs } = remittanceOf(tx);
    const counterRole = p.direction === 'credit' ? 'Dbtr' : 'Cdtr';
    const txType: TxType = reversal ? 'reversal' : transactionTypeOf(code, p.direction, options.transactionCodes, options.fallback);
    return {
      entryId: p.id,
      accountId: ctx.accountId,
      direction: p.direction,
      amountMinor: p.amountMinor,
      currency: amount.currency,
      bookingTime: options.businessTime === 'value' ? value : booking,
      valueTime: value,
      status,
      txType,
      endToEndId,
      remittance: clip(ustrd.length > 0 ? ustrd.join(' ') : creditorRefs.length > 0 ? creditorRefs.join(' ') : text(entry, 'AddtlNtryInf')),
      tokenizationRef: extractReference({ creditorReference: creditorRefs, unstructured: ustrd, endToEndId: endToEndId ? [endToEndId] : [] }, options),
      channel: 'camt',
      details: {
        valueDate,
        bookingDate,
        groupId,
        instructionId: ref(tx, 'Refs/InstrId'),
        transactionId: ref(tx, 'Refs/TxId'),
        accountServicerRef: p.servicerRef,
        entryRef,
        transactionCode: formatTransactionCode(code) || null,
        counterparty: clip(partyName(tx, counterRole)),
        counterpartyAccount: firstText(tx, `RltdPties/${counterRole}Acct/Id/IBAN`, `RltdPties/${counterRole}Acct/Id/Othr/Id`),
        reversalOf: reversal ? (endToEndId ?? p.servicerRef) : null,
        source: `${h.family}.001.0${h.version}:${h.reportId}`,
      },
    };
  });
}
