import { FACT_ID_COLUMN } from '../../domain/facts.js';

/** A ClickHouse cluster the migrations create their objects on (`clickhouse.cluster`). */
export interface ClickHouseCluster {
  /** Cluster name, as in the servers' `remote_servers` config. */
  name: string;
  /** Keeper path of each replicated table; `{shard}`, `{database}` and `{table}` are server macros. */
  replicaPath: string;
  /** Replica name in that path (`{replica}`: the server's macro, unique within a shard). */
  replicaName: string;
}

/** The local (stored, replicated) table behind the Distributed table `table`. */
export const localTable = (table: string): string => `${table}_local`;

const IDENT = /^[A-Za-z0-9_]+$/;

/**
 * Sharding key of each Distributed table: the fact id, so every version and every redelivered copy
 * of a fact lands on the same shard (FINAL and argMax by id stay correct per shard, and a retried
 * insert meets its first copy). Rollup tables (not keyed by a fact) are only inserted through the
 * Distributed table by a migration's back-fill; their states merge across shards when read.
 */
export function shardingKey(table: string): string {
  const id = (FACT_ID_COLUMN as Record<string, string | undefined>)[table];
  return id ? `cityHash64(${id})` : 'rand()';
}

/** Checks a cluster config before any statement is built from it (names go into SQL unquoted). */
export function assertCluster(cluster: ClickHouseCluster): void {
  if (!IDENT.test(cluster.name)) throw new Error(`invalid ClickHouse cluster name ${JSON.stringify(cluster.name)}`);
  for (const v of [cluster.replicaPath, cluster.replicaName]) {
    if (/['\\]/.test(v)) throw new Error(`ClickHouse cluster replica path/name may not contain quotes or backslashes: ${JSON.stringify(v)}`);
  }
}

const engineArgs = (cluster: ClickHouseCluster) => `('${cluster.replicaPath}', '${cluster.replicaName}')`;

/**
 * Rewrites one single-node migration statement for a cluster. Every statement gets `ON CLUSTER`;
 * a table becomes `Replicated<Engine>` `<table>_local` plus a `Distributed` table under the
 * original name (so readers keep their names); a materialized view reads and writes the local
 * tables (each shard aggregates the rows it stores); a plain view reads the Distributed tables,
 * with its `IN (subquery)` made `GLOBAL` (a shard cannot resolve a Distributed subquery itself:
 * `distributed_product_mode = deny`). An `INSERT … SELECT` (a back-fill) goes through the
 * Distributed tables unchanged. A statement of any other shape throws: a new migration must be
 * taught here rather than silently run single-node DDL on one server.
 */
export function clusterStatements(statement: string, db: string, cluster: ClickHouseCluster): string[] {
  assertCluster(cluster);
  const on = `ON CLUSTER ${cluster.name}`;
  const q = db.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  const table = new RegExp(`^CREATE TABLE IF NOT EXISTS ${q}\\.(\\w+) \\(\\n([\\s\\S]*)$`).exec(statement);
  if (table) {
    const [, name, rest] = table as unknown as [string, string, string];
    const engine = /\bENGINE = (\w+)$/m.exec(rest);
    if (!engine) throw new Error(`cluster DDL: no ENGINE line in CREATE TABLE ${name}`);
    const local = rest
      .replace(/\bENGINE = (\w+)$/m, `ENGINE = Replicated${engine[1]}${engineArgs(cluster)}`)
      // Replicated tables deduplicate through Keeper (replicated_deduplication_window).
      .replace(/\nSETTINGS non_replicated_deduplication_window = \d+$/, '');
    return [
      `CREATE TABLE IF NOT EXISTS ${db}.${localTable(name)} ${on} (\n${local}`,
      `CREATE TABLE IF NOT EXISTS ${db}.${name} ${on} AS ${db}.${localTable(name)}\nENGINE = Distributed(${cluster.name}, ${db}, ${localTable(name)}, ${shardingKey(name)})`,
    ];
  }

  const alter = new RegExp(`^ALTER TABLE ${q}\\.(\\w+) ([\\s\\S]+)$`).exec(statement);
  if (alter) {
    const [, name, rest] = alter as unknown as [string, string, string];
    // The local table first: the Distributed table must not expose a column the shards lack.
    return [`ALTER TABLE ${db}.${localTable(name)} ${on} ${rest}`, `ALTER TABLE ${db}.${name} ${on} ${rest}`];
  }

  const mv = new RegExp(`^CREATE MATERIALIZED VIEW IF NOT EXISTS ${q}\\.(\\w+) TO ${q}\\.(\\w+) AS\\n([\\s\\S]+)$`).exec(statement);
  if (mv) {
    const [, name, target, select] = mv as unknown as [string, string, string, string];
    const from = new RegExp(`\\bFROM ${q}\\.(\\w+)\\b`, 'g');
    const sources = [...select.matchAll(new RegExp(`\\b(?:FROM|JOIN) ${q}\\.\\w+\\b`, 'g'))];
    if (sources.length !== 1) throw new Error(`cluster DDL: materialized view ${name} must read exactly one table`);
    const localSelect = select.replace(from, (_m, source: string) => `FROM ${db}.${localTable(source)}`);
    return [`CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.${name} ${on} TO ${db}.${localTable(target)} AS\n${localSelect}`];
  }

  const view = new RegExp(`^CREATE VIEW (?:IF NOT EXISTS )?${q}\\.(\\w+) AS\\n([\\s\\S]+)$`).exec(statement);
  if (view) {
    const [, name, select] = view as unknown as [string, string, string];
    // IF NOT EXISTS always: every node may run the migrations, and ON CLUSTER reaches all of them.
    return [`CREATE VIEW IF NOT EXISTS ${db}.${name} ${on} AS\n${select.replace(/\b((?:NOT )?IN) \(SELECT\b/g, 'GLOBAL $1 (SELECT')}`];
  }

  const drop = new RegExp(`^DROP VIEW IF EXISTS ${q}\\.(\\w+)$`).exec(statement);
  if (drop) return [`DROP VIEW IF EXISTS ${db}.${drop[1]} ${on}`];

  if (new RegExp(`^INSERT INTO ${q}\\.\\w+ SELECT\\b`).test(statement)) return [statement];

  throw new Error(`cluster DDL: no cluster form for statement: ${statement.slice(0, 120)}`);
}

/** `CREATE DATABASE` for `database`, on every node of the cluster when one is set. */
export function createDatabase(database: string, cluster?: ClickHouseCluster): string {
  return cluster ? `CREATE DATABASE IF NOT EXISTS ${database} ON CLUSTER ${cluster.name}` : `CREATE DATABASE IF NOT EXISTS ${database}`;
}

/**
 * The migrations' bookkeeping table. On a cluster it is replicated to every node (one Keeper path
 * for the whole cluster, `{shard}` fixed to `all`, replicas named `<shard>-<replica>`), so any node
 * can run the migrations and sees what any other applied.
 */
export function createSchemaMigrations(database: string, cluster?: ClickHouseCluster): string {
  const columns = `(
  version UInt32,
  name String,
  applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)`;
  if (!cluster) return `CREATE TABLE IF NOT EXISTS ${database}.schema_migrations ${columns} ENGINE = ReplacingMergeTree ORDER BY version`;
  assertCluster(cluster);
  const path = cluster.replicaPath.replaceAll('{shard}', 'all');
  return `CREATE TABLE IF NOT EXISTS ${database}.schema_migrations ON CLUSTER ${cluster.name} ${columns} ENGINE = ReplicatedReplacingMergeTree('${path}', '{shard}-${cluster.replicaName}') ORDER BY version`;
}
