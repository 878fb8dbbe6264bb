import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const dir = join(new URL('../../', import.meta.url).pathname, 'deploy/prometheus');

/** Runs Debian's promtool (package `prometheus`, installed by .ci/run); its output on failure. */
function promtool(...args: string[]): { ok: boolean; out: string } {
  try {
    return { ok: true, out: execFileSync('promtool', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
  } catch (e) {
    const err = e as { code?: string; stdout?: string; stderr?: string };
    if (err.code === 'ENOENT') throw new Error('promtool not found: apt-get install prometheus (.ci/run installs it)');
    return { ok: false, out: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}

describe('Prometheus alert rules (deploy/prometheus/alerts.yml)', () => {
  it('pass promtool check rules', () => {
    const r = promtool('check', 'rules', 'alerts.yml');
    expect(r.out).toMatch(/SUCCESS: \d+ rules found/);
    expect(r.ok).toBe(true);
  });

  it('pass their promtool unit tests: each alert fires when its `for` allows and not on look-alikes', () => {
    const r = promtool('test', 'rules', 'alerts.test.yml');
    expect(r.out, r.out).toContain('SUCCESS');
    expect(r.ok).toBe(true);
  });

  it('has a unit test for every alert', async () => {
    const { parse } = await import('yaml');
    const { readFileSync } = await import('node:fs');
    const rules = (parse(readFileSync(join(dir, 'alerts.yml'), 'utf8')) as { groups: { rules: { alert: string }[] }[] }).groups.flatMap((g) => g.rules.map((r) => r.alert));
    const tests = parse(readFileSync(join(dir, 'alerts.test.yml'), 'utf8')) as { tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[] };
    const firing = new Set(tests.tests.flatMap((t) => t.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
    expect(rules.filter((a) => !firing.has(a))).toEqual([]);
  });
});
