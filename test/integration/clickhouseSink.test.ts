import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fact, FactRows, FactTable } from '../../src/domain/facts.js';
import { factKey } from '../../src/domain/facts.js';
import { SinkRejected, SinkUnavailable } from '../../src/lib/errors.js';
import { createClickHouse } from '../../src/sinks/clickhouse/createClickHouse.js';
import { createFactWriter } from '../../src/sinks/clickhouse/factWriter.js';
import { DASHBOARD_ROLLUP_OBJECTS, FACT_COLUMNS, FACT_TABLES, MIGRATIONS, migrate } from '../../src/sinks/clickhouse/migrations.js';
import { countFacts, discrepancyCountsByKind, openDiscrepancies, queryRows } from '../../src/sinks/clickhouse/queries.js';
import { tempClickHouse, type TempClickHouse } from '../support/clickhouse.js';

const BIG = '123456789012345678901234567890';
const T0 = Date.UTC(2025, 0, 31, 23, 59, 59, 123);
const T1 = Date.UTC(2025, 1, 1, 0, 0, 0, 456); // next month: another partition

function ledger(id: string, over: Partial<FactRows['ledger_entries']> = {}): Fact {
  return {
    table: 'ledger_entries',
    row: {
      entry_id: id,
      account_id: 'acc-1',
      direction: 'credit',
      amount_minor: '12345678901234567890123',
      currency: 'USD',
      exponent: 2,
      booking_time: T0,
      value_time: T0,
      status: 'booked',
      tx_type: 'deposit',
      end_to_end_id: `e2e-${id}`,
      remittance: 'ref',
      tokenization_ref: 'tok-1',
      schema_version: 1,
      stream_seq: 42,
      version: 2,
      recorded_at: T0,
      ...over,
    },
  };
}

function chainEvent(id: string, over: Partial<FactRows['chain_events']> = {}): Fact {
  return {
    table: 'chain_events',
    row: {
      event_id: id,
      chain_id: 31337,
      token: '0xtoken',
      block_number: '18446744073709551615',
      block_hash: '0xabc',
      block_time: T1,
      tx_hash: '0xdef',
      log_index: 3,
      kind: 'mint',
      from_address: '0x0',
      to_address: '0x1',
      value: BIG,
      decimals: 18,
      reference: 'tok-1',
      recorded_at: T1,
      ...over,
    },
  };
}

function match(id: string): Fact {
  return {
    table: 'matches',
    row: {
      match_id: id,
      flow: 'deposit',
      match_by: 'reference',
      bank_leg_id: 'b1',
      chain_leg_id: 'c1',
      account_id: 'acc-1',
      wallet: '0x1',
      currency: 'USD',
      token_key: '31337:0xtoken',
      amount_base: BIG,
      bank_time: T0,
      chain_time: T1,
      late: 0,
      resolved_discrepancy_id: '',
      status: 'matched',
      version: 1,
      recorded_at: T1,
      rule_id: 'deposit-fee',
      rule_version: '2026-12-05.1',
      confidence: 'confirmed',
      amount_difference: '0.5',
    },
  };
}

function discrepancy(id: string, status: string, recordedAt: number, over: Partial<FactRows['discrepancy_events']> = {}): Fact {
  return {
    table: 'discrepancy_events',
    row: {
      discrepancy_id: id,
      event_id: `${id}:${status}`,
      kind: 'MISSING_MINT',
      status,
      flow: 'deposit',
      account_id: 'acc-1',
      wallet: '0x1',
      currency: 'USD',
      token_key: '31337:0xtoken',
      bank_leg_id: 'b1',
      chain_leg_id: '',
      expected_amount: BIG,
      actual_amount: '',
      reason: 'no mint within window',
      event_time: T0,
      recorded_at: recordedAt,
      ...over,
    },
  };
}

function balance(id: string): Fact {
  return {
    table: 'balance_snapshots',
    row: {
      snapshot_id: id,
      scope: 'wallet',
      subject: '0x1',
      currency: 'USD',
      token_key: '31337:0xtoken',
      bank_balance: BIG,
      chain_balance: `-${BIG}`,
      onchain_reported: BIG,
      in_flight: '0',
      explained_by_open: '5',
      unexplained: `-${BIG}`,
      at: T1,
    },
  };
}

function deadLetter(id: string): Fact {
  return {
    table: 'dead_letters',
    row: {
      dead_letter_id: id,
      source: 'ledger',
      subject: 'ledger.entries',
      stream_seq: 7,
      reason_code: 'DECODE_ERROR',
      reason: 'truncated Avro',
      payload_base64: 'AAEC',
      headers: '{}',
      recorded_at: T0,
    },
  };
}

let ch: TempClickHouse;
beforeAll(async () => {
  ch = await tempClickHouse();
});
afterAll(async () => {
  await ch?.close();
});

const count = (table: FactTable, final: boolean) => countFacts(ch.client, ch.database, table, { final });

describe('ClickHouse sink (chdb)', () => {
  it('runs migrations idempotently: a second run applies nothing and changes nothing', async () => {
    expect(await migrate(ch.client, ch.database)).toEqual([]);
    const tables = await queryRows<{ name: string }>(ch.client, 'SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name', { db: ch.database });
    expect(tables.map((t) => t.name)).toEqual(
      [
        ...FACT_TABLES,
        ...DASHBOARD_ROLLUP_OBJECTS,
        'aml_dispositions',
        'chain_events_canonical',
        'discrepancies_current',
        'ledger_entries_current',
        'matches_current',
        'schema_migrations',
        'statement_balance_gaps',
      ].sort(),
    );
    const versions = await queryRows<{ version: number }>(ch.client, `SELECT version FROM ${ch.database}.schema_migrations ORDER BY version`);
    expect(versions.map((v) => Number(v.version))).toEqual(MIGRATIONS.map((m) => m.version));
  });

  // A client made elsewhere than createClickHouse: the writer cannot pass rows through, it sends values.
  const otherClient = () => new Proxy(ch.client, { get: (t, p) => (typeof Reflect.get(t, p) === 'function' ? (Reflect.get(t, p) as (...a: unknown[]) => unknown).bind(t) : Reflect.get(t, p)) });

  it.each([
    ['rows passed through (a client of createClickHouse)', 'rt-1', () => ch.client],
    ['rows sent as values (another client)', 'rt-2', otherClient],
  ])('round-trips a row of every table exactly, including 30-digit token amounts: %s', async (_, id, client) => {
    const facts: Fact[] = [ledger(id), chainEvent(id), match(id), discrepancy(id, 'open', T0), balance(id), deadLetter(id)];
    const writer = createFactWriter(client(), ch.database);
    expect(await writer.write(facts)).toEqual({ inserted: 6, skippedDuplicates: 0 });
    for (const fact of facts) {
      const columns = Object.entries(FACT_COLUMNS[fact.table] as Record<string, string>);
      const select = columns.map(([c, type]) => (type.startsWith('DateTime64') ? `toString(toUnixTimestamp64Milli(${c})) AS ${c}` : `toString(${c}) AS ${c}`)).join(', ');
      const [stored] = await queryRows<Record<string, string | null>>(ch.client, `SELECT ${select} FROM ${ch.database}.${fact.table} WHERE ${columns[0]![0]} = {id:String}`, { id });
      const expected = Object.fromEntries(
        columns.map(([c, type]) => {
          const v = (fact.row as unknown as Record<string, unknown>)[c];
          return [c, type.startsWith('Nullable') && v === '' ? null : String(v)];
        }),
      );
      expect(stored, fact.table).toEqual(expected);
    }
  });

  it('stores a redelivered batch once (raw and FINAL) when the redelivery passes suspects', async () => {
    const writer = createFactWriter(ch.client, ch.database);
    const batch = [ledger('rd-1'), chainEvent('rd-1'), match('rd-1')];
    await writer.write(batch);
    // A redelivery after a crash is re-derived: same ids, but a new recorded_at, so a new token.
    const again = [ledger('rd-1', { recorded_at: T1 }), chainEvent('rd-1', { recorded_at: T0 }), match('rd-1')];
    const result = await writer.write(again, { suspects: new Set(again.map(factKey)) });
    expect(result).toEqual({ inserted: 0, skippedDuplicates: 3 });
    for (const table of ['ledger_entries', 'chain_events', 'matches'] as const) {
      const rows = await queryRows<{ n: string }>(
        ch.client,
        `SELECT count() AS n FROM ${ch.database}.${table} WHERE ${table === 'ledger_entries' ? 'entry_id' : table === 'matches' ? 'match_id' : 'event_id'} = 'rd-1'`,
      );
      expect(Number(rows[0]!.n), table).toBe(1);
    }
  });

  it('keeps each status version of a ledger entry as its own fact, and the latest in ledger_entries_current', async () => {
    const writer = createFactWriter(ch.client, ch.database);
    await writer.write([ledger('v-1', { version: 1, status: 'pending' })]);
    const booked = ledger('v-1', { version: 2, status: 'booked' });
    expect(await writer.write([booked], { suspects: new Set([factKey(booked)]) })).toEqual({ inserted: 1, skippedDuplicates: 0 });
    const history = await queryRows<{ status: string }>(ch.client, `SELECT status FROM ${ch.database}.ledger_entries FINAL WHERE entry_id = 'v-1' ORDER BY version`);
    expect(history).toEqual([{ status: 'pending' }, { status: 'booked' }]);
    const rows = await queryRows<{ status: string }>(ch.client, `SELECT status FROM ${ch.database}.ledger_entries_current WHERE entry_id = 'v-1'`);
    expect(rows).toEqual([{ status: 'booked' }]);
  });

  it('drops an identical retried insert by its deduplication token, across partitions', async () => {
    const writer = createFactWriter(ch.client, ch.database);
    const batch = [discrepancy('tok-1', 'open', T0, { event_time: T0 }), discrepancy('tok-2', 'open', T0, { event_time: T1 })];
    const before = await count('discrepancy_events', false);
    await writer.write(batch);
    await writer.write([...batch].reverse()); // same rows, other order: same token
    // The same token whether the rows are passed through or sent as values.
    await createFactWriter(otherClient(), ch.database).write(batch);
    expect(await count('discrepancy_events', false)).toBe(before + 2);
  });

  it('collapses duplicate facts within one call before inserting', async () => {
    const writer = createFactWriter(ch.client, ch.database);
    expect(await writer.write([deadLetter('dup-1'), deadLetter('dup-1')])).toEqual({ inserted: 1, skippedDuplicates: 1 });
  });

  it('shows a discrepancy open, then resolved, in discrepancies_current', async () => {
    const writer = createFactWriter(ch.client, ch.database);
    await writer.write([discrepancy('hist-1', 'open', T0)]);
    let open = await openDiscrepancies(ch.client, ch.database);
    expect(open.find((d) => d.discrepancy_id === 'hist-1')).toMatchObject({
      kind: 'MISSING_MINT',
      expected_amount: BIG,
      actual_amount: null,
      opened_at: T0,
      event_time: T0,
    });
    await writer.write([discrepancy('hist-1', 'resolved', T1, { actual_amount: BIG })]);
    open = await openDiscrepancies(ch.client, ch.database);
    expect(open.find((d) => d.discrepancy_id === 'hist-1')).toBeUndefined();
    const [current] = await queryRows<{ status: string; opened: string; resolved: string; actual_amount: string }>(
      ch.client,
      `SELECT status, toString(toUnixTimestamp64Milli(opened_at)) AS opened, toString(toUnixTimestamp64Milli(resolved_at)) AS resolved,
         toString(actual_amount) AS actual_amount
       FROM ${ch.database}.discrepancies_current WHERE discrepancy_id = {id:String}`,
      { id: 'hist-1' },
    );
    expect(current).toEqual({ status: 'resolved', opened: String(T0), resolved: String(T1), actual_amount: BIG });
    const resolvedCounts = await discrepancyCountsByKind(ch.client, ch.database, { status: 'resolved' });
    expect(resolvedCounts).toEqual({ MISSING_MINT: 1 });
  });

  it("keeps concurrent writes apart: no insert is dropped under another insert's token", async () => {
    const writer = createFactWriter(ch.client, ch.database);
    const before = await count('balance_snapshots', false);
    await Promise.all(Array.from({ length: 40 }, (_, i) => writer.write([balance(`conc-${i}`)])));
    expect(await count('balance_snapshots', false)).toBe(before + 40);
  });

  it('inserts 10k rows in one write and counts them with and without FINAL', async () => {
    const writer = createFactWriter(ch.client, ch.database);
    const facts = Array.from({ length: 10_000 }, (_, i) => chainEvent(`bulk-${i}`, { block_time: T0 + i * 1_000, value: `${BIG}${i}` }));
    const before = await count('chain_events', false);
    const started = performance.now();
    await writer.write(facts);
    const writeMs = performance.now() - started;
    const again = performance.now();
    const result = await writer.write(facts, { suspects: new Set(facts.map(factKey)) });
    const suspectMs = performance.now() - again;
    console.info(`10k chain_events: write ${writeMs.toFixed(0)} ms, suspect re-write ${suspectMs.toFixed(0)} ms`);
    expect(result).toEqual({ inserted: 0, skippedDuplicates: 10_000 });
    expect(await count('chain_events', false)).toBe(before + 10_000);
    expect(await count('chain_events', true)).toBe(before + 10_000);
  });

  it('rejects with SinkUnavailable after bounded retries when ClickHouse is unreachable', async () => {
    const client = createClickHouse({ url: 'http://127.0.0.1:1', username: 'default', password: '', database: 'recon', dataDir: ch.dir });
    try {
      const writer = createFactWriter(client, 'recon', { retry: { attempts: 3, baseDelayMs: 5, maxDelayMs: 20 } });
      const err = await writer.write([deadLetter('down-1')]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SinkUnavailable);
      expect((err as SinkUnavailable).shortMessage).toMatch(/after 3 attempts/);
      // a suspect lookup fails the same way
      const f = deadLetter('down-2');
      await expect(writer.write([f], { suspects: new Set([factKey(f)]) })).rejects.toBeInstanceOf(SinkUnavailable);
    } finally {
      await client.close();
    }
  });

  it('refuses a row that is not JSON for good on both insert paths, without retrying', async () => {
    const f = deadLetter('not-json-1');
    const bad = { table: f.table, key: factKey(f), line: '[not json]' };
    for (const client of [ch.client, otherClient()]) {
      const writer = createFactWriter(client, ch.database, { retry: { attempts: 50, baseDelayMs: 1_000, maxDelayMs: 1_000 } });
      const err = await writer.writeEncoded([bad]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SinkRejected);
    }
  });

  it('rejects with the server error, without retrying, when ClickHouse refuses the statement', async () => {
    const writer = createFactWriter(ch.client, 'no_such_db', { retry: { attempts: 50, baseDelayMs: 1_000, maxDelayMs: 1_000 } });
    const err = await writer.write([deadLetter('bad-1')]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SinkRejected);
    expect((err as SinkRejected).serverCode).toMatch(/^\d+$/);
    expect(err).not.toBeInstanceOf(SinkUnavailable);
  });
});
