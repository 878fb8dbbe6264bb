import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { createClickHouse } from '../../src/sinks/clickhouse/createClickHouse.js';
import { migrate } from '../../src/sinks/clickhouse/migrations.js';

export interface TempClickHouse {
  client: ClickHouseClient;
  database: string;
  dir: string;
  close(): Promise<void>;
}

/**
 * A migrated ClickHouse for one test file: embedded chdb in a fresh temp dir (libchdb binds one
 * data dir per process, so call this once per file), or, when CLICKHOUSE_URL is set, that server
 * with a database of its own that close() drops.
 */
export async function tempClickHouse(): Promise<TempClickHouse> {
  const dir = mkdtempSync(join(tmpdir(), 'recon-chdb-'));
  const url = process.env.CLICKHOUSE_URL;
  const database = url ? `recon_test_${process.pid}_${Date.now().toString(36)}` : 'recon';
  const client = createClickHouse({
    url,
    username: process.env.CLICKHOUSE_USER ?? 'default',
    password: process.env.CLICKHOUSE_PASSWORD ?? '',
    database,
    dataDir: dir,
  });
  try {
    await migrate(client, database);
  } catch (e) {
    await client.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    client,
    database,
    dir,
    async close() {
      try {
        if (url) await client.command({ query: `DROP DATABASE IF EXISTS ${database}` });
      } finally {
        await client.close();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
