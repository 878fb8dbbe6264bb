/**
 * `npm run bench:export`: exporting a period report of many facts with bounded memory.
 * Writes N ledger entries (default 1,000,000) into an embedded ClickHouse (or CLICKHOUSE_URL),
 * then exports the `ledger` report of the period as CSV and as Parquet parts, page by page
 * (src/reports/exportReport.ts), and prints rows per second and the process's peak RSS during
 * each export beside its RSS before (chdb runs inside this process, so its memory counts too).
 * The ceiling printed after them: the same report read with one query and discarded, no paging
 * (what ClickHouse alone costs; its memory is what paging avoids).
 *
 * Options: --rows N (default 1000000) --page-rows N (default 100000)
 */
import { mkdtempSync, rmSync, statSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { exportReport } from '../src/reports/exportReport.js';
import { REPORTS } from '../src/reports/periodReports.js';
import { tempClickHouse } from '../test/support/clickhouse.js';

const { values: argv } = parseArgs({ options: { rows: { type: 'string', default: '1000000' }, 'page-rows': { type: 'string', default: '100000' } } });
const ROWS = Number(argv.rows);
const PAGE = Number(argv['page-rows']);
const FROM = Date.UTC(2026, 0, 1);
const TO = Date.UTC(2027, 0, 1);

/** Peak RSS while `f` runs, sampled every 20 ms, and its duration. */
async function measured<T>(f: () => Promise<T>): Promise<{ result: T; seconds: number; peakRss: number; rssBefore: number }> {
  global.gc?.();
  const rssBefore = process.memoryUsage.rss();
  let peakRss = rssBefore;
  const timer = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, 20);
  const t0 = performance.now();
  try {
    const result = await f();
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
    return { result, seconds: (performance.now() - t0) / 1_000, peakRss, rssBefore };
  } finally {
    clearInterval(timer);
  }
}
const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
const rate = (n: number, s: number) => `${Math.round(n / s).toLocaleString('en-US')} rows/s`;

const ch = await tempClickHouse();
const dir = mkdtempSync(join(tmpdir(), 'recon-bench-export-'));
try {
  console.log(`writing ${ROWS.toLocaleString('en-US')} ledger entries…`);
  await ch.client.command({
    query: `INSERT INTO ${ch.database}.ledger_entries
      SELECT concat('E-', leftPad(toString(number), 10, '0')), concat('ACC-', toString(number % 10000)), if(number % 3 = 0, 'debit', 'credit'),
        toInt128(1 + number % 1000000), 'USD', 2, fromUnixTimestamp64Milli(toInt64(${FROM} + number * 31)), fromUnixTimestamp64Milli(toInt64(${FROM} + number * 31)),
        'booked', 'deposit', concat('E2E-', toString(number)), '', '', 2, number, 2, now64(3)
      FROM numbers(${ROWS})`,
  });
  for (const format of ['csv', 'parquet'] as const) {
    const out = join(dir, format === 'csv' ? 'ledger.csv' : 'ledger');
    const m = await measured(() => exportReport({ client: ch.client, database: ch.database, report: 'ledger', from: FROM, to: TO, format, out, pageRows: PAGE }));
    const size = format === 'csv' ? statSync(out).size : readdirSync(out).reduce((a, f) => a + statSync(join(out, f)).size, 0);
    console.log(
      `${format}: ${m.result.rows.toLocaleString('en-US')} rows in ${m.result.pages} pages of ${PAGE.toLocaleString('en-US')}: ${rate(m.result.rows, m.seconds)} (${m.seconds.toFixed(1)} s, ${mib(size)} written), RSS ${mib(m.rssBefore)} before, peak ${mib(m.peakRss)} (+${mib(m.peakRss - m.rssBefore)})`,
    );
    if (m.result.rows !== ROWS) throw new Error(`exported ${m.result.rows} rows, expected ${ROWS}`);
  }
  const ceiling = await measured(async () => {
    const res = await ch.client.exec({ query: `SELECT * EXCEPT (k) FROM (${REPORTS.ledger.sql(ch.database)}) FORMAT CSV`, query_params: { from: FROM, to: TO } });
    let bytes = 0;
    for await (const c of res.stream) bytes += (c as Buffer).length;
    return bytes;
  });
  console.log(
    `ceiling, the same report in one unpaged query, read and discarded: ${rate(ROWS, ceiling.seconds)} (${ceiling.seconds.toFixed(1)} s), RSS ${mib(ceiling.rssBefore)} before, peak ${mib(ceiling.peakRss)}`,
  );
} finally {
  await ch.close();
  rmSync(dir, { recursive: true, force: true });
}
