import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import * as sdk from '@grafana/grafana-foundation-sdk/dashboard';
import { queryRows } from '../../src/sinks/clickhouse/queries.js';
import { randomWallet, startHarness, type Harness } from '../support/harness.js';

/**
 * Every dashboard in dashboards/ against Grafana's dashboard model and against the real schema.
 *
 * The model: @grafana/grafana-foundation-sdk ships TypeScript types (no runtime schema), so the
 * fields our dashboards use are written here as a zod schema with the SDK's own enums, and the
 * compile-time check below proves that anything this schema accepts is an SDK `Dashboard`
 * (targets aside: the SDK types a query as an opaque `Dataquery` variant; ours are checked by the
 * ClickHouse and Prometheus query schemas instead).
 *
 * The schema: a pipeline run (harness: real NATS, Redis, anvil, chdb) fills the fact tables and
 * the rollups, then every ClickHouse panel query runs with its Grafana macros and template
 * variables expanded for a real time range, and must return the columns its panel needs, with
 * rows wherever the run produced data.
 */
const DIR = join(import.meta.dirname, '../../dashboards');
const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();

const datasourceRef = z.object({ type: z.string().optional(), uid: z.string().optional() }).strict();
const gridPos = z.object({ h: z.number().int().positive(), w: z.number().int().min(1).max(24), x: z.number().int().min(0).max(23), y: z.number().int().min(0), static: z.boolean().optional() });
const dashboardLink = z.object({
  title: z.string(),
  type: z.enum(sdk.DashboardLinkType),
  icon: z.string(),
  tooltip: z.string(),
  url: z.string().optional(),
  tags: z.array(z.string()),
  asDropdown: z.boolean(),
  targetBlank: z.boolean(),
  includeVars: z.boolean(),
  keepTime: z.boolean(),
});
const threshold = z.object({ value: z.number().nullable(), color: z.string() });
const fieldConfig = z
  .object({
    unit: z.string().optional(),
    decimals: z.number().optional(),
    min: z.number().optional(),
    max: z.number().optional(),
    thresholds: z.object({ mode: z.enum(sdk.ThresholdsMode), steps: z.array(threshold).min(1) }).optional(),
    color: z.object({ mode: z.enum(sdk.FieldColorModeId), fixedColor: z.string().optional() }).optional(),
    custom: z.record(z.string(), z.unknown()).optional(),
    noValue: z.string().optional(),
  })
  .strict();
const fieldConfigSource = z.object({
  defaults: fieldConfig,
  overrides: z.array(
    z.object({
      matcher: z.object({ id: z.string(), options: z.unknown().optional() }),
      properties: z.array(z.object({ id: z.string(), value: z.unknown().optional() })),
    }),
  ),
});
const clickhouseQuery = z
  .object({
    datasource: z.object({ type: z.literal('grafana-clickhouse-datasource'), uid: z.string() }),
    refId: z.string(),
    editorType: z.literal('sql'),
    queryType: z.enum(['table', 'timeseries']),
    format: z.union([z.literal(0), z.literal(1)]),
    rawSql: z.string().min(1),
    pluginVersion: z.string().optional(),
  })
  .strict();
const prometheusQuery = z
  .object({
    datasource: z.object({ type: z.literal('prometheus'), uid: z.string() }),
    refId: z.string(),
    expr: z.string().min(1),
    legendFormat: z.string().optional(),
    range: z.boolean().optional(),
    editorMode: z.string().optional(),
    format: z.string().optional(),
  })
  .strict();
const panel = z
  .object({
    type: z.enum(['stat', 'timeseries', 'table', 'barchart', 'heatmap']),
    id: z.number().int().positive(),
    title: z.string().min(1),
    description: z.string().min(1),
    datasource: datasourceRef,
    gridPos,
    links: z.array(dashboardLink).optional(),
    targets: z.array(z.union([clickhouseQuery, prometheusQuery])).min(1),
    options: z.record(z.string(), z.unknown()).optional(),
    fieldConfig: fieldConfigSource.optional(),
  })
  .strict();
const variableOption = z.object({ selected: z.boolean().optional(), text: z.union([z.string(), z.array(z.string())]), value: z.union([z.string(), z.array(z.string())]) });
const variable = z
  .object({
    type: z.enum(sdk.VariableType),
    name: z.string().regex(/^\w+$/),
    label: z.string().optional(),
    hide: z.enum(sdk.VariableHide).optional(),
    description: z.string().optional(),
    query: z.union([z.string(), z.record(z.string(), z.unknown())]).optional(),
    definition: z.string().optional(),
    datasource: datasourceRef.optional(),
    current: variableOption.optional(),
    multi: z.boolean().optional(),
    options: z.array(variableOption).optional(),
    refresh: z.enum(sdk.VariableRefresh).optional(),
    sort: z.enum(sdk.VariableSort).optional(),
    includeAll: z.boolean().optional(),
    allValue: z.string().optional(),
    regex: z.string().optional(),
  })
  .strict();
const dashboardSchema = z
  .object({
    __inputs: z.array(z.unknown()).optional(),
    id: z.null(),
    uid: z.string().regex(/^[a-z0-9-]{1,40}$/),
    title: z.string().min(1),
    description: z.string().min(1),
    tags: z.array(z.string()),
    timezone: z.string(),
    editable: z.boolean(),
    graphTooltip: z.enum(sdk.DashboardCursorSync),
    time: z.object({ from: z.string(), to: z.string() }),
    timepicker: z.object({}).strict(),
    fiscalYearStartMonth: z.number().int(),
    weekStart: z.string(),
    refresh: z.string(),
    schemaVersion: z.number().int().min(36),
    version: z.number().int(),
    panels: z.array(panel).min(1),
    templating: z.object({ list: z.array(variable) }),
    annotations: z.object({
      list: z.array(
        z.object({
          builtIn: z.number().optional(),
          datasource: datasourceRef,
          enable: z.boolean(),
          hide: z.boolean(),
          iconColor: z.string(),
          name: z.string(),
          type: z.string(),
        }),
      ),
    }),
    links: z.array(dashboardLink),
  })
  .strict();

type Parsed = z.infer<typeof dashboardSchema>;
type WithoutTargets = Omit<Parsed, 'panels' | '__inputs'> & { panels: Omit<Parsed['panels'][number], 'targets'>[] };
/** As parsed from JSON, which has no `undefined`: zod's `optional()` outputs `T | undefined`, JSON only absence. */
type FromJson<T> = T extends (infer U)[] ? FromJson<U>[] : T extends object ? { [K in keyof T]: FromJson<Exclude<T[K], undefined>> } : T;
// Compile-time proof that the schema accepts only what the Foundation SDK's Dashboard type allows.
const asSdkDashboard = (d: FromJson<WithoutTargets>): sdk.Dashboard => d;
void asSdkDashboard;

const dashboards = files.map((f) => ({ file: f, json: JSON.parse(readFileSync(join(DIR, f), 'utf8')) as unknown }));

describe('dashboards against the Grafana dashboard model', () => {
  it('finds the five dashboards', () => {
    expect(files).toEqual(['aml.json', 'balances.json', 'discrepancy-drilldown.json', 'pipeline-health.json', 'reconciliation-overview.json']);
  });

  for (const { file, json } of dashboards) {
    it(`${file} is a valid dashboard: unique panel ids, no overlapping panels, every variable used is defined`, () => {
      const d = dashboardSchema.parse(json);
      expect(new Set(d.panels.map((p) => p.id)).size).toBe(d.panels.length);
      const cells = new Set<string>();
      for (const p of d.panels) {
        expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
        for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
          for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
            const c = `${x},${y}`;
            expect(cells.has(c), `${p.title} overlaps at ${c}`).toBe(false);
            cells.add(c);
          }
        }
      }
      const defined = new Set(d.templating.list.map((v) => v.name));
      const text = JSON.stringify(d.panels.map((p) => p.targets));
      for (const m of text.matchAll(/\$\{(\w+)(?::\w+)?\}|\$(?!__)(\w+)/g)) {
        const name = m[1] ?? m[2]!;
        expect(defined.has(name), `${file}: variable ${name} is not defined`).toBe(true);
      }
    });
  }

  it('every ClickHouse panel uses the time picker or says why not', () => {
    for (const { file, json } of dashboards) {
      for (const p of dashboardSchema.parse(json).panels) {
        for (const t of p.targets) {
          if (!('rawSql' in t)) continue;
          const usesTime = /\$__time(Filter|Interval)|\$__fromTime|\$__toTime/.test(t.rawSql);
          // Current-state panels (open now, resolved in the last 24 h, a named discrepancy's history) are not time-ranged.
          const currentState = /discrepancies_current|discrepancy_events FINAL\nWHERE discrepancy_id/.test(t.rawSql);
          expect(usesTime || currentState, `${file}: ${p.title}`).toBe(true);
        }
      }
    }
  });
});

/** Expands the Grafana ClickHouse data source's macros (plugin v4) for a time range and interval. */
function expandMacros(sql: string, from: Date, to: Date, intervalS: number): string {
  const s = (d: Date) => Math.floor(d.getTime() / 1000);
  return sql
    .replace(/\$__timeFilter_ms\(([^)]+)\)/g, (_, c) => `${c} >= fromUnixTimestamp64Milli(${from.getTime()}) AND ${c} <= fromUnixTimestamp64Milli(${to.getTime()})`)
    .replace(/\$__timeFilter\(([^)]+)\)/g, (_, c) => `${c} >= toDateTime(${s(from)}) AND ${c} <= toDateTime(${s(to)})`)
    .replace(/\$__timeInterval\(([^)]+)\)/g, (_, c) => `toStartOfInterval(toDateTime(${c}), INTERVAL ${intervalS} second)`)
    .replace(/\$__fromTime/g, `toDateTime(${s(from)})`)
    .replace(/\$__toTime/g, `toDateTime(${s(to)})`)
    .replace(/\$__interval_s/g, String(intervalS));
}

/** Expands template variables as Grafana does: `${v:singlequote}` joins quoted values; `${v}` / `$v` the raw value. */
function expandVariables(sql: string, vars: Record<string, string | string[]>): string {
  return sql.replace(/\$\{(\w+)(?::(\w+))?\}|\$(?!__)(\w+)/g, (whole, a, fmt, b) => {
    const name = a ?? b;
    const v = vars[name];
    if (v === undefined) throw new Error(`no value for variable ${name} in ${whole}`);
    const list = Array.isArray(v) ? v : [v];
    if (fmt === 'singlequote') return list.map((x) => `'${x.replace(/'/g, "\\'")}'`).join(',');
    if (fmt) throw new Error(`unsupported format ${fmt}`);
    return list.join(',');
  });
}

describe('dashboard queries against the real schema after a pipeline run', () => {
  let h: Harness;
  let discrepancyId = '';
  const wallets = { a: randomWallet(), b: randomWallet(), c: randomWallet() };

  beforeAll(async () => {
    h = await startHarness({
      accounts: [
        { accountId: 'ACC-A', wallets: [wallets.a] },
        { accountId: 'ACC-B', wallets: [wallets.b] },
        { accountId: 'ACC-C', wallets: [wallets.c] },
      ],
    });
    // Matches (by attributes and by reference), a missing mint, an amount mismatch, an orphan and a dead letter.
    await h.posting({ entryId: 'd-1', accountId: 'ACC-A', amountMinor: 10_000n });
    await h.mint(wallets.a, h.usd(10_000n));
    await h.posting({ entryId: 'd-2', accountId: 'ACC-A', amountMinor: 2_500n, tokenizationRef: 'REF-2' });
    await h.mint(wallets.a, h.usd(2_500n), 'REF-2');
    await h.posting({ entryId: 'd-3', accountId: 'ACC-B', amountMinor: 700n });
    await h.posting({ entryId: 'd-4', accountId: 'ACC-C', amountMinor: 5_000n, tokenizationRef: 'REF-4' });
    await h.mint(wallets.c, h.usd(4_000n), 'REF-4');
    await h.posting({ entryId: 'd-5', accountId: 'ACC-NOBODY', amountMinor: 100n });
    await h.publishRaw(new TextEncoder().encode('not avro'), { 'recon-schema': 'ledger-posting/2' });
    await h.waitFor(
      'matches, discrepancies and the dead letter',
      async () => {
        const d = await h.discrepancies();
        const m = (await h.matches()).filter((x) => x.status === 'matched');
        const dl = await queryRows<{ n: string }>(h.ch.client, `SELECT count() AS n FROM ${h.ch.database}.dead_letters`);
        return m.length >= 2 && d.some((x) => x.kind === 'MISSING_MINT') && d.some((x) => x.kind === 'AMOUNT_MISMATCH') && Number(dl[0]!.n) >= 1;
      },
      30_000,
    );
    await h.daemon.balances.checkNow();
    discrepancyId = (await h.discrepancies()).find((x) => x.kind === 'MISSING_MINT')!.discrepancy_id;
  }, 120_000);

  afterAll(async () => {
    await h?.stop();
  });

  it('the rollups hold what the raw facts hold', async () => {
    const db = h.ch.database;
    const [raw] = await queryRows<{ n: string }>(h.ch.client, `SELECT uniqExact(match_id) AS n FROM ${db}.matches WHERE status = 'matched'`);
    const [rolled] = await queryRows<{ n: string }>(h.ch.client, `SELECT uniqExactMerge(ids) AS n FROM ${db}.matches_1m`);
    expect(rolled!.n).toBe(raw!.n);
    const [rawE] = await queryRows<{ n: string }>(h.ch.client, `SELECT uniqExact(entry_id) AS n FROM ${db}.ledger_entries`);
    const [rolledE] = await queryRows<{ n: string }>(h.ch.client, `SELECT uniqExactMerge(ids) AS n FROM ${db}.activity_1m WHERE source = 'ledger'`);
    expect(rolledE!.n).toBe(rawE!.n);
  });

  it('runs every ClickHouse panel query with its macros expanded and gets the columns the panel needs', async () => {
    const db = h.ch.database;
    const tables = new Set((await queryRows<{ name: string }>(h.ch.client, 'SELECT name FROM system.tables WHERE database = {db:String}', { db })).map((r) => r.name));
    // aml_alerts comes from migration 5 (the AML rules); its panels run against it like every other.
    expect(tables.has('aml_alerts')).toBe(true);
    const [aml] = await queryRows<{ n: string }>(h.ch.client, `SELECT count() AS n FROM ${db}.aml_alerts`);
    const amlHasData = Number(aml!.n) > 0;
    const to = new Date(Date.now() + 60_000);
    const from = new Date(Date.now() - 3_600_000);
    const variants: Record<string, string | string[]>[] = [
      { database: db, currency: ['__all'], token: ['__all'], account: '', kind: ['__all'], status: ['open'], discrepancy: '', severity: ['__all'] },
      {
        database: db,
        currency: ['USD'],
        token: [`${h.anvil.chainId}:${h.token.toLowerCase()}`],
        account: 'ACC-B',
        kind: ['MISSING_MINT'],
        status: ['__all'],
        discrepancy: discrepancyId,
        severity: ['high', 'critical'],
      },
    ];
    let ran = 0;
    for (const { file, json } of dashboards) {
      const d = dashboardSchema.parse(json);
      for (const p of d.panels) {
        for (const t of p.targets) {
          if (!('rawSql' in t)) continue;
          for (const [i, vars] of variants.entries()) {
            const sql = expandMacros(expandVariables(t.rawSql, vars), from, to, 60);
            const where = `${file} / ${p.title} (variables #${i})`;
            const rs = await h.ch.client.query({ query: sql, format: 'JSON' }).catch((e: Error) => {
              throw new Error(`${where}: ${e.message}\n${sql}`);
            });
            const { meta, data } = await rs.json<Record<string, unknown>>();
            ran++;
            const names = meta!.map((c) => c.name);
            const types = Object.fromEntries(meta!.map((c) => [c.name, c.type]));
            if (p.type === 'timeseries') {
              expect(types.t, `${where}: a time column t`).toMatch(/^DateTime/);
              expect(names.length, where).toBeGreaterThanOrEqual(2);
            } else if (p.type === 'stat') {
              expect(names.length, where).toBe(1);
              expect(types[names[0]!], `${where}: a number`).toMatch(/Int|Float|Decimal/);
            }
            for (const o of p.fieldConfig?.overrides ?? []) {
              if (o.matcher.id === 'byName') expect(names, where).toContain(o.matcher.options);
            }
            const isAml = file === 'aml.json';
            // Data exists for every panel in the unfiltered variant (AML: when a rule fired), except panels about a named discrepancy.
            if (i === 0 && (!isAml || amlHasData) && !/discrepancy_id = '\$\{discrepancy\}'/.test(t.rawSql)) expect(data.length, `${where}: rows`).toBeGreaterThan(0);
            if (i === 1 && p.title === 'Status history') expect(data.length, where).toBe(1);
          }
        }
      }
    }
    expect(ran).toBeGreaterThan(40);
  });

  it('shows the facts of the run: counts, open discrepancies, match rate and the drill-down legs', async () => {
    const db = h.ch.database;
    const run = async (file: string, title: string, vars: Record<string, string | string[]> = {}) => {
      const p = dashboardSchema.parse(dashboards.find((d) => d.file === file)!.json).panels.find((x) => x.title === title)!;
      const t = p.targets[0]!;
      if (!('rawSql' in t)) throw new Error('not a ClickHouse panel');
      const all = { database: db, currency: ['__all'], token: ['__all'], account: '', kind: ['__all'], status: ['__all'], discrepancy: '', severity: ['__all'], ...vars };
      return queryRows<Record<string, string | number>>(h.ch.client, expandMacros(expandVariables(t.rawSql, all), new Date(Date.now() - 3_600_000), new Date(Date.now() + 60_000), 60));
    };
    expect(await run('reconciliation-overview.json', 'Ledger entries')).toEqual([{ entries: '5' }]);
    const [rate] = await run('reconciliation-overview.json', 'Match rate');
    expect(Number(rate!.match_rate)).toBeCloseTo(2 / 4, 5); // 2 matched; a missing mint and an amount mismatch
    const top = await run('reconciliation-overview.json', 'Top accounts and wallets with open discrepancies');
    expect(top.map((r) => r.account_id).sort()).toEqual(['ACC-B', 'ACC-C', 'ACC-NOBODY']);
    const legs = await run('discrepancy-drilldown.json', 'Discrepancies with both legs', { discrepancy: '', kind: ['AMOUNT_MISMATCH'] });
    expect(legs).toHaveLength(1);
    expect(legs[0]).toMatchObject({ account_id: 'ACC-C', expected_amount: '5000', actual_amount: '4000', bank_tokenization_ref: 'REF-4', chain_reference: 'REF-4' });
    expect(String(legs[0]!.chain_tx_hash)).toMatch(/^0x[0-9a-f]{64}$/);
    const holders = await run('balances.json', 'Largest holders: account against its wallets');
    expect(holders.find((r) => r.account_id === 'ACC-A')).toMatchObject({ bank_balance: h.usd(12_500n).toString(), wallet_balance: h.usd(12_500n).toString() });
  });
});
