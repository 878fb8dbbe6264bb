import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { ClickHouseLogLevel, createClient, type ClickHouseClient, type ClickHouseClientConfigOptions, type ClickHouseSettings } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import { chdbRawInsertConnection } from './chdbRawInsertConnection.js';
import { INSERT_JSON, withRowsPassedThrough } from './preEncodedRows.js';
import type { Logger } from 'pino';
import type { Config } from '../../config/schema.js';

type ChdbAsClientConnection = NonNullable<ClickHouseClientConfigOptions['connection']>;

export type CreateClickHouseOptions = Config['clickhouse'];

/**
 * Settings sent with every query and insert, on both backends. Explicit, because defaults differ
 * between ClickHouse versions and between the HTTP server and embedded chdb:
 * - synchronous inserts: a resolved insert is durable (ClickHouse 26 defaults async_insert to on);
 * - deduplication of retried inserts on non-replicated tables (with the table's
 *   non_replicated_deduplication_window);
 * - insert_deduplication_token reset to '' on every statement: chdb applies settings as session
 *   `SET`s that persist, so a token left over from one insert would silently drop the next one;
 * - 64-bit and wider integers quoted in JSON output, so Int128/Int256 money reads back exactly
 *   (chdb's default prints them as floats).
 */
export const CLICKHOUSE_SETTINGS: ClickHouseSettings = {
  async_insert: 0,
  wait_for_async_insert: 1,
  insert_deduplicate: 1,
  insert_deduplication_token: '',
  output_format_json_quote_64bit_integers: 1,
  output_format_json_quote_decimals: 1,
};

/**
 * Creates a `@clickhouse/client` client: HTTP to `cfg.url` when set, otherwise embedded chdb with
 * its data in `cfg.dataDir` (created if missing). Everything after creation is the same code path.
 * The client is deliberately NOT bound to `cfg.database` (it may not exist yet, and chdb ignores
 * the option): every statement qualifies its tables with the database name.
 */
/** The client's own logger prints every failed request to the console; the sink reports failures
 *  itself (retry warnings on `log`, then a rejected write), so the client stays quiet. */
const CLIENT_LOG = { level: ClickHouseLogLevel.OFF };

export function createClickHouse(cfg: CreateClickHouseOptions, log?: Logger): ClickHouseClient {
  if (cfg.url) {
    log?.info({ url: cfg.url, database: cfg.database }, 'clickhouse: using HTTP server');
    return withRowsPassedThrough(
      createClient({
        url: cfg.url,
        username: cfg.username,
        password: cfg.password,
        clickhouse_settings: CLICKHOUSE_SETTINGS,
        log: CLIENT_LOG,
        request_timeout: 30_000,
        json: INSERT_JSON,
      }),
    );
  }
  const dir = resolve(cfg.dataDir);
  mkdirSync(dir, { recursive: true });
  log?.info({ dataDir: dir, database: cfg.database }, 'clickhouse: using embedded chdb');
  return withRowsPassedThrough(
    createClient({
      // chdb types against @clickhouse/client-common 1.23.0 while @clickhouse/client 1.23.1 bundles
      // its own copy of those types; structurally the same contract, nominally two declarations.
      connection: chdbRawInsertConnection(createChdbConnection({ path: dir })) as unknown as ChdbAsClientConnection,
      clickhouse_settings: CLICKHOUSE_SETTINGS,
      log: CLIENT_LOG,
      json: INSERT_JSON,
    }),
  );
}
