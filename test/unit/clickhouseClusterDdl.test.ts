import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../src/config/load.js';
import { FACT_ID_COLUMN } from '../../src/domain/facts.js';
import { clusterStatements, createSchemaMigrations, type ClickHouseCluster } from '../../src/sinks/clickhouse/clusterDdl.js';
import { FACT_TABLES, MIGRATIONS, migrationStatements } from '../../src/sinks/clickhouse/migrations.js';

const CLUSTER: ClickHouseCluster = { name: 'recon_cluster', replicaPath: '/clickhouse/tables/{shard}/{database}/{table}', replicaName: '{replica}' };
const DB = 'recon';
/** Single-node DDL of every migration as it was before cluster support (generated from main). */
const BEFORE = JSON.parse(readFileSync(new URL('../fixtures/clickhouse/single-node-migrations.json', import.meta.url), 'utf8')) as Record<string, string[]>;

const single = MIGRATIONS.flatMap((m) => migrationStatements(m, DB));
const clustered = MIGRATIONS.flatMap((m) => migrationStatements(m, DB, CLUSTER));
const createdTables = single.map((s) => /^CREATE TABLE IF NOT EXISTS recon\.(\w+) /.exec(s)?.[1]).filter((t): t is string => t !== undefined);

describe('single-node migrations (no clickhouse.cluster)', () => {
  it('emit the same DDL, byte for byte, as before cluster support', () => {
    for (const [version, statements] of Object.entries(BEFORE)) {
      const m = MIGRATIONS.find((x) => x.version === Number(version));
      expect(m, `migration ${version}`).toBeDefined();
      expect(migrationStatements(m!, DB)).toEqual(statements);
    }
    expect(Object.keys(BEFORE)).toEqual(MIGRATIONS.map((m) => String(m.version)));
  });

  it('keep schema_migrations a plain ReplacingMergeTree without ON CLUSTER', () => {
    expect(createSchemaMigrations(DB)).toBe(`CREATE TABLE IF NOT EXISTS recon.schema_migrations (
  version UInt32,
  name String,
  applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = ReplacingMergeTree ORDER BY version`);
  });
});

describe('cluster migrations (clickhouse.cluster set)', () => {
  it('put ON CLUSTER on every DDL statement; only back-fill INSERTs go without it', () => {
    for (const s of clustered) {
      if (s.startsWith('INSERT INTO ')) expect(s).not.toContain('ON CLUSTER');
      else expect(s.split('\n')[0]).toContain(' ON CLUSTER recon_cluster');
    }
    expect(clustered.filter((s) => s.startsWith('INSERT INTO ')).length).toBe(single.filter((s) => s.startsWith('INSERT INTO ')).length);
  });

  it('give every table a Replicated local table and a Distributed table under its own name', () => {
    expect(createdTables).toEqual(expect.arrayContaining([...FACT_TABLES, 'activity_1m', 'matches_1m', 'discrepancies_1m', 'balances_1m']));
    for (const t of createdTables) {
      const singleDdl = single.find((s) => s.startsWith(`CREATE TABLE IF NOT EXISTS recon.${t} (`))!;
      const engine = /\bENGINE = (\w+)$/m.exec(singleDdl)![1];
      const local = clustered.filter((s) => s.startsWith(`CREATE TABLE IF NOT EXISTS recon.${t}_local ON CLUSTER recon_cluster (`));
      expect(local, t).toHaveLength(1);
      expect(local[0]).toContain(`ENGINE = Replicated${engine}('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')`);
      expect(local[0]).not.toContain('non_replicated_deduplication_window');
      // Same columns, key and partition as the single-node table.
      expect(local[0]!.replace(/^.*\n/, '').replace(/ENGINE = .*$/m, '')).toBe(
        singleDdl
          .replace(/^.*\n/, '')
          .replace(/ENGINE = .*$/m, '')
          .replace(/\nSETTINGS non_replicated_deduplication_window = 1000$/, ''),
      );
      const dist = clustered.filter((s) => s.startsWith(`CREATE TABLE IF NOT EXISTS recon.${t} ON CLUSTER`));
      expect(dist, t).toHaveLength(1);
      const key = t in FACT_ID_COLUMN ? `cityHash64(${FACT_ID_COLUMN[t as keyof typeof FACT_ID_COLUMN]})` : 'rand()';
      expect(dist[0]).toBe(`CREATE TABLE IF NOT EXISTS recon.${t} ON CLUSTER recon_cluster AS recon.${t}_local\nENGINE = Distributed(recon_cluster, recon, ${t}_local, ${key})`);
      // The local table is created before its Distributed table.
      expect(clustered.indexOf(local[0]!)).toBeLessThan(clustered.indexOf(dist[0]!));
    }
  });

  it('shard every fact table by its fact id', () => {
    for (const t of FACT_TABLES) expect(clustered.join('\n')).toContain(`Distributed(recon_cluster, recon, ${t}_local, cityHash64(${FACT_ID_COLUMN[t]}))`);
  });

  it('attach materialized views to the local tables, writing into local targets', () => {
    const mvs = clustered.filter((s) => s.startsWith('CREATE MATERIALIZED VIEW'));
    expect(mvs).toHaveLength(single.filter((s) => s.startsWith('CREATE MATERIALIZED VIEW')).length);
    expect(mvs.length).toBeGreaterThanOrEqual(5);
    for (const mv of mvs) {
      const [, target] = / TO recon\.(\w+) AS\n/.exec(mv)!;
      const sources = [...mv.matchAll(/\bFROM recon\.(\w+)/g)].map((m) => m[1]!);
      expect(target).toMatch(/_local$/);
      expect(createdTables).toContain(target!.replace(/_local$/, ''));
      expect(sources).toHaveLength(1);
      expect(sources[0]).toMatch(/_local$/);
      expect(createdTables).toContain(sources[0]!.replace(/_local$/, ''));
    }
  });

  it('keep plain views on the Distributed tables, with GLOBAL IN subqueries, and idempotent', () => {
    const views = clustered.filter((s) => s.startsWith('CREATE VIEW'));
    expect(views).toHaveLength(single.filter((s) => s.startsWith('CREATE VIEW')).length);
    for (const v of views) {
      expect(v).toMatch(/^CREATE VIEW IF NOT EXISTS recon\.\w+ ON CLUSTER recon_cluster AS\n/);
      expect(v).not.toContain('_local');
      expect(v).not.toMatch(/(?<!GLOBAL )(?<!GLOBAL NOT )\bIN \(SELECT/);
    }
    expect(views.find((v) => v.includes('recon.chain_events_canonical'))).toContain('event_id GLOBAL NOT IN (SELECT event_id FROM recon.chain_event_retractions)');
  });

  it('alter both the local and the Distributed table, local first', () => {
    const alters = single.filter((s) => s.startsWith('ALTER TABLE'));
    expect(alters.length).toBeGreaterThanOrEqual(6);
    for (const a of alters) {
      const [, table, rest] = /^ALTER TABLE recon\.(\w+) ([\s\S]+)$/.exec(a)!;
      const local = clustered.indexOf(`ALTER TABLE recon.${table}_local ON CLUSTER recon_cluster ${rest}`);
      const dist = clustered.indexOf(`ALTER TABLE recon.${table} ON CLUSTER recon_cluster ${rest}`);
      expect(local, a).toBeGreaterThanOrEqual(0);
      expect(dist, a).toBe(local + 1);
    }
  });

  it('replicate schema_migrations to every node of the cluster', () => {
    expect(createSchemaMigrations(DB, CLUSTER)).toContain(
      "ON CLUSTER recon_cluster (\n  version UInt32,\n  name String,\n  applied_at DateTime64(3, 'UTC') DEFAULT now64(3)\n) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/{database}/{table}', '{shard}-{replica}') ORDER BY version",
    );
  });

  it('refuses a statement it has no cluster form for, and unsafe names', () => {
    expect(() => clusterStatements('OPTIMIZE TABLE recon.matches FINAL', DB, CLUSTER)).toThrow(/no cluster form/);
    expect(() => clusterStatements('CREATE MATERIALIZED VIEW IF NOT EXISTS recon.x TO recon.y AS\nSELECT 1 FROM recon.a JOIN recon.b USING k', DB, CLUSTER)).toThrow(/exactly one table/);
    expect(() => clusterStatements(single[0]!, DB, { ...CLUSTER, name: 'a; DROP' })).toThrow(/cluster name/);
    expect(() => clusterStatements(single[0]!, DB, { ...CLUSTER, replicaPath: "/x/'{table}" })).toThrow(/quotes/);
  });
});

describe('clickhouse.cluster config', () => {
  it('is unset by default and fills the Keeper path and replica name', () => {
    expect(parseConfig({}).clickhouse.cluster).toBeUndefined();
    expect(parseConfig({ clickhouse: { url: 'http://ch1:8123', cluster: { name: 'recon_cluster' } } }).clickhouse.cluster).toEqual(CLUSTER);
  });

  it('needs a server url, a {shard} and {table} in the path, and a plain cluster name', () => {
    expect(() => parseConfig({ clickhouse: { cluster: { name: 'recon_cluster' } } })).toThrow(/clickhouse\.url/);
    expect(() => parseConfig({ clickhouse: { url: 'http://ch1:8123', cluster: { name: 'recon_cluster', replicaPath: '/clickhouse/{table}' } } })).toThrow(/\{shard\}/);
    expect(() => parseConfig({ clickhouse: { url: 'http://ch1:8123', cluster: { name: 'a b' } } })).toThrow();
  });

  it('is turned on by CLICKHOUSE_CLUSTER', () => {
    const config = loadConfig({ CLICKHOUSE_URL: 'http://ch1:8123', CLICKHOUSE_CLUSTER: 'recon_cluster' });
    expect(config.clickhouse.cluster?.name).toBe('recon_cluster');
  });
});
