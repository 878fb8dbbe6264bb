import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { stringify } from 'yaml';
import { amlMain } from '../../src/cli/aml.js';
import { queryRows } from '../../src/sinks/clickhouse/queries.js';
import { randomWallet, startHarness, type Harness } from '../support/harness.js';

/**
 * Shadow mode (issue 19): a candidate rule file runs beside the live one on live traffic, its
 * alerts stored but never sent (not `aml_alerts`, so not the alert outbox); `recon aml
 * shadow-report` compares the two per rule, and `recon aml promote` makes the candidate live,
 * recorded in the audit trail, reloaded by the worker.
 */
describe('AML shadow rule file', () => {
  let h: Harness;
  const dir = mkdtempSync(join(tmpdir(), 'aml-shadow-'));
  const rulesFile = join(dir, 'live.yaml');
  const shadowFile = join(dir, 'shadow.yaml');
  const suffix = Math.random().toString(36).slice(2, 8);
  const rules = (version: string, threshold: string) => ({ version, rules: [{ id: 'large-value', type: 'large_value', scope: 'customer', threshold: { USD: threshold }, suppress: 0 }] });

  beforeAll(async () => {
    writeFileSync(rulesFile, stringify(rules('live-1', '10000.00')));
    writeFileSync(shadowFile, stringify(rules('cand-2', '1000.00')));
    h = await startHarness({
      accounts: [{ accountId: 'ACC-SH', wallets: [randomWallet()] }],
      config: { aml: { enabled: true, rulesFile, shadowRulesFile: shadowFile, pollIntervalMs: 100, reloadSubject: `aml_${suffix}.reload`, watchlistSubject: `aml_${suffix}.watch` } },
    });
  }, 60_000);
  afterAll(async () => {
    await h?.stop();
  });

  const alerts = (table: 'aml_alerts' | 'aml_shadow_alerts') =>
    queryRows<{ rule_version: string; trigger_event_id: string }>(h.ch.client, `SELECT rule_version, trigger_event_id FROM ${h.ch.database}.${table} FINAL ORDER BY trigger_event_id`);

  it('stores the shadow version alerts apart, compares them per rule, and promotes it with an audit record', async () => {
    // 5,000.00: only the candidate's 1,000.00 threshold fires. 20,000.00: both.
    await h.posting({ entryId: 'sh-1', accountId: 'ACC-SH', amountMinor: 500_000n, txType: 'transfer' });
    await h.posting({ entryId: 'sh-2', accountId: 'ACC-SH', amountMinor: 2_000_000n, txType: 'transfer' });
    await h.waitFor('shadow alerts', async () => (await alerts('aml_shadow_alerts')).length === 2);
    await h.waitFor('the live alert', async () => (await alerts('aml_alerts')).length === 1);
    expect(await alerts('aml_alerts')).toEqual([{ rule_version: 'live-1', trigger_event_id: 'bank:sh-2' }]);
    expect(await alerts('aml_shadow_alerts')).toEqual([
      { rule_version: 'cand-2', trigger_event_id: 'bank:sh-1' },
      { rule_version: 'cand-2', trigger_event_id: 'bank:sh-2' },
    ]);

    const out: string[] = [];
    expect(await amlMain(['shadow-report'], h.config, { out: (l) => out.push(l), clickhouse: h.ch.client })).toBe(0);
    const [rule, total] = out.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rule).toEqual({ rule_id: 'large-value', live_version: 'live-1', shadow_version: 'cand-2', live: 1, shadow: 2, both: 1, live_only: 0, shadow_only: 1 });
    expect(total).toMatchObject({ total: true, live: 1, shadow: 2, both: 1, shadow_only: 1 });

    const err = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      expect(await amlMain(['promote'], h.config, { clickhouse: h.ch.client })).toBe(2); // who promotes?
    } finally {
      err.mockRestore();
    }
    expect(await amlMain(['promote', '--actor', 'mlro-anna', '--reason', 'fewer misses on small transfers'], h.config, { out: (l) => out.push(l), clickhouse: h.ch.client })).toBe(0);
    expect(JSON.parse(out.at(-1)!)).toEqual({ ok: true, from: 'live-1', to: 'cand-2' });
    expect(readFileSync(rulesFile, 'utf8')).toBe(readFileSync(shadowFile, 'utf8'));
    const [promotion] = await queryRows<{ actor: string; content: string }>(h.ch.client, `SELECT actor, content FROM ${h.ch.database}.audit_log FINAL WHERE action = 'aml.promote'`);
    expect(promotion!.actor).toBe('mlro-anna');
    expect(JSON.parse(promotion!.content)).toMatchObject({ from: { version: 'live-1' }, to: { version: 'cand-2' }, reason: 'fewer misses on small transfers' });

    // The worker took the promoted file: the live engine now fires at 1,000.00.
    await h.waitFor('reloaded', async () => h.daemon.aml!.rules.current().version === 'cand-2', 10_000);
    await h.posting({ entryId: 'sh-3', accountId: 'ACC-SH', amountMinor: 300_000n, txType: 'transfer' });
    await h.waitFor('a live alert under the promoted version', async () => (await alerts('aml_alerts')).some((a) => a.trigger_event_id === 'bank:sh-3' && a.rule_version === 'cand-2'));
  });

  it('refuses to promote a shadow file that does not validate, and changes nothing', async () => {
    const before = readFileSync(rulesFile, 'utf8');
    writeFileSync(shadowFile, stringify({ version: 'bad', rules: [{ id: 'x', type: 'large_value', threshold: { USD: '1.001' } }] }));
    const out: string[] = [];
    expect(await amlMain(['promote', '--actor', 'mlro-anna'], h.config, { out: (l) => out.push(l), clickhouse: h.ch.client })).toBe(1);
    expect(JSON.parse(out[0]!)).toMatchObject({ ok: false, problem: 'invalid shadow file' });
    expect(readFileSync(rulesFile, 'utf8')).toBe(before);
  });
});
