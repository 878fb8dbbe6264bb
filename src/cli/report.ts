/**
 * `recon report <positions|matched|exceptions|adjustments|ledger> --from ISO --to ISO
 *   [--format csv|parquet] --out PATH [--page-rows N]`
 * exports a period report (src/reports/periodReports.ts) page by page: a CSV file, or a directory
 * of Parquet parts. Prints `{"rows":…,"pages":…,"files":[…]}`. Exit 0, or 2 on usage.
 */
import { parseArgs } from 'node:util';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Config } from '../config/schema.js';
import { exportReport } from '../reports/exportReport.js';
import { REPORTS, type ReportName } from '../reports/periodReports.js';
import { createClickHouse } from '../sinks/clickhouse/createClickHouse.js';

const USAGE = `usage: recon report <${Object.keys(REPORTS).join('|')}> --from ISO --to ISO [--format csv|parquet] --out PATH [--page-rows N]
${Object.values(REPORTS)
  .map((r) => `  ${r.name.padEnd(12)} ${r.description}`)
  .join('\n')}`;

export async function reportMain(argv: readonly string[], config: Config, o: { clickhouse?: ClickHouseClient; out?: (l: string) => void } = {}): Promise<number> {
  const out =
    o.out ??
    ((l: string) => {
      process.stdout.write(`${l}\n`);
    });
  const parse = () =>
    parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: { from: { type: 'string' }, to: { type: 'string' }, format: { type: 'string', default: 'csv' }, out: { type: 'string' }, 'page-rows': { type: 'string' } },
    });
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse();
  } catch (e) {
    console.error(`recon report: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const {
    values: v,
    positionals: [name],
  } = parsed;
  const from = Date.parse(v.from ?? '');
  const to = Date.parse(v.to ?? '');
  const pageRows = v['page-rows'] === undefined ? undefined : Number(v['page-rows']);
  const problems = [
    ...(name && name in REPORTS ? [] : [`unknown report '${name ?? ''}'`]),
    ...(Number.isFinite(from) && Number.isFinite(to) && from < to ? [] : ['--from and --to are ISO times, from before to']),
    ...(v.format === 'csv' || v.format === 'parquet' ? [] : ['--format is csv or parquet']),
    ...(v.out ? [] : ['--out names the file (csv) or directory (parquet)']),
    ...(pageRows === undefined || (Number.isInteger(pageRows) && pageRows >= 1 && pageRows <= 10_000_000) ? [] : ['--page-rows is 1..10000000']),
  ];
  if (problems.length > 0) {
    console.error(`recon report: ${problems.join('; ')}\n${USAGE}`);
    return 2;
  }
  const client = o.clickhouse ?? createClickHouse(config.clickhouse);
  try {
    const r = await exportReport({
      client,
      database: config.clickhouse.database,
      report: name as ReportName,
      from,
      to,
      format: v.format as 'csv' | 'parquet',
      out: v.out!,
      ...(pageRows !== undefined && { pageRows }),
    });
    out(JSON.stringify(r));
    return 0;
  } finally {
    if (!o.clickhouse) await client.close().catch(() => undefined);
  }
}
