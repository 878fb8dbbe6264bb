/**
 * `npm run bench:inserts [-- --inserts N --rounds R]`: what one insert costs embedded ClickHouse
 * (chdb), by what the table does with it. The fact loader makes ~one insert per fact table a second
 * whatever the load, so at 1,000 ev/s this fixed cost weighs per message (docs/performance.md).
 *
 * A fresh chdb database migrated as the engine's; one `matches` row, through the engine's own insert
 * path (`createClickHouse`: chdb's raw passthrough insert, the row pre-encoded as JSONCompactEachRow)
 * into:
 *  - a Memory table of the same columns (the ceiling: parsing and the query's fixed cost alone);
 *  - a ReplacingMergeTree copy of `matches` with no view (one part written per insert);
 *  - `matches` itself (its part, and the dashboards' one-minute rollup view: a second part);
 *  - `matches` with 300 rows per insert (what size adds).
 * Prints this process's CPU per insert (chdb runs in it), rounds alternating.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createClickHouse } from '../src/sinks/clickhouse/createClickHouse.js';
import { migrate } from '../src/sinks/clickhouse/migrations.js';
import { PreEncodedRows } from '../src/sinks/clickhouse/preEncodedRows.js';

const { values: argv } = parseArgs({
  options: {
    inserts: { type: 'string', default: '80' },
    rounds: { type: 'string', default: '2' },
  },
});
const N = Number(argv.inserts);
const ROUNDS = Number(argv.rounds);

const dir = mkdtempSync(join(tmpdir(), 'recon-bench-inserts-'));
const db = 'recon';
const ch = createClickHouse({ dataDir: join(dir, 'chdb'), database: db } as Parameters<typeof createClickHouse>[0]);
try {
  await migrate(ch, db);
  await ch.command({ query: `CREATE TABLE ${db}.bench_memory AS ${db}.matches ENGINE = Memory` });
  await ch.command({ query: `CREATE TABLE ${db}.bench_plain AS ${db}.matches` });
  // One random row of the table's own columns, read back in the insert format.
  await ch.command({ query: `INSERT INTO ${db}.bench_plain SELECT * FROM generateRandom() LIMIT 1` });
  const line = (await (await ch.query({ query: `SELECT * FROM ${db}.bench_plain LIMIT 1`, format: 'JSONCompactEachRow' })).text()).trim();

  const cpuPerInsertMs = async (table: string, rows: number): Promise<number> => {
    const values = [new PreEncodedRows(Array.from({ length: rows }, () => line).join('\n'))];
    const insert = () => ch.insert({ table: `${db}.${table}`, values: values as never, format: 'JSONCompactEachRow' });
    for (let i = 0; i < 5; i++) await insert();
    const c0 = process.cpuUsage();
    for (let i = 0; i < N; i++) await insert();
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1_000 / N;
  };

  const cases: [string, string, number][] = [
    ['Memory table, 1 row (the ceiling)', 'bench_memory', 1],
    ['ReplacingMergeTree, no view, 1 row', 'bench_plain', 1],
    ['matches (its rollup view too), 1 row', 'matches', 1],
    ['matches (its rollup view too), 300 rows', 'matches', 300],
  ];
  const results = new Map<string, number[]>(cases.map(([label]) => [label, []]));
  for (let r = 0; r < ROUNDS; r++) for (const [label, table, rows] of cases) results.get(label)!.push(await cpuPerInsertMs(table, rows));
  const ceiling = Math.min(...results.get(cases[0]![0])!);
  console.log(`chdb CPU per insert, ${N} inserts per case, ${ROUNDS} rounds alternating (this process: chdb runs in it)`);
  for (const [label, ms] of results) {
    const best = Math.min(...ms);
    console.log(`  ${label.padEnd(42)} ${ms.map((x) => x.toFixed(2)).join(' / ')} ms   (${(best / ceiling).toFixed(1)}× the ceiling's ${ceiling.toFixed(2)} ms)`);
  }
} finally {
  await ch.close();
  rmSync(dir, { recursive: true, force: true });
}
