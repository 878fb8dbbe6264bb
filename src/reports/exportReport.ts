import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { once } from 'node:events';
import type { ClickHouseClient } from '@clickhouse/client';
import { REPORTS, type ReportName } from './periodReports.js';

/** A report grouped by its table's sort key aggregates in key order, so a page stops at its LIMIT. */
const IN_ORDER = { optimize_aggregation_in_order: 1 } as const;

export interface ExportOptions {
  client: ClickHouseClient;
  database: string;
  report: ReportName;
  /** Epoch ms, the period [from, to). */
  from: number;
  to: number;
  format: 'csv' | 'parquet';
  /** A file for CSV; a directory for Parquet (one part file per page). */
  out: string;
  /** Rows per page (default 100,000): what one query returns at most. */
  pageRows?: number;
}

export interface ExportResult {
  rows: number;
  pages: number;
  files: string[];
}

/**
 * Exports a period report page by page, keyset-paged on its `k` column: each page is one query
 * formatted by ClickHouse (CSV, or one Parquet part per page) and streamed to disk, so memory
 * holds one page at most whatever the period. CSV gets one header line; the Parquet parts of a
 * directory form one dataset (Spark, DuckDB and ClickHouse read them as one table).
 */
export async function exportReport(o: ExportOptions): Promise<ExportResult> {
  const def = REPORTS[o.report];
  const pageRows = o.pageRows ?? 100_000;
  const base = def.sql(o.database);
  const params = { from: o.from, to: o.to };
  const csv = o.format === 'csv' ? createWriteStream(o.out) : undefined;
  if (!csv) mkdirSync(o.out, { recursive: true });
  const files: string[] = csv ? [o.out] : [];
  let last: string | null = null;
  let rows = 0;
  let pages = 0;
  try {
    for (;;) {
      const after: string = last === null ? '1' : 'k > {last:String}';
      // The page's last key: the boundary the page's own query stops at.
      const [edge]: { k: string; n: string }[] = await (
        await o.client.query({
          query: `SELECT max(k) AS k, count() AS n FROM (SELECT k FROM (${base}) WHERE ${after} ORDER BY k LIMIT {n:UInt32})`,
          query_params: { ...params, last: last ?? '', n: pageRows },
          format: 'JSONEachRow',
          clickhouse_settings: IN_ORDER,
        })
      ).json();
      const n = Number(edge?.n ?? 0);
      if (n === 0) {
        // An empty report still has its header.
        if (csv && pages === 0) {
          const header = await o.client.exec({ query: `SELECT * EXCEPT (k) FROM (${base}) LIMIT 0 FORMAT CSVWithNames`, query_params: params });
          for await (const chunk of header.stream) csv.write(chunk);
        }
        break;
      }
      const format = csv ? (pages === 0 ? 'CSVWithNames' : 'CSV') : 'Parquet';
      const res = await o.client.exec({
        query: `SELECT * EXCEPT (k) FROM (${base}) WHERE ${after} AND k <= {edge:String} ORDER BY k FORMAT ${format}`,
        query_params: { ...params, last: last ?? '', edge: edge!.k },
        clickhouse_settings: IN_ORDER,
      });
      if (csv) {
        for await (const chunk of res.stream) if (!csv.write(chunk)) await once(csv, 'drain');
      } else {
        const file = join(o.out, `part-${String(pages + 1).padStart(5, '0')}.parquet`);
        await pipeline(res.stream, createWriteStream(file));
        files.push(file);
      }
      rows += n;
      pages++;
      last = edge!.k;
      if (n < pageRows) break;
    }
  } finally {
    if (csv) await new Promise<void>((r) => csv.end(() => r()));
  }
  return { rows, pages, files };
}
