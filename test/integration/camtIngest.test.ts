import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { writeCamt } from '../../src/generator/camtWriter.js';
import { camtDropDir } from '../../src/iso20022/camtDropDir.js';
import { ingestCamt, type CamtInput } from '../../src/iso20022/camtIngest.js';
import { camtSubjectMessage, ensureCamtInput } from '../../src/iso20022/camtSubject.js';
import { createLedgerCodec, type LedgerPosting } from '../../src/streams/ledgerCodec.js';
import { ensureStreams } from '../../src/streams/jetstreamSetup.js';
import { isolatedNames, testSink } from '../support/harness.js';
import { fixture } from '../unit/camtFixtures.js';

const T0 = Date.UTC(2024, 4, 2, 9, 30);
const posting = (i: number, over: Partial<LedgerPosting> = {}): LedgerPosting => ({
  entryId: `E-${i}`,
  accountId: 'ACC-1',
  direction: 'credit',
  amountMinor: BigInt(1_000 + i),
  currency: 'USD',
  bookingTime: T0 + i * 1_000,
  valueTime: T0 + i * 1_000,
  status: 'booked',
  txType: 'deposit',
  endToEndId: `E2E-${i}`,
  remittance: null,
  tokenizationRef: null,
  ...over,
});
const camt053 = (ps: LedgerPosting[], o: { account?: string; family?: 'camt.053' | 'camt.054'; id?: string } = {}) =>
  writeCamt(ps, { family: o.family ?? 'camt.053', messageId: o.id ?? 'M-1', account: o.account ?? 'ACC-1', currency: 'USD', createdAt: T0 + 3_600_000 }).join('');
const input = (xml: string | Buffer, name = 'test.xml'): CamtInput => ({
  name,
  open: async function* () {
    yield typeof xml === 'string' ? Buffer.from(xml) : xml;
  },
});

describe('camt ingestion into the ledger stream (real NATS)', () => {
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  const names = isolatedNames();
  const camtStream = `CAMT_${names.namespace}`;
  let config: Config;

  beforeAll(async () => {
    nc = await connect({ servers: ['127.0.0.1:4222'] });
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
    config = parseConfig({
      namespace: names.namespace,
      nats: names.nats,
      sink: testSink(names, {}),
      accounts: [{ accountId: 'ACC-1', wallets: [] }],
      camt: {
        ledgerSubject: names.ledgerSubject,
        accounts: { NL26VAYB8060476890: 'ACC-NL', CH2801234000123456789: 'ACC-CH' },
        inputStream: camtStream,
        inputSubject: `camt_${names.namespace}.in`,
        dropDir: { settleMs: 0 },
      },
    });
    await ensureStreams(jsm, config);
  });
  afterAll(async () => {
    for (const s of [names.nats.ledgerStream, names.nats.deadLetterStream, names.nats.chainStream, names.nats.mappingStream, camtStream]) await jsm.streams.delete(s).catch(() => undefined);
    await nc.close();
  });

  /** Postings in the ledger stream (statement messages go to `<ledgerSubject>.statement`). */
  const count = async (stream: string) => (await jsm.streams.info(stream, { subjects_filter: '>' })).state.subjects?.[names.ledgerSubject] ?? 0;
  const lastDeadLetter = async () => {
    const m = await jsm.streams.getMessage(names.nats.deadLetterStream, { last_by_subj: `${names.nats.deadLetterSubjectPrefix}.camt` });
    return { code: m!.header.get('Recon-Dead-Letter-Code'), reason: m!.header.get('Recon-Dead-Letter-Reason'), bytes: m!.data.byteLength };
  };

  it('publishes every posting of a statement once, as Avro v3 the worker decodes; the same file again publishes nothing new', async () => {
    const xml = camt053([posting(1), posting(2), posting(3, { direction: 'debit', txType: 'withdrawal' })], { id: 'M-once' });
    const before = await count(names.nats.ledgerStream);
    const r = await ingestCamt(input(xml), { js, config });
    expect(r).toMatchObject({ ok: true, postings: 3, published: 3, duplicates: 0 });
    expect((await count(names.nats.ledgerStream)) - before).toBe(3);
    const again = await ingestCamt(input(xml), { js, config });
    expect(again).toMatchObject({ ok: true, postings: 3, published: 0, duplicates: 3 });
    expect((await count(names.nats.ledgerStream)) - before).toBe(3);

    const m = await jsm.streams.getMessage(names.nats.ledgerStream, { last_by_subj: names.ledgerSubject });
    const entry = createLedgerCodec().decode(m!.data, m!.header);
    const statement = await jsm.streams.getMessage(names.nats.ledgerStream, { last_by_subj: `${names.ledgerSubject}.statement` });
    expect(statement!.header.get('Recon-Schema')).toBe('camt-statement/1');
    expect(JSON.parse(new TextDecoder().decode(statement!.data))).toMatchObject({
      accountId: 'ACC-1',
      statementId: 'M-once',
      balances: [
        { type: 'OPBD', amountMinor: '0' },
        { type: 'CLBD', amountMinor: '1000' },
      ],
      findings: [],
    });
    expect(entry).toMatchObject({
      accountId: 'ACC-1',
      direction: 'debit',
      amountMinor: 1_003n,
      txType: 'withdrawal',
      schemaVersion: 3,
      details: { accountServicerRef: 'E-3', transactionCode: 'PMNT/ICDT/ESCT' },
    });
  });

  it('a camt.054 then the camt.053 repeating its entry yields the posting once; a changed entry gets through as a new content', async () => {
    const before = await count(names.nats.ledgerStream);
    expect(await ingestCamt(input(camt053([posting(10)], { family: 'camt.054', id: 'N-10' })), { js, config })).toMatchObject({ ok: true, published: 1 });
    expect(await ingestCamt(input(camt053([posting(10), posting(11)], { id: 'S-10' })), { js, config })).toMatchObject({ ok: true, published: 1, duplicates: 1 });
    expect(await ingestCamt(input(camt053([posting(10, { amountMinor: 5n })], { id: 'S-11' })), { js, config })).toMatchObject({ ok: true, published: 1, duplicates: 0 });
    expect((await count(names.nats.ledgerStream)) - before).toBe(3);
  });

  it('ingests the public samples under their mapped accounts', async () => {
    expect(await ingestCamt(input(fixture('camt053.v8.xml')), { js, config })).toMatchObject({ ok: true, postings: 1 });
    expect(await ingestCamt(input(fixture('camt052.v4.xml')), { js, config })).toMatchObject({ ok: true, postings: 1 });
  });

  it.each([
    ['bad XML', () => '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>', 'DECODE_ERROR', /not well-formed|truncated/],
    ['an unknown account', () => camt053([posting(20), posting(21)], { account: 'ACC-UNKNOWN' }), 'UNMAPPED_IDENTITY', /ACC-UNKNOWN/],
    ['an amount that does not fit', () => camt053([posting(22)]).replaceAll('>10.22<', '>99999999999999999999.00<'), 'SCHEMA_VIOLATION', /amount/],
    ['a later entry breaking a rule', () => camt053([posting(23), posting(24)]).replace('>10.24<', '>10.241<'), 'SCHEMA_VIOLATION', /more decimal places/],
    ['an unknown version', () => fixture('camt052.v1.xml'), 'DECODE_ERROR', /camt\.052\.001\.01/],
  ])('dead-letters %s with its reason and publishes no posting', async (_what, xml, code, reason) => {
    const before = await count(names.nats.ledgerStream);
    const r = await ingestCamt(input(xml()), { js, config });
    expect(r).toMatchObject({ ok: false, code });
    expect((r as { reason: string }).reason).toMatch(reason);
    expect((await count(names.nats.ledgerStream)) - before).toBe(0);
    // Beside the postings, the dead letter's record for the workers' dead_letters table.
    const rec = await jsm.streams.getMessage(names.nats.ledgerStream, { last_by_subj: `${config.camt.ledgerSubject}.statement` });
    expect(rec?.header.get('Recon-Schema')).toBe('camt-deadletter/1');
    expect(JSON.parse(new TextDecoder().decode(rec!.data))).toMatchObject({ code, source: expect.any(String) });
    const dl = await lastDeadLetter();
    expect(dl.code).toBe(code);
    expect(dl.reason).toMatch(reason);
    expect(dl.bytes).toBeGreaterThan(0);
  });

  it('dead-letters a message the official XSD refuses when validation is on', async () => {
    const strict = parseConfig({ ...config, camt: { ...config.camt, xsdValidation: true } } as never);
    const before = await count(names.nats.ledgerStream);
    const xml = camt053([posting(30)]).replace('<Acct>', '<Bogus>x</Bogus><Acct>');
    const lax = await ingestCamt(input(xml), { js, config: { ...config, camt: { ...config.camt, ledgerSubject: `${names.ledgerSubject}.lax` } } });
    expect(lax.ok).toBe(true);
    const r = await ingestCamt(input(xml), { js, config: strict });
    expect(r).toMatchObject({ ok: false, code: 'SCHEMA_VIOLATION' });
    expect((r as { reason: string }).reason).toMatch(/not valid against camt\.053\.001\.08\.xsd[\s\S]*Bogus/);
    expect((await count(names.nats.ledgerStream)) - before).toBe(0);
  });

  it('moves drop-directory files to processed/ and failed/ with a reason file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'camt-drop-'));
    await writeFile(join(dir, 'good.xml'), camt053([posting(40), posting(41)], { id: 'D-1' }));
    await writeFile(join(dir, 'bad.xml'), camt053([posting(42)], { account: 'NOBODY', id: 'D-2' }));
    await writeFile(join(dir, 'notes.txt'), 'ignored');
    const before = await count(names.nats.ledgerStream);
    const results = await camtDropDir({ dir, js, config }).scanOnce();
    expect(results.map((r) => [r.name.split('/').pop(), r.ok])).toEqual([
      ['bad.xml', false],
      ['good.xml', true],
    ]);
    expect((await count(names.nats.ledgerStream)) - before).toBe(2);
    expect((await readdir(dir)).sort()).toEqual(['failed', 'notes.txt', 'processed']);
    expect(await readdir(join(dir, 'processed'))).toEqual(['good.xml']);
    expect((await readdir(join(dir, 'failed'))).sort()).toEqual(['bad.xml', 'bad.xml.reason.txt']);
    expect(await readFile(join(dir, 'failed', 'bad.xml.reason.txt'), 'utf8')).toMatch(/^UNMAPPED_IDENTITY\n.*NOBODY/);
  });

  it('waits for a drop-directory file to settle before reading it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'camt-settle-'));
    let now = 1_000;
    const watcher = camtDropDir({ dir, js, config: { ...config, camt: { ...config.camt, dropDir: { ...config.camt.dropDir, settleMs: 5_000 } } }, now: () => now });
    await writeFile(join(dir, 'a.xml'), camt053([posting(50)], { id: 'D-3' }));
    expect(await watcher.scanOnce()).toEqual([]);
    now += 4_999;
    expect(await watcher.scanOnce()).toEqual([]);
    now += 1;
    expect((await watcher.scanOnce()).map((r) => r.ok)).toEqual([true]);
  });

  it('consumes camt XML from its JetStream subject and acks only after the postings are durable', async () => {
    await ensureCamtInput(jsm, config);
    await js.publish(config.camt.inputSubject, camt053([posting(60), posting(61)], { id: 'J-1' }));
    await js.publish(config.camt.inputSubject, 'not xml at all');
    const before = await count(names.nats.ledgerStream);
    const consumer = await js.consumers.get(camtStream, config.camt.inputConsumer);
    const results = [];
    for (let i = 0; i < 2; i++) {
      const msg = await consumer.next({ expires: 5_000 });
      expect(msg).not.toBeNull();
      results.push(await camtSubjectMessage(msg!, { js, jsm, config }));
    }
    expect(results.map((r) => r?.ok)).toEqual([true, false]);
    expect((await count(names.nats.ledgerStream)) - before).toBe(2);
    const info = await jsm.consumers.info(camtStream, config.camt.inputConsumer);
    expect(info.num_ack_pending).toBe(0);
    expect(info.num_pending).toBe(0);
  });
});
