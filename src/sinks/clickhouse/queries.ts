import type { ClickHouseClient } from '@clickhouse/client';
import type { DiscrepancyEventRow, FactTable } from '../../domain/facts.js';
import { FACT_TABLES } from './migrations.js';

/**
 * Runs a parameterised query (`{name:Type}` placeholders bound from `params`) and returns its rows.
 * 64-bit and wider integers come back as decimal strings (see CLICKHOUSE_SETTINGS); DateTime64
 * columns as 'YYYY-MM-DD hh:mm:ss.sss' strings: select `toUnixTimestamp64Milli(col)` for epoch ms.
 */
export async function queryRows<T>(client: ClickHouseClient, sql: string, params: Record<string, unknown> = {}): Promise<T[]> {
  const rs = await client.query({ query: sql, query_params: params, format: 'JSONEachRow' });
  return rs.json<T>();
}

function assertTable(table: string): asserts table is FactTable {
  if (!(FACT_TABLES as string[]).includes(table)) throw new Error(`unknown fact table ${JSON.stringify(table)}`);
}

function assertDatabase(db: string): void {
  if (!/^[a-zA-Z0-9_]+$/.test(db)) throw new Error(`invalid database name ${JSON.stringify(db)}`);
}

/** Rows in a fact table; `final: true` counts after ReplacingMergeTree collapsing (FINAL). */
export async function countFacts(client: ClickHouseClient, db: string, table: FactTable, options: { final: boolean }): Promise<number> {
  assertDatabase(db);
  assertTable(table);
  const rows = await queryRows<{ n: string | number }>(client, `SELECT count() AS n FROM ${db}.${table}${options.final ? ' FINAL' : ''}`);
  return Number(rows[0]?.n ?? 0);
}

/** An open discrepancy as `discrepancies_current` returns it. */
export interface OpenDiscrepancy extends Omit<DiscrepancyEventRow, 'event_id' | 'status' | 'expected_amount' | 'actual_amount' | 'recorded_at'> {
  /** Decimal string, or null when the discrepancy has no expected amount. */
  expected_amount: string | null;
  actual_amount: string | null;
  /** Epoch ms. */
  opened_at: number;
}

/** Discrepancies whose latest status is 'open', oldest first. */
export async function openDiscrepancies(client: ClickHouseClient, db: string): Promise<OpenDiscrepancy[]> {
  assertDatabase(db);
  const rows = await queryRows<Omit<OpenDiscrepancy, 'event_time' | 'opened_at'> & { event_time: string; opened_at: string }>(
    client,
    `SELECT discrepancy_id, kind, flow, account_id, wallet, currency, token_key, bank_leg_id, chain_leg_id,
       toString(expected_amount) AS expected_amount, toString(actual_amount) AS actual_amount, reason,
       toString(toUnixTimestamp64Milli(event_time)) AS event_time, toString(toUnixTimestamp64Milli(opened_at)) AS opened_at
     FROM ${db}.discrepancies_current
     WHERE status = 'open'
     ORDER BY opened_at, discrepancy_id`,
  );
  return rows.map((r) => ({ ...r, event_time: Number(r.event_time), opened_at: Number(r.opened_at) }));
}

/** Number of discrepancies per kind, counting each discrepancy once with its latest status. */
export async function discrepancyCountsByKind(client: ClickHouseClient, db: string, options: { status?: 'open' | 'resolved' } = {}): Promise<Record<string, number>> {
  assertDatabase(db);
  const rows = await queryRows<{ kind: string; n: string | number }>(
    client,
    `SELECT kind, count() AS n FROM ${db}.discrepancies_current
     ${options.status ? 'WHERE status = {status:String}' : ''}
     GROUP BY kind ORDER BY kind`,
    options.status ? { status: options.status } : {},
  );
  return Object.fromEntries(rows.map((r) => [r.kind, Number(r.n)]));
}
