import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fact, MatchRow } from '../../src/domain/facts.js';
import { ledgerEntryFact } from '../../src/domain/factRows.js';
import { discrepancyEvent } from '../../src/domain/outcomeFacts.js';
import type { LedgerEntry } from '../../src/domain/types.js';
import { chainRecord, type AuditRecord } from '../../src/cases/auditChain.js';
import { reportMain } from '../../src/cli/report.js';
import { parseConfig } from '../../src/config/load.js';
import { exportReport } from '../../src/reports/exportReport.js';
import { createFactWriter } from '../../src/sinks/clickhouse/factWriter.js';
import { queryRows } from '../../src/sinks/clickhouse/queries.js';
import { tempClickHouse, type TempClickHouse } from '../support/clickhouse.js';

const DAY = 86_400_000;
const FROM = Date.UTC(2026, 10, 1);
const TO = Date.UTC(2026, 11, 1);

const entry = (id: string, account: string, direction: 'credit' | 'debit', amount: bigint, at: number, currency = 'USD'): LedgerEntry => ({
  entryId: id,
  accountId: account,
  direction,
  amountMinor: amount,
  currency,
  exponent: 2,
  bookingTime: at,
  valueTime: at,
  status: 'booked',
  txType: direction === 'credit' ? 'deposit' : 'withdrawal',
  endToEndId: null,
  remittance: null,
  tokenizationRef: null,
  schemaVersion: 2,
});
const match = (id: string, bankEntry: string, account: string, at: number, late = 0): Fact => ({
  table: 'matches',
  row: {
    match_id: id,
    flow: 'deposit',
    match_by: 'attributes',
    bank_leg_id: `bank:${bankEntry}`,
    chain_leg_id: `chain:${id}`,
    account_id: account,
    wallet: '0xw',
    currency: 'USD',
    token_key: '1:0xt',
    amount_base: '1',
    bank_time: at,
    chain_time: at,
    late,
    resolved_discrepancy_id: '',
    status: 'matched',
    version: 1,
    recorded_at: at,
    rule_id: 'exact-attributes',
    rule_version: 'builtin-1',
    confidence: 'confirmed',
    amount_difference: '0',
  } satisfies MatchRow,
});

/** The period reports on facts written by the fact writer, exported page by page (two rows a page). */
describe('period reports', () => {
  let ch: TempClickHouse;
  let dir: string;
  const csv = async (report: Parameters<typeof exportReport>[0]['report']) => {
    const out = join(dir, `${report}.csv`);
    const r = await exportReport({ client: ch.client, database: ch.database, report, from: FROM, to: TO, format: 'csv', out, pageRows: 2 });
    return { ...r, lines: readFileSync(out, 'utf8').trimEnd().split('\n') };
  };

  beforeAll(async () => {
    ch = await tempClickHouse();
    dir = mkdtempSync(join(tmpdir(), 'recon-reports-'));
    const facts: Fact[] = [
      // ACC-1: 1,000.00 before the period; +500.00 and -200.00 in it; +1.00 after it.
      ledgerEntryFact(entry('E-0', 'ACC-1', 'credit', 100_000n, FROM - DAY), 1, FROM),
      ledgerEntryFact(entry('E-1', 'ACC-1', 'credit', 50_000n, FROM + DAY), 2, FROM),
      ledgerEntryFact(entry('E-2', 'ACC-1', 'debit', 20_000n, FROM + 2 * DAY), 3, FROM),
      ledgerEntryFact(entry('E-3', 'ACC-1', 'credit', 100n, TO + DAY), 4, FROM),
      ledgerEntryFact(entry('E-4', 'ACC-2', 'credit', 7n, FROM + 3 * DAY, 'JPY'), 5, FROM),
      ledgerEntryFact(entry('E-5', 'ACC-3', 'credit', 10n ** 20n, FROM + 4 * DAY), 6, FROM),
      match('M-1', 'E-1', 'ACC-1', FROM + DAY),
      match('M-2', 'E-0', 'ACC-1', FROM - DAY),
      match('M-5', 'E-5', 'ACC-3', FROM + 4 * DAY, 1),
      // Open at the end of the period: opened 40 days before it ends; resolved before the end; opened after it.
      discrepancyEvent({
        id: 'MISSING_MINT:bank:E-2',
        status: 'open',
        reason: 'no mint',
        fallback: { account_id: 'ACC-1', currency: 'USD', expected_amount: '20000' },
        eventTime: TO - 40 * DAY,
        now: TO - 40 * DAY,
      }),
      discrepancyEvent({ id: 'MISSING_MINT:bank:E-9', status: 'open', reason: 'no mint', fallback: { account_id: 'ACC-1', currency: 'USD', expected_amount: '1' }, eventTime: FROM, now: FROM + DAY }),
      discrepancyEvent({
        id: 'MISSING_MINT:bank:E-9',
        status: 'resolved',
        reason: 'late mint',
        fallback: { account_id: 'ACC-1', currency: 'USD', expected_amount: '1' },
        eventTime: FROM,
        now: FROM + 2 * DAY,
      }),
      discrepancyEvent({
        id: 'MISSING_BURN:bank:E-8',
        status: 'open',
        reason: 'no burn',
        fallback: { account_id: 'ACC-2', currency: 'USD', expected_amount: '5' },
        eventTime: TO + DAY,
        now: TO + DAY,
      }),
    ];
    // A write-off approved by a second person in the period.
    const audit: AuditRecord[] = [];
    const add = (actor: string, action: string, content: unknown, at: number) => audit.push(chainRecord(audit.at(-1) ?? null, { at, actor, action, subject: 'MISSING_MINT:bank:E-2', content }));
    add('alice', 'case.request_write_off', { action: { type: 'request_write_off', amountMinor: '20000', currency: 'USD', reasonCode: 'FEE' }, from: 'assigned', to: 'assigned' }, FROM + 5 * DAY);
    add('bob', 'case.approve', { action: { type: 'approve', requestId: 'R-1' }, from: 'assigned', to: 'resolved', resolution: 'write_off' }, FROM + 6 * DAY);
    for (const r of audit)
      facts.push({
        table: 'audit_log',
        row: { seq: r.seq, at: r.at, actor: r.actor, action: r.action, subject: r.subject, content: r.content, prev_hash: r.prevHash, hash: r.hash, recorded_at: r.at },
      });
    await createFactWriter(ch.client, ch.database).write(facts);
  });
  afterAll(async () => {
    await ch?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("positions: opening and closing balances and the period's flows, exact beyond 64 bits", async () => {
    const r = await csv('positions');
    expect(r.lines).toEqual([
      '"account_id","currency","opening_minor","credits_minor","debits_minor","closing_minor"',
      '"ACC-1","USD","100000","50000","20000","130000"',
      '"ACC-2","JPY","0","7","0","7"',
      '"ACC-3","USD","0","100000000000000000000","0","100000000000000000000"',
    ]);
    expect(r).toMatchObject({ rows: 3, pages: 2 });
  });

  it("matched: the period's matches per account and currency, with their bank-side totals", async () => {
    expect((await csv('matched')).lines).toEqual(['"account_id","currency","matches","late_matches","matched_minor"', '"ACC-1","USD",1,0,"50000"', '"ACC-3","USD",1,1,"100000000000000000000"']);
  });

  it('exceptions: what is open at the end of the period, aged then', async () => {
    const r = await csv('exceptions');
    expect(r.lines).toHaveLength(2);
    expect(r.lines[1]).toMatch(/^"MISSING_MINT:bank:E-2","MISSING_MINT","ACC-1","USD","20000",.*,40,">30d"$/);
  });

  it('adjustments: the write-off with its requester and approver', async () => {
    expect((await csv('adjustments')).lines[1]).toMatch(/^"MISSING_MINT:bank:E-2","write_off","20000","USD","FEE","alice","bob",\d+,2$/);
  });

  it('exports Parquet as one part per page, read back as one table', async () => {
    const out = join(dir, 'ledger');
    const r = await exportReport({ client: ch.client, database: ch.database, report: 'ledger', from: FROM, to: TO, format: 'parquet', out, pageRows: 2 });
    expect(r).toMatchObject({ rows: 4, pages: 2 });
    expect(readdirSync(out).sort()).toEqual(['part-00001.parquet', 'part-00002.parquet']);
    const back = await queryRows<{ entry_id: string; amount_minor: string }>(ch.client, `SELECT entry_id, amount_minor FROM file('${out}/*.parquet', Parquet) ORDER BY entry_id`);
    expect(back.map((x) => `${x.entry_id}=${x.amount_minor}`)).toEqual(['E-1=50000', 'E-2=20000', 'E-4=7', 'E-5=100000000000000000000']);
  });

  it('recon report: the same export from the command line, usage errors exit 2', async () => {
    const config = parseConfig({ clickhouse: { database: ch.database, dataDir: ch.dir } });
    const lines: string[] = [];
    const out = join(dir, 'cli-positions.csv');
    expect(
      await reportMain(['positions', '--from', new Date(FROM).toISOString(), '--to', new Date(TO).toISOString(), '--out', out], config, { clickhouse: ch.client, out: (l) => lines.push(l) }),
    ).toBe(0);
    expect(JSON.parse(lines[0]!)).toMatchObject({ rows: 3, pages: 1 });
    expect(readFileSync(out, 'utf8')).toContain('"ACC-1","USD","100000","50000","20000","130000"');
    expect(await reportMain(['positions', '--from', 'yesterday', '--out', out], config, { clickhouse: ch.client })).toBe(2);
    expect(await reportMain(['balances', '--from', '2026-01-01', '--to', '2026-02-01', '--out', out], config, { clickhouse: ch.client })).toBe(2);
  });

  it('writes the header of an empty report', async () => {
    const out = join(dir, 'empty.csv');
    const r = await exportReport({ client: ch.client, database: ch.database, report: 'ledger', from: 0, to: 1, format: 'csv', out });
    expect(r.rows).toBe(0);
    expect(readFileSync(out, 'utf8').trim().split('\n')).toEqual([
      '"entry_id","account_id","direction","amount_minor","currency","status","tx_type","booking_time_ms","value_time_ms","end_to_end_id","tokenization_ref"',
    ]);
  });
});
