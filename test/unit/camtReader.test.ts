import { describe, expect, it } from 'vitest';
import { readCamt, type CamtEvent } from '../../src/iso20022/camtReader.js';
import { camtVersionOf, supportedNamespaces } from '../../src/iso20022/camtVersions.js';
import { DecodeError } from '../../src/lib/errors.js';
import { fixture } from './camtFixtures.js';

async function events(chunks: Iterable<string | Uint8Array>): Promise<CamtEvent[]> {
  const out: CamtEvent[] = [];
  for await (const e of readCamt(chunks, { name: 'test.xml' })) out.push(e);
  return out;
}

const doc = (ns: string, body: string) => `<?xml version="1.0"?><Document xmlns="${ns}">${body}</Document>`;
const NS53 = 'urn:iso:std:iso:20022:tech:xsd:camt.053.001.08';

describe('camtVersions', () => {
  it('knows camt.052, 053 and 054 in versions .001.02 to .001.08', () => {
    expect(supportedNamespaces()).toHaveLength(21);
    expect(camtVersionOf('urn:iso:std:iso:20022:tech:xsd:camt.054.001.04')).toMatchObject({ family: 'camt.054', version: 4, reportElement: 'Ntfctn' });
  });

  it('refuses an unknown version of a known family by name', () => {
    expect(() => camtVersionOf('urn:iso:std:iso:20022:tech:xsd:camt.053.001.13')).toThrow(/camt\.053\.001\.13 is a version of camt\.053 this engine does not read/);
    expect(() => camtVersionOf('urn:iso:std:iso:20022:tech:xsd:pain.001.001.09')).toThrow(DecodeError);
  });
});

describe('readCamt', () => {
  it('emits the group header, the report header, each balance and each entry in document order', async () => {
    const ev = await events([fixture('camt053.v8.xml')]);
    expect(ev.map((e) => e.t)).toEqual(['message', 'report', 'balance', 'balance', 'balance', 'balance', 'entry', 'reportEnd']);
    const report = ev[1] as Extract<CamtEvent, { t: 'report' }>;
    expect(report.header.children.map((c) => c.name)).toEqual(['Id', 'StmtPgntn', 'ElctrncSeqNb', 'LglSeqNb', 'CreDtTm', 'FrToDt', 'CpyDplctInd', 'Acct']);
  });

  it('gives the same events whatever the chunking, down to one byte at a time', async () => {
    const bytes = fixture('camt054.v2.xml');
    const whole = await events([bytes]);
    const single = await events([...bytes].map((b) => Uint8Array.of(b)));
    expect(single).toEqual(whole);
  });

  it('reads a multi-statement message as two reports', async () => {
    const ev = await events([fixture('camt053.v2.multi.statement.xml')]);
    expect(ev.filter((e) => e.t === 'report').map((e) => (e as { index: number }).index)).toEqual([0, 1]);
  });

  it('refuses the real camt.052.001.01 sample as an unsupported version', async () => {
    await expect(events([fixture('camt052.v1.xml')])).rejects.toThrow(/camt\.052\.001\.01 is a version of camt\.052 this engine does not read/);
  });

  it('refuses XML that is not well formed, naming line and column', async () => {
    await expect(events([doc(NS53, '<BkToCstmrStmt><GrpHdr></BkToCstmrStmt>')])).rejects.toThrow(/not well-formed XML[\s\S]*line 1/);
  });

  it('refuses a DOCTYPE (no entity expansion)', async () => {
    await expect(events([`<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x "y">]>${doc(NS53, '')}`])).rejects.toThrow(/DOCTYPE/);
  });

  it('refuses a truncated document', async () => {
    const bytes = fixture('camt053.v8.xml');
    await expect(events([bytes.subarray(0, bytes.length - 40)])).rejects.toThrow(DecodeError);
  });

  it('refuses bytes that are not UTF-8', async () => {
    await expect(
      events([Buffer.from(`<Document xmlns="${NS53}"><BkToCstmrStmt><GrpHdr><MsgId>`), Uint8Array.of(0xc3, 0x28), Buffer.from('</MsgId></GrpHdr></BkToCstmrStmt></Document>')]),
    ).rejects.toThrow(/not valid UTF-8/);
  });

  it('refuses another message under the camt namespace and elements of another namespace', async () => {
    await expect(events([doc(NS53, '<BkToCstmrAcctRpt/>')])).rejects.toThrow(/expected <BkToCstmrStmt>/);
    await expect(events([doc(NS53, '<BkToCstmrStmt><x:GrpHdr xmlns:x="urn:other"/></BkToCstmrStmt>')])).rejects.toThrow(/outside the Document's namespace/);
    await expect(events(['<Invoice/>'])).rejects.toThrow(/expected <Document>/);
  });
});
