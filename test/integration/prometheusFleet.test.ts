import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Address } from 'viem';
import { freePort } from '../support/drill.js';
import { randomWallet, startHarness, type Harness } from '../support/harness.js';

const root = new URL('../../', import.meta.url).pathname;
const POSTINGS = 20;

/** One instant query against the test's Prometheus: its result vector. */
type Sample = { metric: Record<string, string>; value: [number, string] };

/**
 * Two workers scraped by a real Prometheus (Debian's `prometheus` binary, installed by .ci/run),
 * with the repository's alert rules loaded: the pipeline-health dashboard's queries are evaluated
 * by Prometheus itself over the fleet.
 */
describe('a fleet of workers seen by Prometheus', () => {
  let h: Harness;
  let prom: ChildProcess;
  let promUrl: string;
  let dir: string;
  const wallets: Address[] = Array.from({ length: POSTINGS }, () => randomWallet());

  const query = async (q: string): Promise<Sample[]> => {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
    const body = (await res.json()) as { status: string; error?: string; data: { result: Sample[] } };
    if (body.status !== 'success') throw new Error(`${q}: ${body.error}`);
    return body.data.result;
  };

  beforeAll(async () => {
    h = await startHarness({ workers: 2, accounts: wallets.map((w, i) => ({ accountId: `ACC-${i}`, wallets: [w] })) });
    dir = mkdtempSync(join(tmpdir(), 'recon-prom-'));
    const targets = h.daemons.map((d) => new URL(d.httpAddress()!).host);
    writeFileSync(join(dir, 'alerts.yml'), readFileSync(join(root, 'deploy/prometheus/alerts.yml')));
    writeFileSync(
      join(dir, 'prometheus.yml'),
      [
        'global: { scrape_interval: 1s, evaluation_interval: 1s }',
        'rule_files: [alerts.yml]',
        'scrape_configs:',
        '  - job_name: recon',
        `    static_configs: [{ targets: ${JSON.stringify(targets)} }]`,
        '',
      ].join('\n'),
    );
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prom = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    prom.stderr!.on('data', (b) => {
      stderr += String(b);
    });
    prom.on('error', (e) => {
      stderr += `\n${e.message} (apt-get install prometheus; .ci/run installs it)`;
    });
    await h.waitFor(`Prometheus ready on ${promUrl}`, async () => (await fetch(`${promUrl}/-/ready`)).ok || (prom.exitCode !== null && Promise.reject(new Error(stderr))), 30_000);
  }, 120_000);

  afterAll(async () => {
    prom?.kill('SIGTERM');
    await h?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("scrapes every worker, sums the fleet's messages exactly and evaluates every pipeline-health query", async () => {
    await h.waitFor('both workers scraped', async () => (await query('count(up{job="recon"} == 1)'))[0]?.value[1] === '2', 30_000);
    // Two waves, each seen by a scrape: a rate needs a counter that grew between two samples.
    const ledgerTotal = async () => (await query('sum(recon_messages_in_total{job="recon", source="ledger"})'))[0]?.value[1];
    for (const wave of [0, 1]) {
      for (let i = wave * (POSTINGS / 2); i < (wave + 1) * (POSTINGS / 2); i++) {
        await h.posting({ entryId: `F-${i}`, accountId: `ACC-${i}`, amountMinor: 1_000n + BigInt(i) });
      }
      // Every posting counted once across the fleet (each went to one of the workers).
      const expected = String((wave + 1) * (POSTINGS / 2));
      await h.waitFor(`${expected} ledger messages across the fleet`, async () => (await ledgerTotal()) === expected, 30_000);
    }

    const perInstance = await query('count by (instance) (recon_dependency_up{job="recon"})');
    expect(perInstance.map((s) => s.metric.instance).sort()).toEqual(h.daemons.map((d) => new URL(d.httpAddress()!).host).sort());

    // The dashboard's queries, as Grafana would send them for all instances.
    const dashboard = JSON.parse(readFileSync(join(root, 'dashboards/pipeline-health.json'), 'utf8')) as { panels: { title: string; targets?: { expr?: string }[] }[] };
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).flatMap((t) => (t.expr ? [{ panel: p.title, expr: t.expr }] : [])));
    expect(exprs.length).toBeGreaterThan(20);
    const results = new Map<string, Sample[]>();
    for (const { panel, expr } of exprs) {
      const q = expr.replaceAll('$instance', '.*').replaceAll('$__rate_interval', '1m');
      results.set(`${panel} ${expr}`, await query(q)); // throws on a query Prometheus refuses
    }
    const of = (needle: string) => [...results].filter(([k]) => k.includes(needle)).flatMap(([, v]) => v);
    // Figures that exist as soon as the fleet runs: every dependency up, both streams' consumers,
    // the ledger's message rate, both sides' parked legs.
    expect(of('min by (dependency) (recon_dependency_up').map((s) => [s.metric.dependency, s.value[1]])).toEqual(
      expect.arrayContaining([
        ['nats', '1'],
        ['redis', '1'],
        ['clickhouse', '1'],
      ]),
    );
    expect(
      of('recon_consumer_pending_messages')
        .map((s) => s.metric.stream)
        .sort(),
    ).toEqual(h.config.sink.mode === 'log' ? ['chain', 'facts', 'ledger'] : ['chain', 'ledger']); // the fact log's consumer too, with RECON_TEST_SINK_MODE=log
    expect(of('sum by (source) (rate(recon_messages_in_total').some((s) => s.metric.source === 'ledger' && Number(s.value[1]) > 0)).toBe(true);
    expect(of('recon_parked_legs').length).toBeGreaterThan(0);

    // The repository's alert rules are loaded and evaluated without error.
    const rules = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as { data: { groups: { rules: { name: string; health: string }[] }[] } };
    const loaded = rules.data.groups.flatMap((g) => g.rules);
    // Every rule of the file (each `- alert:` entry), not a count that goes stale.
    const inFile = [...readFileSync(join(root, 'deploy/prometheus/alerts.yml'), 'utf8').matchAll(/^\s*- alert: (\S+)/gm)].map((m) => m[1]).sort();
    expect(inFile.length).toBeGreaterThan(15);
    expect(loaded.map((r) => r.name).sort()).toEqual(inFile);
    await h.waitFor(
      'every rule evaluated',
      async () => {
        const r = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as typeof rules;
        return r.data.groups.flatMap((g) => g.rules).every((x) => x.health === 'ok');
      },
      15_000,
    );
  }, 120_000);
});
