/**
 * Writes the traffic generator's postings as ISO 20022 camt messages (pure, no I/O): a camt.053
 * statement (booked entries, OPBD and CLBD), a camt.052 intraday report (booked and pending
 * entries, ITBD) or a camt.054 notification (one per batch of movements), in version .001.02 or
 * .001.08 syntax. Each entry's AcctSvcrRef is the posting's entry id, so ingesting the same
 * posting from a camt.054 and then a camt.053 yields one posting (docs/iso20022.md).
 */
import { currencyExponent } from '../domain/currencies.js';
import { formatMinor } from '../domain/money.js';
import type { TxType } from '../domain/types.js';
import { camtNamespace, type CamtFamily } from '../iso20022/camtVersions.js';
import type { LedgerPosting } from '../streams/ledgerCodec.js';

export interface CamtWriterOptions {
  family: CamtFamily;
  /** 2 or 8 (the two syntaxes: plain Sts and `Dbtr/Nm` in .02, `Sts/Cd` and `Dbtr/Pty/Nm` in .08). */
  version?: 2 | 8;
  messageId: string;
  /** Statement (report, notification) id. */
  reportId?: string;
  /** The account as the bank names it (written as `Acct/Id/Othr/Id`). */
  account: string;
  currency: string;
  /** Opening booked balance, signed minor units (camt.053: OPBD; CLBD = OPBD + booked entries). */
  openingMinor?: bigint;
  electronicSeq?: bigint;
  /** Statement period and creation time, epoch ms. */
  from?: number;
  to?: number;
  createdAt: number;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const iso = (t: number) => new Date(t).toISOString();
const day = (t: number) => iso(t).slice(0, 10);

/** Bank transaction codes the writer uses; the default table maps each back to the same type. */
export const WRITER_CODES: Readonly<Record<Exclude<TxType, 'reversal'>, string>> = {
  deposit: 'PMNT/RCDT/ESCT',
  withdrawal: 'PMNT/ICDT/ESCT',
  fee: 'ACMT/MDOP/CHRG',
  transfer: 'CAMT/ACCB/OTHR',
};

function bkTxCd(txType: TxType): string {
  const [d, f, s] = WRITER_CODES[txType === 'reversal' ? 'transfer' : txType].split('/');
  return `<BkTxCd><Domn><Cd>${d}</Cd><Fmly><Cd>${f}</Cd><SubFmlyCd>${s}</SubFmlyCd></Fmly></Domn></BkTxCd>`;
}

/** A balance; intraday (ITBD) at its exact time, the day's balances at their date. */
function balance(code: string, minor: bigint, currency: string, exponent: number, at: number): string {
  const abs = minor < 0n ? -minor : minor;
  const date = code === 'ITBD' ? `<DtTm>${iso(at)}</DtTm>` : `<Dt>${day(at)}</Dt>`;
  return `<Bal><Tp><CdOrPrtry><Cd>${code}</Cd></CdOrPrtry></Tp><Amt Ccy="${currency}">${formatMinor(abs, exponent)}</Amt><CdtDbtInd>${minor < 0n ? 'DBIT' : 'CRDT'}</CdtDbtInd><Dt>${date}</Dt></Bal>`;
}

/** One Ntry of a posting. */
export function camtEntry(p: LedgerPosting, version: 2 | 8): string {
  const exponent = currencyExponent(p.currency);
  const sts = p.status === 'pending' ? 'PDNG' : 'BOOK';
  const party = (role: 'Dbtr' | 'Cdtr', name: string) => (version >= 8 ? `<${role}><Pty><Nm>${esc(name)}</Nm></Pty></${role}>` : `<${role}><Nm>${esc(name)}</Nm></${role}>`);
  const counter = p.direction === 'credit' ? 'Dbtr' : 'Cdtr';
  const rmt = [p.remittance ? `<Ustrd>${esc(p.remittance)}</Ustrd>` : '', p.tokenizationRef ? `<Strd><CdtrRefInf><Ref>${esc(p.tokenizationRef)}</Ref></CdtrRefInf></Strd>` : ''].join('');
  return [
    '<Ntry>',
    `<Amt Ccy="${p.currency}">${formatMinor(p.amountMinor, exponent)}</Amt>`,
    `<CdtDbtInd>${p.direction === 'credit' ? 'CRDT' : 'DBIT'}</CdtDbtInd>`,
    p.txType === 'reversal' || p.status === 'reversed' ? '<RvslInd>true</RvslInd>' : '',
    version >= 8 ? `<Sts><Cd>${sts}</Cd></Sts>` : `<Sts>${sts}</Sts>`,
    `<BookgDt><DtTm>${iso(p.bookingTime)}</DtTm></BookgDt>`,
    `<ValDt><DtTm>${iso(p.valueTime)}</DtTm></ValDt>`,
    `<AcctSvcrRef>${esc(p.entryId)}</AcctSvcrRef>`,
    bkTxCd(p.txType),
    '<NtryDtls><TxDtls>',
    p.endToEndId ? `<Refs><EndToEndId>${esc(p.endToEndId)}</EndToEndId></Refs>` : '',
    `<RltdPties>${party(counter, `Counterparty of ${p.accountId}`)}</RltdPties>`,
    rmt ? `<RmtInf>${rmt}</RmtInf>` : '',
    '</TxDtls></NtryDtls>',
    '</Ntry>',
  ].join('');
}

const ELEMENTS: Readonly<Record<CamtFamily, [string, string]>> = {
  'camt.052': ['BkToCstmrAcctRpt', 'Rpt'],
  'camt.053': ['BkToCstmrStmt', 'Stmt'],
  'camt.054': ['BkToCstmrDbtCdtNtfctn', 'Ntfctn'],
};

/**
 * A camt document of `postings` (all of `o.account`, in `o.currency`), as a list of string chunks
 * to write or join (a 100K-entry statement is never one string). camt.053 carries OPBD and CLBD,
 * camt.052 an ITBD, camt.054 no balance.
 */
export function writeCamt(postings: Iterable<LedgerPosting>, o: CamtWriterOptions): string[] {
  const version = o.version ?? 8;
  const exponent = currencyExponent(o.currency);
  const [msg, rpt] = ELEMENTS[o.family];
  const entries: string[] = [];
  let net = 0n;
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  for (const p of postings) {
    if (o.family === 'camt.053' && p.status === 'pending') continue;
    entries.push(camtEntry(p, version));
    if (p.status !== 'pending') net += p.direction === 'credit' ? p.amountMinor : -p.amountMinor;
    first = Math.min(first, p.bookingTime);
    last = Math.max(last, p.bookingTime);
  }
  const from = o.from ?? (Number.isFinite(first) ? first : o.createdAt);
  const to = o.to ?? (Number.isFinite(last) ? last : o.createdAt);
  const opening = o.openingMinor ?? 0n;
  const balances =
    o.family === 'camt.053'
      ? balance('OPBD', opening, o.currency, exponent, from) + balance('CLBD', opening + net, o.currency, exponent, to)
      : o.family === 'camt.052'
        ? balance('ITBD', opening + net, o.currency, exponent, to)
        : '';
  const head = [
    `<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="${camtNamespace(o.family, version)}"><${msg}>`,
    `<GrpHdr><MsgId>${esc(o.messageId)}</MsgId><CreDtTm>${iso(o.createdAt)}</CreDtTm></GrpHdr>`,
    `<${rpt}><Id>${esc(o.reportId ?? o.messageId)}</Id>`,
    o.electronicSeq !== undefined ? `<ElctrncSeqNb>${o.electronicSeq}</ElctrncSeqNb>` : '',
    `<CreDtTm>${iso(o.createdAt)}</CreDtTm>`,
    `<FrToDt><FrDtTm>${iso(from)}</FrDtTm><ToDtTm>${iso(to)}</ToDtTm></FrToDt>`,
    `<Acct><Id><Othr><Id>${esc(o.account)}</Id></Othr></Id><Ccy>${o.currency}</Ccy></Acct>`,
    balances,
  ].join('');
  return [head, ...entries, `</${rpt}></${msg}></Document>\n`];
}
