import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backtest } from '../../src/cli/backtest.js';
import type { Fact } from '../../src/domain/facts.js';
import { createFactWriter } from '../../src/sinks/clickhouse/factWriter.js';
import { countFacts } from '../../src/sinks/clickhouse/queries.js';
import { tempClickHouse, type TempClickHouse } from '../support/clickhouse.js';
import { CHAIN_ID, D, entry, H, T0, TOKEN, transfer, wallet } from '../unit/amlFixtures.js';

/** The backtest reads stored history from ClickHouse, runs it through a rule file, writes nothing. */
describe('AML backtest', () => {
  let ch: TempClickHouse;
  const wa = wallet('a1');
  beforeAll(async () => {
    ch = await tempClickHouse();
    const facts: Fact[] = [];
    const bank = [entry('ACC-A', 950_000n, T0), entry('ACC-A', 920_000n, T0 + 5 * H), entry('ACC-A', 990_000n, T0 + 20 * H), entry('ACC-A', 800_000n, T0 + 3 * D)];
    for (const e of bank) {
      facts.push({
        table: 'ledger_entries',
        row: {
          entry_id: e.entryId,
          account_id: e.accountId,
          direction: e.direction,
          amount_minor: e.amountMinor.toString(),
          currency: e.currency,
          exponent: 2,
          booking_time: e.bookingTime,
          value_time: e.valueTime,
          status: 'booked',
          tx_type: e.txType,
          end_to_end_id: '',
          remittance: '',
          tokenization_ref: '',
          schema_version: 2,
          stream_seq: 1,
          version: 2,
          recorded_at: T0,
        },
      });
    }
    const out = transfer(wa, wallet('e1'), 750_000n, T0 + 3 * D + 2 * H);
    facts.push({
      table: 'chain_events',
      row: {
        event_id: out.eventId,
        chain_id: out.chainId,
        token: out.token,
        block_number: out.blockNumber.toString(),
        block_hash: out.blockHash,
        block_time: out.blockTime,
        tx_hash: out.txHash,
        log_index: 0,
        kind: 'transfer',
        from_address: out.from,
        to_address: out.to,
        value: out.value.toString(),
        decimals: 18,
        reference: '',
        recorded_at: T0,
      },
    });
    await createFactWriter(ch.client, ch.database).write(facts);
  });
  afterAll(async () => {
    await ch?.close();
  });

  it('prints what a rule file would have raised over a range, and writes nothing', async () => {
    const r = await backtest({
      client: ch.client,
      database: ch.database,
      rulesFile: 'config/aml-rules.yaml',
      from: T0,
      to: T0 + 10 * D,
      accounts: [{ accountId: 'ACC-A', wallets: [wa] }],
      tokens: [{ chainId: CHAIN_ID, address: TOKEN, currency: 'USD' }],
    });
    expect(r.events).toBe(5);
    expect(r.alerts.map((a) => a.rule_id).sort()).toEqual(['pass-through', 'structuring']);
    expect(await countFacts(ch.client, ch.database, 'aml_alerts', { final: false })).toBe(0);
    // A range that starts after the structuring deposits, with a warm-up covering them, reports only what falls in the range.
    const later = await backtest({
      client: ch.client,
      database: ch.database,
      rulesFile: 'config/aml-rules.yaml',
      from: T0 + 2 * D,
      to: T0 + 10 * D,
      warmupMs: 3 * D,
      accounts: [{ accountId: 'ACC-A', wallets: [wa] }],
      tokens: [{ chainId: CHAIN_ID, address: TOKEN, currency: 'USD' }],
    });
    expect(later.alerts.map((a) => a.rule_id)).toEqual(['pass-through']);
  });
});
