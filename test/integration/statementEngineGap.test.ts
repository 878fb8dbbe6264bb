import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fact } from '../../src/domain/facts.js';
import { ledgerEntryFact } from '../../src/domain/factRows.js';
import type { LedgerEntry } from '../../src/domain/types.js';
import { createFactWriter } from '../../src/sinks/clickhouse/factWriter.js';
import { startHarness, type Harness } from '../support/harness.js';

/**
 * The third leg of the three-way balance check: a bank statement's closing balance against the
 * engine's running balance of the account. A gap that moves between two statements opens a
 * STATEMENT_BALANCE_MISMATCH; it resolves when the posting the engine missed arrives.
 */
describe('statement against engine', () => {
  let h: Harness;
  const T = Date.UTC(2026, 10, 2);
  const DAY = 86_400_000;

  beforeAll(async () => {
    h = await startHarness({
      config: { balances: { intervalMs: 3_600_000, onChangeDebounceMs: 3_600_000, driftGraceMs: 60_000 } },
    });
  }, 60_000);
  afterAll(async () => {
    await h?.stop();
  });

  const entry = (id: string, amountMinor: bigint, at: number): LedgerEntry => ({
    entryId: id,
    accountId: 'ACC-STMT',
    direction: 'credit',
    amountMinor,
    currency: 'EUR',
    exponent: 2,
    bookingTime: at,
    valueTime: at,
    status: 'booked',
    txType: 'transfer',
    endToEndId: null,
    remittance: null,
    tokenizationRef: null,
    schemaVersion: 3,
  });
  const closing = (statementId: string, day: number, amountMinor: bigint): Fact => ({
    table: 'statement_balances',
    row: {
      balance_id: `ACC-STMT:camt.053:${statementId}:CLBD:${day}`,
      account_id: 'ACC-STMT',
      statement_account: 'DE00 STMT',
      message_type: 'camt.053',
      statement_id: statementId,
      message_id: `MSG-${statementId}`,
      balance_type: 'CLBD',
      amount_minor: amountMinor.toString(),
      currency: 'EUR',
      exponent: 2,
      balance_time: day,
      sequence: '0',
      recorded_at: Date.now(),
    },
  });
  const mismatches = async () => (await h.discrepancies()).filter((d) => d.discrepancy_id.startsWith('STATEMENT_BALANCE_MISMATCH:engine:'));

  it('opens a mismatch when the gap moves between statements and resolves it when the missed posting arrives', async () => {
    const w = createFactWriter(h.ch.client, h.ch.database);
    // 500.00 on the account before the engine saw it: the gap is 50000 on day 1 and day 2 (fine).
    await w.write([ledgerEntryFact(entry('S-1', 10_000n, T + 3_600_000), 1, Date.now()), closing('D1', T, 60_000n)]);
    await w.write([ledgerEntryFact(entry('S-2', 20_000n, T + DAY + 3_600_000), 2, Date.now()), closing('D2', T + DAY, 80_000n)]);
    // Day 3: the bank booked 70.00 the engine never saw (closing 80000 + 7000, no entry).
    await w.write([closing('D3', T + 2 * DAY, 87_000n)]);
    await h.daemon.balances.checkNow();
    await h.daemon.factsLoaded(); // with the fact log, the check's facts are in ClickHouse
    const [m] = await mismatches();
    expect(m).toMatchObject({ discrepancy_id: 'STATEMENT_BALANCE_MISMATCH:engine:ACC-STMT:D3', status: 'open', kind: 'STATEMENT_BALANCE_MISMATCH' });
    expect(m!.reason).toContain('moved 7000 minor units of EUR');
    // The posting arrives late: the gap is constant again, the mismatch resolves.
    await w.write([ledgerEntryFact(entry('S-3', 7_000n, T + 2 * DAY + 3_600_000), 3, Date.now())]);
    await h.daemon.balances.checkNow();
    await h.daemon.factsLoaded(); // with the fact log, the check's facts are in ClickHouse
    expect((await mismatches()).map((x) => x.status)).toEqual(['resolved']);
  });
});
