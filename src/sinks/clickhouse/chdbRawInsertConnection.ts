import { parseError } from '@clickhouse/client-common';
import type { ChdbConnection, ConnInsertParams, ConnInsertResult, Connection } from 'chdb/connection';
import type { Readable } from 'node:stream';

/** What `@clickhouse/client` sends for `client.insert({ table, columns, format })` (client.ts getInsertQuery). */
const CLIENT_INSERT = /^INSERT INTO (\S+)(?: \(([^()*]+)\))? FORMAT (\w+)$/;

/** Formats chdb's raw passthrough insert takes (chdb's RawInsertFormat whitelist). */
const RAW_FORMATS = new Set(['JSONEachRow', 'JSONCompactEachRow', 'CSV', 'CSVWithNames', 'TSV', 'TabSeparated', 'TSVWithNames', 'TabSeparatedWithNames']);

/** Settings with no meaning to an embedded engine (chdb's own connection drops them too). */
const HTTP_ONLY_SETTINGS = new Set([
  'wait_end_of_query',
  'send_progress_in_http_headers',
  'http_response_buffer_size',
  'http_headers_progress_interval_ms',
  'http_send_progress_interval_ms',
  'enable_http_compression',
  'http_zlib_compression_level',
  'http_response_compression_method',
  'http_native_compression_disable_checksumming_on_decompress',
  'default_format',
]);

async function bodyBytes(values: string | Readable): Promise<Buffer> {
  if (typeof values === 'string') return Buffer.from(values, 'utf8');
  const chunks: Buffer[] = [];
  for await (const c of values as AsyncIterable<Buffer | Uint8Array | string>) chunks.push(typeof c === 'string' ? Buffer.from(c, 'utf8') : Buffer.from(c));
  return Buffer.concat(chunks);
}

/**
 * chdb's `Connection` for `@clickhouse/client`, with `insert` through chdb's raw passthrough insert.
 *
 * Why: chdb's stock `insert` splices the body into the SQL text (`INSERT … FORMAT X\n<rows>`), and
 * the SQL lexer then scans every byte of the rows: ~1.3 µs per cell, 4-5x the cost of the raw
 * path, which hands the rows to the format parser as bytes (measured on 50,000 two-column rows:
 * 210 ms of CPU against 48 ms). The raw path also carries the statement's settings in the INSERT's
 * own SETTINGS clause instead of session-wide `SET`s that outlive the statement. Everything else
 * (queries, commands, exec, ping, close) is chdb's own; an insert this adapter cannot map (a format
 * or column form outside the raw whitelist) also goes through chdb's own path. Errors keep the
 * `ClickHouseError` shape (code, type) that the sink's retry classification reads.
 */
export function chdbRawInsertConnection(inner: ChdbConnection): Connection<Readable> {
  const conn = inner as unknown as Connection<Readable> & ChdbConnection;
  const insert = async (params: ConnInsertParams<Readable>): Promise<ConnInsertResult> => {
    const m = CLIENT_INSERT.exec(params.query.trim());
    if (!m || !RAW_FORMATS.has(m[3]!)) return conn.insert(params);
    const settings: Record<string, string | number | boolean> = {};
    for (const [k, v] of Object.entries(params.clickhouse_settings ?? {})) {
      if (v === undefined || HTTP_ONLY_SETTINGS.has(k)) continue;
      settings[k] = typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? v : String(v);
    }
    const body = await bodyBytes(params.values);
    const query_id = params.query_id ?? crypto.randomUUID();
    if (body.length === 0) return { query_id, response_headers: {}, http_status_code: 200 } as ConnInsertResult;
    try {
      const s = await inner.chdb.rawInsert({
        table: m[1]!,
        format: m[3]! as 'JSONCompactEachRow',
        values: body,
        settings,
        ...(m[2] && { columns: m[2].split(',').map((c) => c.trim()) }),
      });
      return {
        query_id,
        response_headers: {},
        http_status_code: 200,
        summary: {
          read_rows: '0',
          read_bytes: '0',
          written_rows: String(s.rowsWritten),
          written_bytes: String(s.bytesWritten),
          total_rows_to_read: '0',
          result_rows: '0',
          result_bytes: '0',
          elapsed_ns: String(Math.round(s.elapsed * 1e9)),
        },
      } as ConnInsertResult;
    } catch (e) {
      const mapped = parseError(e instanceof Error && e.message ? e.message : String(e));
      (mapped as Error & { cause?: unknown }).cause = e;
      throw mapped;
    }
  };
  return new Proxy(conn, {
    get(target, prop) {
      if (prop === 'insert') return insert;
      // The target as receiver: chdb's getters read private fields (#chdb), which a proxy lacks.
      const v = Reflect.get(target, prop) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
