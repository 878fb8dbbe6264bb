import { describe, expect, it } from 'vitest';
import { camtTime } from '../../src/iso20022/camtMapping.js';
import { SchemaViolation, UnmappedIdentity } from '../../src/lib/errors.js';
import { fixture, walk } from './camtFixtures.js';

const T = (iso: string) => Date.parse(iso);
const NS = (family: string, v: number) => `urn:iso:std:iso:20022:tech:xsd:${family}.001.0${v}`;

/** A small camt document of the given family/version around `entries` (hand-written, for cases the public samples lack). */
function camt(entries: string, o: { family?: 'camt.053' | 'camt.054' | 'camt.052'; v?: number; acct?: string; msgId?: string; bal?: string } = {}): string {
  const family = o.family ?? 'camt.053';
  const [msg, rpt] = family === 'camt.053' ? ['BkToCstmrStmt', 'Stmt'] : family === 'camt.052' ? ['BkToCstmrAcctRpt', 'Rpt'] : ['BkToCstmrDbtCdtNtfctn', 'Ntfctn'];
  return `<?xml version="1.0" encoding="UTF-8"?><Document xmlns="${NS(family, o.v ?? 8)}"><${msg}><GrpHdr><MsgId>${o.msgId ?? 'MSG-1'}</MsgId><CreDtTm>2024-05-02T18:00:00Z</CreDtTm></GrpHdr><${rpt}><Id>R-1</Id><CreDtTm>2024-05-02T18:00:00Z</CreDtTm><Acct><Id><IBAN>${o.acct ?? 'DE89370400440532013000'}</IBAN></Id><Ccy>EUR</Ccy></Acct>${o.bal ?? ''}${entries}</${rpt}></${msg}></Document>`;
}
const ntry = (inner: string, o: { amt?: string; cd?: string; sts?: string; ref?: string } = {}) =>
  `<Ntry>${o.ref === undefined ? '<AcctSvcrRef>SVC-1</AcctSvcrRef>' : o.ref}<Amt Ccy="EUR">${o.amt ?? '100.00'}</Amt><CdtDbtInd>${o.cd ?? 'CRDT'}</CdtDbtInd><Sts><Cd>${o.sts ?? 'BOOK'}</Cd></Sts><BookgDt><Dt>2024-05-02</Dt></BookgDt><ValDt><Dt>2024-05-03</Dt></ValDt><BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>${inner}</Ntry>`;

describe('camt mapping of the public samples (genkgo/camt, test/fixtures/camt/README.md)', () => {
  it('camt.053.001.02 minimal: the entry, its structured reference and all four balances', async () => {
    const [s] = (await walk(fixture('camt053.v2.minimal.xml'))).statements;
    expect(s!.header).toMatchObject({
      family: 'camt.053',
      version: 2,
      messageId: 'CAMT053RIB000000000001',
      reportId: '253EURNL26VAYB8060476890',
      account: 'NL26VAYB8060476890',
      accountCurrency: 'EUR',
      electronicSeq: 12312n,
      legalSeq: 12312n,
      from: T('2007-10-18T08:00:00+01:00'),
      to: T('2007-10-18T12:30:00+01:00'),
    });
    expect(s!.balances.map((b) => [b.type, b.amountMinor, b.currency, b.date])).toEqual([
      ['OPBD', 1815n, 'EUR', '2014-12-30'],
      ['CLBD', -2700n, 'SEK', '2014-12-31'],
      ['OPAV', 3500n, 'CHF', '2014-12-30'],
      ['CLAV', -2700n, 'JPY', '2014-12-31'],
    ]);
    expect(s!.postings).toEqual([
      {
        entryId: s!.postings[0]!.entryId,
        accountId: 'NL26VAYB8060476890',
        direction: 'credit',
        amountMinor: 885n,
        currency: 'EUR',
        bookingTime: T('2014-12-31T00:00:00Z'),
        valueTime: T('2015-01-02T00:00:00Z'),
        status: 'booked',
        txType: 'deposit',
        endToEndId: null,
        remittance: '4654654654654654',
        tokenizationRef: '4654654654654654',
        channel: 'camt',
        details: {
          valueDate: '2015-01-02',
          bookingDate: '2014-12-31',
          groupId: null,
          instructionId: null,
          transactionId: null,
          accountServicerRef: null,
          entryRef: null,
          transactionCode: 'prtry:544',
          counterparty: 'NAME NAME',
          counterpartyAccount: 'NL56AGDH9619008421',
          reversalOf: null,
          source: 'camt.053.001.02:253EURNL26VAYB8060476890',
        },
      },
    ]);
    expect(s!.postings[0]!.entryId).toMatch(/^camt-[0-9a-f]{32}$/);
  });

  it('camt.053.001.08: Sts/Cd, BookgDt/DtTm with offset, Domn code, EndToEndId and AcctSvcrRef', async () => {
    const [s] = (await walk(fixture('camt053.v8.xml'))).statements;
    expect(s!.postings).toHaveLength(1);
    expect(s!.postings[0]).toMatchObject({
      direction: 'credit',
      amountMinor: 885n,
      currency: 'EUR',
      bookingTime: T('2014-12-31T12:15:00Z'),
      valueTime: T('2015-01-02T00:00:00Z'),
      status: 'booked',
      txType: 'deposit',
      endToEndId: 'MUELL/FINP/RA12345',
      tokenizationRef: '4654654654654654',
      details: { accountServicerRef: 'AAAASESS-FP-CN_98765/01', transactionCode: 'PMNT/RCDT/BOOK', bookingDate: '2014-12-31T13:15:00+01:00', counterparty: 'NAME NAME' },
    });
    expect(s!.net).toBe(885n);
  });

  it('camt.053.001.03 and .04: AcctSvcrRef and Domn/Prtry codes per version', async () => {
    const [v3] = (await walk(fixture('camt053.v3.xml'))).statements;
    const [v4] = (await walk(fixture('camt053.v4.xml'))).statements;
    expect(v3!.postings.map((p) => [p.amountMinor, p.details.accountServicerRef, p.details.transactionCode, p.txType])).toEqual([[885n, 'XXXXXXXXXXXXXXXXXXXXXXEUR', 'PMNT/RCDT/DMCT', 'deposit']]);
    expect(v4!.postings.map((p) => [p.amountMinor, p.details.accountServicerRef, p.details.transactionCode, p.txType])).toEqual([[885n, 'AAAASESS-FP-CN_98765/01', 'PAYM/0001/0005', 'deposit']]);
  });

  it('camt.053.001.02 with every balance type keeps each, signed, at the exponent of its currency', async () => {
    const [s] = (await walk(fixture('camt053.v2.all-balance-types.xml'))).statements;
    expect(s!.balances.map((b) => `${b.type}:${b.amountMinor}`)).toEqual(['OPBD:101', 'PRCD:202', 'OPAV:303', 'CLBD:404', 'CLAV:505', 'FWAV:606', 'INFO:707', 'ITAV:808', 'ITBD:909', 'XPCD:1010']);
    expect(s!.header.electronicSeq).toBe(315n);
  });

  it('trailing zeros beyond the exponent are exact (18.150 EUR = 1815), more significant digits are refused', async () => {
    const [s] = (await walk(fixture('camt053.v2.five.decimals.xml'))).statements;
    expect(s!.balances.map((b) => b.amountMinor)).toEqual([1815n, 2705n]);
    expect(s!.postings.map((p) => p.amountMinor)).toEqual([885n]);
    await expect(walk(camt(ntry('', { amt: '1.005' })))).rejects.toThrow(/amount 1\.005 EUR has more decimal places than the currency's 2/);
  });

  it('a message of two statements yields two statements, each with its own postings and net movement', async () => {
    const { statements } = await walk(fixture('camt053.v2.multi.statement.xml'));
    expect(statements.map((s) => [s.header.reportId, s.postings.map((p) => `${p.direction}:${p.amountMinor}`), s.net])).toEqual([
      ['253EURNL26VAYB8060476890', ['credit:885'], 885n],
      ['254EURNL26VAYB8060476890', ['debit:700'], -700n],
    ]);
    expect(statements[0]!.postings[0]!.entryId).not.toBe(statements[1]!.postings[0]!.entryId);
  });

  it('camt.052 .02/.04/.06/.08: booked and pending intraday entries, ITBD balances', async () => {
    const rows = [];
    for (const v of [2, 4, 6, 8]) {
      const [s] = (await walk(fixture(`camt052.v${v}.xml`))).statements;
      rows.push([v, s!.postings.map((p) => `${p.status}:${p.direction}:${p.amountMinor}:${p.currency}:${p.details.accountServicerRef}`), s!.balances.map((b) => `${b.type}:${b.amountMinor}`)]);
    }
    expect(rows).toEqual([
      [2, ['booked:debit:20000000:SEK:AAAASESS-FP-ACCR-01'], []],
      [4, ['pending:debit:20000000:SEK:ACSR160614165200001'], ['ITBD:1002215']],
      [6, ['pending:debit:20000000:SEK:ACSR160614165200001'], ['ITBD:1002215']],
      [8, ['booked:debit:20000000:SEK:AAAASESS-FP-ACCR-01'], []],
    ]);
  });

  it('camt.054.001.02: the notification entry, its ISR reference and unstructured remittance', async () => {
    const [s] = (await walk(fixture('camt054.v2.xml'))).statements;
    expect(
      s!.postings.map((p) => ({
        d: p.direction,
        a: p.amountMinor,
        c: p.currency,
        s: p.status,
        t: p.txType,
        e2e: p.endToEndId,
        ref: p.tokenizationRef,
        rmt: p.remittance,
        code: p.details.transactionCode,
      })),
    ).toEqual([
      { d: 'debit', a: 20000000n, c: 'SEK', s: 'booked', t: 'withdrawal', e2e: 'MUELL/FINP/RA12345', ref: 'ISR ref number V1', rmt: 'Unstructured Remittance Information V1', code: 'PMNT/ICDT/DMCT' },
    ]);
  });

  it('camt.054 .04 and .08 samples are refused whole: their batch TxDtls (CHF) do not make up the entry (SEK)', async () => {
    for (const v of [4, 8]) {
      await expect(walk(fixture(`camt054.v${v}.xml`))).rejects.toThrow(/TxDtls 1: amount in CHF, the entry is in SEK/);
    }
  });

  it('a statement message without a statement is refused', async () => {
    await expect(walk(fixture('camt053.v2.wrong.xml'))).rejects.toThrow(/has no <Stmt>/);
  });
});

describe('camt mapping rules', () => {
  it('splits a batch entry into one posting per TxDtls, each with the batch as group id', async () => {
    const tx = (amt: string, e2e: string, ustrd: string) =>
      `<TxDtls><Refs><EndToEndId>${e2e}</EndToEndId><InstrId>I-${e2e}</InstrId><TxId>T-${e2e}</TxId></Refs><Amt Ccy="EUR">${amt}</Amt><CdtDbtInd>CRDT</CdtDbtInd><RltdPties><Dbtr><Pty><Nm>Payer ${e2e}</Nm></Pty></Dbtr><DbtrAcct><Id><IBAN>FR7630006000011234567890189</IBAN></Id></DbtrAcct></RltdPties><RmtInf><Ustrd>${ustrd}</Ustrd></RmtInf></TxDtls>`;
    const [s] = (await walk(camt(ntry(`<NtryDtls><Btch><NbOfTxs>2</NbOfTxs></Btch>${tx('60.00', 'E1', 'one')}${tx('40.00', 'E2', 'two')}</NtryDtls>`)))).statements;
    expect(s!.postings.map((p) => [p.amountMinor, p.endToEndId, p.details.instructionId, p.details.transactionId, p.remittance, p.details.counterparty, p.txType])).toEqual([
      [6000n, 'E1', 'I-E1', 'T-E1', 'one', 'Payer E1', 'deposit'],
      [4000n, 'E2', 'I-E2', 'T-E2', 'two', 'Payer E2', 'deposit'],
    ]);
    const [a, b] = s!.postings;
    expect(a!.details.groupId).toMatch(/^camt-/);
    expect(b!.details.groupId).toBe(a!.details.groupId);
    expect(new Set([a!.entryId, b!.entryId, a!.details.groupId]).size).toBe(3);
  });

  it('refuses a batch whose transactions do not add up to the entry', async () => {
    const tx = (amt: string) => `<TxDtls><Amt Ccy="EUR">${amt}</Amt></TxDtls>`;
    await expect(walk(camt(ntry(`<NtryDtls>${tx('60.00')}${tx('30.00')}</NtryDtls>`)))).rejects.toThrow(/its 2 TxDtls amount to 9000 minor units, the entry to 10000/);
  });

  it('gives a camt.054 entry and the camt.053 repeating it the same posting id (from AcctSvcrRef)', async () => {
    const [n] = (await walk(camt(ntry(''), { family: 'camt.054', v: 2, msgId: 'N-1' }).replace('<Sts><Cd>BOOK</Cd></Sts>', '<Sts>BOOK</Sts>'))).statements;
    const [st] = (await walk(camt(ntry(''), { family: 'camt.053', v: 8, msgId: 'S-1' }))).statements;
    expect(n!.postings[0]!.entryId).toBe(st!.postings[0]!.entryId);
    const [other] = (await walk(camt(ntry('', { ref: '<AcctSvcrRef>SVC-2</AcctSvcrRef>' })))).statements;
    expect(other!.postings[0]!.entryId).not.toBe(st!.postings[0]!.entryId);
  });

  it('without servicer references, the same message twice still gives the same ids (position in the message)', async () => {
    const xml = camt(ntry('', { ref: '' }) + ntry('', { ref: '' }));
    const one = (await walk(xml)).statements[0]!.postings.map((p) => p.entryId);
    const two = (await walk(xml)).statements[0]!.postings.map((p) => p.entryId);
    expect(one).toEqual(two);
    expect(new Set(one).size).toBe(2);
  });

  it('maps PDNG to pending, skips INFO entries, and refuses an unknown status', async () => {
    const { statements } = await walk(camt(ntry('', { sts: 'PDNG' }) + ntry('', { sts: 'INFO', ref: '<AcctSvcrRef>SVC-9</AcctSvcrRef>' })));
    expect(statements[0]!.postings.map((p) => p.status)).toEqual(['pending']);
    expect(statements[0]!.entries).toBe(2);
    expect(statements[0]!.net).toBe(0n);
    await expect(walk(camt(ntry('', { sts: 'XXXX' })))).rejects.toThrow(/Sts is 'XXXX', expected BOOK, PDNG, FUTR or INFO/);
  });

  it('maps RvslInd to a reversal posting in the direction the money moves', async () => {
    const [s] = (await walk(camt(ntry('<NtryDtls><TxDtls><Refs><EndToEndId>E-ORIG</EndToEndId></Refs></TxDtls></NtryDtls>', { cd: 'DBIT' }).replace('<Sts>', '<RvslInd>true</RvslInd><Sts>'))))
      .statements;
    expect(s!.postings.map((p) => [p.direction, p.txType, p.details.reversalOf])).toEqual([['debit', 'reversal', 'E-ORIG']]);
  });

  it('uses the value date as business time when configured, keeping both dates', async () => {
    const [s] = (await walk(camt(ntry('')), { businessTime: 'value' })).statements;
    expect(s!.postings[0]).toMatchObject({ bookingTime: T('2024-05-03T00:00:00Z'), valueTime: T('2024-05-03T00:00:00Z'), details: { bookingDate: '2024-05-02', valueDate: '2024-05-03' } });
  });

  it('extracts the tokenization reference from unstructured remittance with a configured pattern', async () => {
    const xml = camt(ntry('<NtryDtls><TxDtls><RmtInf><Ustrd>Deposit for token ref TKN-00ab12 thanks</Ustrd></RmtInf></TxDtls></NtryDtls>'));
    const [s] = (await walk(xml, { reference: { sources: ['creditorReference', 'unstructured'], pattern: '\\b(TKN-[0-9a-f]+)\\b' } })).statements;
    expect(s!.postings[0]!.tokenizationRef).toBe('TKN-00ab12');
    const [d] = (await walk(xml)).statements;
    expect(d!.postings[0]!.tokenizationRef).toBeNull();
  });

  it('refuses an unknown account, an amount in another currency than the account, and a CdtDbtInd out of domain', async () => {
    await expect(walk(camt(ntry('')), {}, () => undefined)).rejects.toThrow(UnmappedIdentity);
    await expect(walk(camt(ntry('')).replace('<Amt Ccy="EUR">', '<Amt Ccy="USD">'))).rejects.toThrow(/amount in USD, but the account is in EUR/);
    await expect(walk(camt(ntry('', { cd: 'BOTH' })))).rejects.toThrow(SchemaViolation);
  });

  it('reads ISO dates and date-times exactly, and refuses impossible ones', () => {
    expect(camtTime('2024-02-29', 'x')).toBe(T('2024-02-29T00:00:00Z'));
    expect(camtTime('2024-02-29T10:00:00.5+02:00', 'x')).toBe(T('2024-02-29T08:00:00.500Z'));
    expect(camtTime('2024-02-29T10:00:00', 'x')).toBe(T('2024-02-29T10:00:00Z'));
    expect(() => camtTime('2023-02-29', 'x')).toThrow(/not an ISO date/);
  });
});
