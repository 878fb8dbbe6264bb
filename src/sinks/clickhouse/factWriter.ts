import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Logger } from 'pino';
import { FACT_ID_COLUMN, type Fact, type FactTable } from '../../domain/facts.js';
import { SinkRejected, SinkUnavailable } from '../../lib/errors.js';
import { COLUMN_NAMES, encodeFact, idOfKey, type EncodedFact } from './insertRow.js';
import { FACT_COLUMNS, FACT_TABLES } from './migrations.js';
import { passesRowsThrough, PreEncodedRows } from './preEncodedRows.js';
import { backoffDelay, DEFAULT_RETRY, isTransientClickHouseError, serverErrorCode, type RetryOptions } from './retry.js';

export interface FactWriterOptions {
  log?: Logger;
  /** Bounded retry of transient failures; defaults to 6 attempts, 100 ms doubling to 5 s. */
  retry?: Partial<RetryOptions>;
  /**
   * The tables are Distributed over a cluster (`clickhouse.cluster`): each insert is sent to the
   * shards in the foreground (`insert_distributed_sync`), so it resolves only once every shard
   * stored its rows, with the same insert_deduplication_token (docs/deployment.md).
   */
  distributed?: boolean | undefined;
}

export interface WriteFactsOptions {
  /** `factKey`s of facts that may already be stored (redelivered or replayed messages). */
  suspects?: ReadonlySet<string>;
}

export interface WriteFactsResult {
  /** Rows sent to ClickHouse. */
  inserted: number;
  /** Facts dropped as duplicates within the call or as already stored. */
  skippedDuplicates: number;
}

export interface FactWriter {
  write(facts: readonly Fact[], options?: WriteFactsOptions): Promise<WriteFactsResult>;
}

/** The writer into ClickHouse itself, which also takes facts already in their insert form. */
export interface ClickHouseFactWriter extends FactWriter {
  /** `write` for facts encoded by `encodeFact` (the fact loader's path: no row is decoded or re-encoded). */
  writeEncoded(facts: readonly EncodedFact[], options?: WriteFactsOptions): Promise<WriteFactsResult>;
}

/** Ids queried per existence check (they travel as a query parameter, in the URL over HTTP). */
const LOOKUP_CHUNK = 1_000;

/** The fact writer of a deployment's ClickHouse: its database, distributed inserts when it is a cluster. */
export function factWriterFor(client: ClickHouseClient, clickhouse: { database: string; cluster?: object | undefined }, log?: Logger): ClickHouseFactWriter {
  return createFactWriter(client, clickhouse.database, { ...(log && { log }), distributed: clickhouse.cluster !== undefined });
}

/**
 * Writes facts to ClickHouse so that each fact is stored once, even counting without FINAL:
 * duplicates within a call are collapsed; facts flagged as suspects are first looked up and
 * dropped if already stored; each table's rows go in one JSONCompactEachRow insert (values in
 * schema column order: about half the cost of JSONEachRow objects in chdb and in the writer) whose
 * insert_deduplication_token is a hash of those rows, so a retry of the same insert is dropped by
 * the server. Transient failures are retried with backoff and then rejected as `SinkUnavailable`;
 * rows ClickHouse refuses for good (bad data for a column) reject at once as `SinkRejected`. A
 * write resolves only once every row is durable, so the caller may ack after it.
 */
export function createFactWriter(client: ClickHouseClient, database: string, options: FactWriterOptions = {}): ClickHouseFactWriter {
  const retry: RetryOptions = { ...DEFAULT_RETRY, ...options.retry };
  const log = options.log;
  // Foreground Distributed inserts: the shard's Replicated table sees this insert, token and all,
  // before it resolves; background sends would batch queued inserts and lose the token's meaning.
  const insertSettings = options.distributed ? { insert_distributed_sync: 1 as const } : {};
  const rowsThrough = passesRowsThrough(client);

  async function withRetry<R>(what: string, op: () => Promise<R>): Promise<R> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await op();
      } catch (e) {
        if (!isTransientClickHouseError(e)) {
          // The server understood the request and refused it: the same rows can never succeed.
          throw new SinkRejected(`ClickHouse refused ${what}`, {
            serverCode: serverErrorCode(e) ?? 'unknown',
            details: e instanceof Error ? e.message : String(e),
            cause: e,
          });
        }
        if (attempt >= retry.attempts) {
          throw new SinkUnavailable(`ClickHouse unavailable: ${what} failed after ${attempt} attempts`, {
            details: e instanceof Error ? e.message : String(e),
            cause: e,
          });
        }
        const delay = backoffDelay(attempt, retry);
        log?.warn({ err: e, what, attempt, delayMs: delay }, 'clickhouse: transient failure, retrying');
        await sleep(delay);
      }
    }
  }

  async function storedKeys(table: FactTable, facts: readonly EncodedFact[]): Promise<Set<string>> {
    const idColumn = FACT_ID_COLUMN[table];
    const versioned = 'version' in FACT_COLUMNS[table];
    const ids = [...new Set(facts.map((f) => idOfKey(table, f.key, versioned)))];
    const found = new Set<string>();
    for (let i = 0; i < ids.length; i += LOOKUP_CHUNK) {
      const chunk = ids.slice(i, i + LOOKUP_CHUNK);
      // Without FINAL on purpose: any stored copy, merged or not, makes the fact a duplicate.
      const query = `SELECT DISTINCT ${idColumn} AS id${versioned ? ', version' : ''} FROM ${database}.${table} WHERE ${idColumn} IN {ids:Array(String)}`;
      const rows = await withRetry(`lookup in ${table}`, async () => {
        const rs = await client.query({ query, query_params: { ids: chunk }, format: 'JSONEachRow' });
        return rs.json<{ id: string; version?: number | string }>();
      });
      for (const r of rows) found.add(`${table}:${r.id}${versioned ? `@${Number(r.version)}` : ''}`);
    }
    return found;
  }

  async function writeEncoded(facts: readonly EncodedFact[], writeOptions: WriteFactsOptions = {}): Promise<WriteFactsResult> {
    const suspects = writeOptions.suspects;
    const byTable = new Map<FactTable, Map<string, EncodedFact>>();
    let skippedDuplicates = 0;
    for (const fact of facts) {
      let group = byTable.get(fact.table);
      if (!group) byTable.set(fact.table, (group = new Map()));
      if (group.has(fact.key)) skippedDuplicates++;
      else group.set(fact.key, fact);
    }

    let inserted = 0;
    // One insert per table, all at once (the engine writes the tables' parts in parallel). A
    // failure leaves some tables written: the retry of the same insert (same token) or the
    // redelivery (suspects) completes the others without doubling the ones already stored. The
    // write settles only once every insert has: a retry never overlaps an insert still running.
    const settled = await Promise.allSettled(
      FACT_TABLES.map(async (table) => {
        const group = byTable.get(table);
        if (!group) return;
        const suspectFacts = suspects ? [...group.values()].filter((f) => suspects.has(f.key)) : [];
        if (suspectFacts.length > 0) {
          const stored = await storedKeys(table, suspectFacts);
          for (const key of stored) if (group.delete(key)) skippedDuplicates++;
        }
        if (group.size === 0) return;

        // Rows in factKey order (keys are unique within the group, so the order, and the token
        // hashed over it, depends only on the set of rows).
        const keys = [...group.keys()].sort();
        const lines = keys.map((k) => group.get(k)!.line);
        const rows = lines.join('\n');
        const token = createHash('sha256').update(table).update('\n').update(rows).digest('hex');
        // The rows as they are (a client of createClickHouse), else decoded for the client to encode.
        const values: unknown[] = rowsThrough ? [new PreEncodedRows(rows)] : decodeRows(table, lines);
        await withRetry(`insert into ${table}`, () =>
          client.insert({
            table: `${database}.${table}`,
            values,
            columns: COLUMN_NAMES[table],
            format: 'JSONCompactEachRow',
            clickhouse_settings: { ...insertSettings, insert_deduplication_token: token },
          }),
        );
        inserted += lines.length;
      }),
    );
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    log?.debug({ inserted, skippedDuplicates }, 'clickhouse: facts written');
    return { inserted, skippedDuplicates };
  }

  return {
    write: (facts, writeOptions) => writeEncoded(facts.map(encodeFact), writeOptions),
    writeEncoded,
  };
}

/**
 * Rows as values, for a client that serialises them itself. A line that is not JSON is refused
 * for good, as ClickHouse refuses it on the pass-through path: never a failure to retry.
 */
function decodeRows(table: FactTable, lines: readonly string[]): unknown[] {
  return lines.map((l) => {
    try {
      return JSON.parse(l) as unknown;
    } catch (e) {
      throw new SinkRejected(`a row for ${table} is not JSON`, { serverCode: 'unknown', details: (e as Error).message, cause: e });
    }
  });
}
