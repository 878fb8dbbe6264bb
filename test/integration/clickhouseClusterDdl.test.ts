import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, createSchemaMigrations, type ClickHouseCluster } from '../../src/sinks/clickhouse/clusterDdl.js';
import { createClickHouse } from '../../src/sinks/clickhouse/createClickHouse.js';
import { MIGRATIONS, migrationStatements } from '../../src/sinks/clickhouse/migrations.js';

/**
 * No ClickHouse cluster runs here (no Docker; no usable server package: docs/deployment.md), so
 * the cluster DDL is checked by ClickHouse's own parser in embedded chdb: `formatQuery` parses a
 * statement without executing it (ON CLUSTER, Replicated and Distributed engines included) and
 * throws SYNTAX_ERROR on what the server would refuse to parse.
 */
const CLUSTER: ClickHouseCluster = { name: 'recon_cluster', replicaPath: '/clickhouse/tables/{shard}/{database}/{table}', replicaName: '{replica}' };
const DB = 'recon';

let client: ClickHouseClient;
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'recon-chdb-'));
  client = createClickHouse({ username: 'default', password: '', database: DB, dataDir: dir });
});

afterAll(async () => {
  await client?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The statement as ClickHouse's parser reads it, formatted back to one canonical text. */
async function parsed(statement: string): Promise<string> {
  const literal = `'${statement.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
  const rs = await client.query({ query: `SELECT formatQuerySingleLine(${literal}) AS f`, format: 'JSONEachRow' });
  const [row] = await rs.json<{ f: string }>();
  return row!.f;
}

describe('cluster DDL through ClickHouse’s parser (chdb)', () => {
  it('parses every cluster statement of every migration, keeping ON CLUSTER and the engines', async () => {
    const statements = [createDatabase(DB, CLUSTER), createSchemaMigrations(DB, CLUSTER), ...MIGRATIONS.flatMap((m) => migrationStatements(m, DB, CLUSTER))];
    expect(statements.length).toBeGreaterThan(60);
    const engines = new Set<string>();
    for (const s of statements) {
      const f = await parsed(s);
      if (s.startsWith('INSERT INTO')) expect(f).toMatch(/^INSERT INTO recon\.\w+ SELECT/);
      else expect(f, s.slice(0, 80)).toContain('ON CLUSTER recon_cluster');
      for (const m of f.matchAll(/ENGINE = (\w+)/g)) engines.add(m[1]!);
    }
    expect([...engines].sort()).toEqual(['Distributed', 'ReplicatedAggregatingMergeTree', 'ReplicatedReplacingMergeTree']);
  });

  it('rejects a statement the server could not parse (the check can fail)', async () => {
    const [first] = migrationStatements(MIGRATIONS[0]!, DB, CLUSTER);
    await expect(parsed(first!.replace('ON CLUSTER recon_cluster', 'ON CLUSTER'))).rejects.toThrow(/Syntax error/i);
    await expect(parsed(first!.replace(/\n\)\nENGINE/, '\nENGINE'))).rejects.toThrow(/Syntax error/i);
  });
});
