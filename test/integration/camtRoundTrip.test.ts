import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.js';
import { writeCamt } from '../../src/generator/camtWriter.js';
import { ingestCamt, type CamtInput } from '../../src/iso20022/camtIngest.js';
import { redisStatementSequences } from '../../src/iso20022/statementSequence.js';
import { queryRows } from '../../src/sinks/clickhouse/queries.js';
import type { LedgerPosting } from '../../src/streams/ledgerCodec.js';
import { randomWallet, startHarness, type Harness } from '../support/harness.js';

const input = (chunks: string[], name: string): CamtInput => ({
  name,
  open: async function* () {
    for (const c of chunks) yield Buffer.from(c);
  },
});

/**
 * The same traffic, once as Avro postings (account AVRO) and once as camt files (account CAMT),
 * through one worker on real NATS, Redis, anvil and chdb: the two accounts must end with the same
 * matches and the same discrepancies.
 */
describe('camt round trip: camt files give the same reconciliation as the Avro feed', () => {
  let h: Harness;
  let redis: Redis;
  let config: Config;
  const wallets = { AVRO: randomWallet(), CAMT: randomWallet() };

  beforeAll(async () => {
    h = await startHarness({
      accounts: [
        { accountId: 'AVRO', wallets: [wallets.AVRO] },
        { accountId: 'CAMT', wallets: [wallets.CAMT] },
      ],
    });
    config = { ...h.config, camt: { ...h.config.camt, ledgerSubject: h.names.ledgerSubject, accounts: { 'DE-STMT-IBAN': 'STMT' } } };
    redis = new Redis(h.config.redis.url);
  }, 120_000);
  afterAll(async () => {
    redis?.disconnect();
    await h?.stop();
  });

  it('matches, misses and duplicates the same way', async () => {
    const $ = (n: bigint) => h.usd(n);
    const made: Record<string, { AVRO: LedgerPosting; CAMT: LedgerPosting }> = {};
    const posting = (account: 'AVRO' | 'CAMT', id: string, amountMinor: bigint, direction: 'credit' | 'debit', txType: 'deposit' | 'withdrawal' | 'fee', at: number): LedgerPosting => ({
      entryId: `${account}-${id}`,
      accountId: account,
      direction,
      amountMinor,
      currency: 'USD',
      bookingTime: at,
      valueTime: at,
      status: 'booked',
      txType,
      endToEndId: `E2E-${id}`,
      remittance: null,
      tokenizationRef: null,
    });
    let n = 0;
    const camtFile = async (family: 'camt.052' | 'camt.054' | 'camt.053', ps: LedgerPosting[]) => {
      const r = await ingestCamt(input(writeCamt(ps, { family, messageId: `MSG-${++n}`, account: 'CAMT', currency: 'USD', openingMinor: 0n, createdAt: Date.now() }), `${family}-${n}.xml`), {
        js: h.js,
        config,
      });
      expect(r.ok).toBe(true);
      return r as Extract<typeof r, { ok: true }>;
    };
    /** One bank movement, on both sides: an Avro posting, and a camt.054 notification (camt.052 when pending). */
    const bank = async (id: string, amountMinor: bigint, direction: 'credit' | 'debit', txType: 'deposit' | 'withdrawal' | 'fee', status: 'pending' | 'booked' = 'booked') => {
      const at = Date.now();
      const pair = { AVRO: { ...posting('AVRO', id, amountMinor, direction, txType, at), status }, CAMT: { ...posting('CAMT', id, amountMinor, direction, txType, at), status } };
      if (status === 'booked') made[id] = pair;
      await h.posting(pair.AVRO);
      await camtFile(status === 'pending' ? 'camt.052' : 'camt.054', [pair.CAMT]);
    };
    const chain = async (f: (w: `0x${string}`) => Promise<void>) => {
      for (const w of [wallets.AVRO, wallets.CAMT]) await f(w);
    };

    // A deposit reported pending, then booked, then minted; a withdrawal burned then debited.
    await bank('dep-1', 10_000n, 'credit', 'deposit', 'pending');
    await bank('dep-1', 10_000n, 'credit', 'deposit');
    await chain((w) => h.mint(w, $(10_000n)));
    await chain((w) => h.burn(w, $(3_000n)));
    await bank('wd-1', 3_000n, 'debit', 'withdrawal');
    // A fee (not matched); a deposit never minted; a mint never credited.
    await bank('fee-1', 150n, 'debit', 'fee');
    await bank('dep-2', 2_500n, 'credit', 'deposit');
    await chain((w) => h.mint(w, $(777n)));
    // The day's camt.053 repeats every booked entry: nothing new is published.
    const eodMessage = n + 1;
    const eod = await camtFile(
      'camt.053',
      ['dep-1', 'wd-1', 'fee-1', 'dep-2'].map((id) => made[id]!.CAMT),
    );
    expect(eod).toMatchObject({ postings: 4, published: 0, duplicates: 4 });
    // The bank re-sends dep-2 with another amount: a DUPLICATE, not a new posting.
    await h.posting({ ...made['dep-2']!.AVRO, amountMinor: 2_600n }, { msgId: 'AVRO-dep-2:changed' });
    expect(await camtFile('camt.054', [{ ...made['dep-2']!.CAMT, amountMinor: 2_600n }])).toMatchObject({ published: 1 });

    const summary = async (account: string) => {
      const d = (await h.discrepancies()).filter((x) => x.account_id === account).map((x) => `${x.kind}:${x.status}`);
      const m = (await h.matches()).filter((x) => x.account_id === account).map((x) => `${x.match_by}:${x.status}`);
      return { discrepancies: d.sort(), matches: m.sort() };
    };
    const expected = ['DUPLICATE:open', 'MISSING_BANK_CREDIT:open', 'MISSING_MINT:open'];
    const settled = async (account: string) => {
      const s = await summary(account);
      return JSON.stringify(s.discrepancies) === JSON.stringify(expected) && s.matches.length === 2 && s;
    };
    const avroSide = await h.waitFor('the Avro account to settle', () => settled('AVRO'), 60_000);
    const camtSide = await h.waitFor('the camt account to settle', () => settled('CAMT'), 60_000);
    expect(camtSide).toEqual(avroSide);
    const entries = await queryRows<{ account_id: string; status: string; tx_type: string; amount_text: string }>(
      h.ch.client,
      `SELECT account_id, status, tx_type, toString(amount_minor) AS amount_text FROM ${h.ch.database}.ledger_entries_current WHERE account_id IN ('AVRO', 'CAMT') ORDER BY account_id, toInt64(amount_minor)`,
    );
    const side = (a: string) => entries.filter((e) => e.account_id === a).map((e) => `${e.status}:${e.tx_type}:${e.amount_text}`);
    expect(side('CAMT')).toEqual(side('AVRO'));
    expect(side('CAMT')).toEqual(['booked:fee:150', 'booked:deposit:2500', 'booked:withdrawal:3000', 'booked:deposit:10000']);
    // Three-way: the statement's CLBD against the engine's running balance of the account (the
    // chain side is the balance reconciler's); the day's statement, with an opening of 0, agrees.
    const gaps = await queryRows<{ statement_id: string; balance_type: string; statement_minor: string; engine_minor: string; gap: string }>(
      h.ch.client,
      `SELECT statement_id, balance_type, toString(statement_minor) AS statement_minor, toString(engine_minor) AS engine_minor, toString(gap) AS gap FROM ${h.ch.database}.statement_balance_gaps WHERE account_id = 'CAMT' ORDER BY statement_id`,
    );
    // The intraday report (pending deposit only) at its time, and the day's statement.
    expect(gaps).toEqual([
      { statement_id: 'MSG-1', balance_type: 'ITBD', statement_minor: '0', engine_minor: '0', gap: '0' },
      { statement_id: `MSG-${eodMessage}`, balance_type: 'CLBD', statement_minor: '9350', engine_minor: '9350', gap: '0' },
    ]);
  }, 120_000);

  it('records statement balances, and opens and resolves statement discrepancies', async () => {
    const sequences = redisStatementSequences(redis, config.namespace);
    const day = 86_400_000;
    const t0 = Date.UTC(2025, 0, 6);
    const stmt = (n: number, openingMinor: bigint, tweak = (x: string) => x) =>
      input(
        writeCamt([], {
          family: 'camt.053',
          messageId: `SM-${n}`,
          reportId: `ST-${n}`,
          account: 'DE-STMT-IBAN',
          currency: 'USD',
          openingMinor,
          electronicSeq: BigInt(n),
          from: t0 + n * day,
          to: t0 + (n + 1) * day - 1,
          createdAt: t0 + (n + 1) * day,
        }).map(tweak),
        `st${n}.xml`,
      );
    expect((await ingestCamt(stmt(1, 100n), { js: h.js, config, sequences })).ok).toBe(true);
    // Statement 3 before 2: a gap; its CLBD is off by one cent.
    const off = (x: string) => x.replace(/<Cd>CLBD<\/Cd><\/CdOrPrtry><\/Tp><Amt Ccy="USD">1\.00</, '<Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="USD">1.01<');
    expect((await ingestCamt(stmt(3, 100n, off), { js: h.js, config, sequences })).ok).toBe(true);
    const stmtDiscrepancies = async () => (await h.discrepancies()).filter((d) => d.account_id === 'STMT').map((d) => `${d.discrepancy_id}=${d.status}`);
    await h.waitFor('gap and mismatch', async () => (await stmtDiscrepancies()).length === 2);
    expect(await stmtDiscrepancies()).toEqual(['STATEMENT_BALANCE_MISMATCH:STMT:camt.053:ST-3=open', 'STATEMENT_SEQUENCE_GAP:STMT:camt.053:2-2=open']);
    expect((await ingestCamt(stmt(2, 100n), { js: h.js, config, sequences })).ok).toBe(true);
    await h.waitFor('the gap resolved', async () => (await stmtDiscrepancies()).includes('STATEMENT_SEQUENCE_GAP:STMT:camt.053:2-2=resolved'));
    const balances = await queryRows<{ statement_id: string; balance_type: string; amount_minor: string; sequence: string }>(
      h.ch.client,
      `SELECT statement_id, balance_type, toString(amount_minor) AS amount_minor, toString(sequence) AS sequence FROM ${h.ch.database}.statement_balances FINAL WHERE account_id = 'STMT' ORDER BY statement_id, balance_type`,
    );
    expect(balances.map((b) => `${b.statement_id}:${b.balance_type}:${b.amount_minor}:${b.sequence}`)).toEqual([
      'ST-1:CLBD:100:1',
      'ST-1:OPBD:100:1',
      'ST-2:CLBD:100:2',
      'ST-2:OPBD:100:2',
      'ST-3:CLBD:101:3',
      'ST-3:OPBD:100:3',
    ]);
  }, 60_000);

  it('stores a refused camt message in dead_letters through the worker, like any dead letter', async () => {
    const bad = input(['<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>'], 'broken.xml');
    const r = await ingestCamt(bad, { js: h.js, config });
    expect(r).toMatchObject({ ok: false, code: 'DECODE_ERROR' });
    const rows = await h.waitFor('dead_letters row', async () => {
      const x = await queryRows<{ source: string; subject: string; reason_code: string; payload_base64: string }>(
        h.ch.client,
        `SELECT source, subject, reason_code, payload_base64 FROM ${h.ch.database}.dead_letters FINAL WHERE source = 'camt'`,
      );
      return x.length > 0 && x;
    });
    expect(rows).toEqual([{ source: 'camt', subject: 'broken.xml', reason_code: 'DECODE_ERROR', payload_base64: expect.any(String) }]);
    expect(Buffer.from(rows[0]!.payload_base64, 'base64').toString()).toContain('BkToCstmrStmt');
  });
});
