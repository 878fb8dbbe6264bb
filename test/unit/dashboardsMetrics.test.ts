import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createMetrics } from '../../src/observability/metrics.js';

/** Every recon_* series the Prometheus dashboard and the alert rules query is one the daemon exports. */
const root = join(import.meta.dirname, '../..');

async function exportedSeries(): Promise<Set<string>> {
  const m = createMetrics();
  const names = new Set<string>();
  for (const metric of await m.registry.getMetricsAsJSON()) {
    names.add(metric.name);
    if (String(metric.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(metric.name + s);
  }
  return names;
}

const referenced = (text: string) => new Set([...text.matchAll(/\brecon_[a-z0-9_]+\b/g)].map((m) => m[0]));

describe('Prometheus queries name real metrics', () => {
  it('the Pipeline health dashboard', async () => {
    const exported = await exportedSeries();
    const d = JSON.parse(readFileSync(join(root, 'dashboards/pipeline-health.json'), 'utf8')) as { panels: { targets: { expr: string }[] }[] };
    const exprs = d.panels.flatMap((p) => p.targets.map((t) => t.expr)).join('\n');
    const names = [...referenced(exprs)];
    expect(names.length).toBeGreaterThan(10);
    for (const n of names) expect(exported.has(n), n).toBe(true);
  });

  it('the alert rules, which docker-compose mounts into Prometheus', async () => {
    const exported = await exportedSeries();
    const rules = parse(readFileSync(join(root, 'deploy/prometheus/alerts.yml'), 'utf8')) as { groups: { rules: { alert: string; expr: string; labels: { severity: string } }[] }[] };
    const all = rules.groups.flatMap((g) => g.rules);
    for (const r of all) {
      for (const n of referenced(r.expr)) expect(exported.has(n), `${r.alert}: ${n}`).toBe(true);
      expect(['warning', 'critical']).toContain(r.labels.severity);
    }
    for (const a of ['ReconConsumerLagGrowing', 'ReconNoLedgerEvents', 'ReconDeadLettersRising', 'ReconAlertChannelCircuitOpen']) {
      expect(all.map((r) => r.alert)).toContain(a);
    }
    const compose = readFileSync(join(root, 'docker-compose.yml'), 'utf8');
    expect(compose).toContain('./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml');
    expect(readFileSync(join(root, 'deploy/prometheus/prometheus.yml'), 'utf8')).toContain('/etc/prometheus/alerts.yml');
  });
});
