import { describe, expect, it } from 'vitest';
import { ClickHouseError } from '@clickhouse/client';
import { projectRow } from '../../src/sinks/clickhouse/insertRow.js';
import { FACT_COLUMNS, FACT_TABLES, MIGRATIONS } from '../../src/sinks/clickhouse/migrations.js';
import { backoffDelay, isTransientClickHouseError } from '../../src/sinks/clickhouse/retry.js';

describe('ClickHouse sink, pure parts', () => {
  it('backs off exponentially up to the cap, with jitter within [ceiling/2, ceiling]', () => {
    const opts = { attempts: 10, baseDelayMs: 100, maxDelayMs: 1_000 };
    expect([1, 2, 3, 4, 5].map((a) => backoffDelay(a, opts, () => 1))).toEqual([100, 200, 400, 800, 1_000]);
    expect([1, 2, 3, 4, 5].map((a) => backoffDelay(a, opts, () => 0))).toEqual([50, 100, 200, 400, 500]);
  });

  it('treats network failures and transient server codes as retryable, statement errors as not', () => {
    expect(isTransientClickHouseError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isTransientClickHouseError(new Error('Timeout error.'))).toBe(true);
    expect(isTransientClickHouseError(new ClickHouseError({ message: 'too many parts', code: '252', type: 'TOO_MANY_PARTS' }))).toBe(true);
    expect(isTransientClickHouseError(new ClickHouseError({ message: 'syntax', code: '62', type: 'SYNTAX_ERROR' }))).toBe(false);
    expect(isTransientClickHouseError(new ClickHouseError({ message: 'no table', code: '60', type: 'UNKNOWN_TABLE' }))).toBe(false);
    expect(isTransientClickHouseError('not an error')).toBe(false);
    // Raised in this process while serialising a row: the same every time, never retried as an outage.
    expect(isTransientClickHouseError(new TypeError('Do not know how to serialize a BigInt'))).toBe(false);
    expect(isTransientClickHouseError(new RangeError('Invalid string length'))).toBe(false);
    expect(isTransientClickHouseError(new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) }))).toBe(true);
  });

  it('projects a row onto the schema columns in order, sending an absent amount as NULL', () => {
    const row = {
      extra: 'dropped',
      actual_amount: '',
      expected_amount: '5',
      discrepancy_id: 'd',
      event_id: 'd:open',
      kind: 'K',
      status: 'open',
      flow: 'f',
      account_id: 'a',
      wallet: 'w',
      currency: 'USD',
      token_key: 't',
      bank_leg_id: 'b',
      chain_leg_id: '',
      reason: 'r',
      event_time: 1,
      recorded_at: 2,
    };
    const projected = projectRow('discrepancy_events', row);
    expect(Object.keys(projected)).toEqual(Object.keys(FACT_COLUMNS.discrepancy_events));
    expect(projected).toMatchObject({ actual_amount: null, expected_amount: '5', chain_leg_id: '' });
    expect(projected).not.toHaveProperty('extra');
  });

  it('stores money in lossless columns, never floats or narrow decimals', () => {
    for (const table of FACT_TABLES) {
      for (const type of Object.values(FACT_COLUMNS[table] as Record<string, string>)) {
        expect(type, table).not.toMatch(/Float/);
        // The only decimals are discrepancy amounts in minor units with a token's exact fraction.
        if (/Decimal/.test(type)) expect(type, table).toBe('Nullable(Decimal256(18))');
      }
    }
    expect(FACT_COLUMNS.ledger_entries.amount_minor).toBe('Int128');
    expect(FACT_COLUMNS.chain_events.value).toBe('UInt256');
  });

  it('numbers migrations strictly increasing', () => {
    const versions = MIGRATIONS.map((m) => m.version);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(new Set(versions).size).toBe(versions.length);
  });
});
