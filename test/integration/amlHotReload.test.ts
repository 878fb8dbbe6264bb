import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { jetstreamManager } from '@nats-io/jetstream';
import { queryRows } from '../../src/sinks/clickhouse/queries.js';
import { randomWallet, startHarness, type Harness } from '../support/harness.js';

/**
 * The daemon with AML rules on, on real NATS, Redis, anvil and chdb: the rule file is rewritten
 * and reloaded while postings keep flowing; the new thresholds apply from the reload on, window
 * state survives it, a bad file is refused, and the watch list takes updates from NATS.
 */
describe('AML rules hot reload under live traffic', () => {
  let h: Harness;
  const dir = mkdtempSync(join(tmpdir(), 'aml-rules-'));
  const rulesFile = join(dir, 'rules.yaml');
  const suffix = Math.random().toString(36).slice(2, 8);
  const rules = (version: string, largeValue: string) => ({
    version,
    rules: [
      { id: 'large-value', type: 'large_value', scope: 'customer', threshold: { USD: largeValue }, suppress: 0 },
      { id: 'structuring', type: 'structuring', scope: 'customer', threshold: { USD: '10000.00' }, minCount: 3, window: '24h' },
      { id: 'watchlist-account', type: 'watchlist', scope: 'customer', sources: ['bank'], severity: 'critical' },
    ],
  });
  type AlertRow = { alert_id: string; rule_id: string; rule_version: string; trigger_event_id: string; evidence_event_ids: string[]; subject: string };
  const alerts = () =>
    queryRows<AlertRow>(h.ch.client, `SELECT alert_id, rule_id, rule_version, trigger_event_id, evidence_event_ids, subject FROM ${h.ch.database}.aml_alerts FINAL ORDER BY alert_id`);
  const entries = async () => Number((await queryRows<{ n: string }>(h.ch.client, `SELECT count() AS n FROM ${h.ch.database}.ledger_entries FINAL`))[0]!.n);

  let traffic: Promise<number> | undefined;
  let stopTraffic = false;

  beforeAll(async () => {
    writeFileSync(rulesFile, stringify(rules('v1', '10000.00')));
    h = await startHarness({
      accounts: ['ACC-A', 'ACC-S', 'ACC-N', 'ACC-W'].map((accountId) => ({ accountId, wallets: [randomWallet()] })),
      config: { aml: { enabled: true, rulesFile, pollIntervalMs: 100, reloadSubject: `aml_${suffix}.reload`, watchlistSubject: `aml_${suffix}.watch` } },
    });
    // Live traffic: small postings every 20 ms for as long as the test runs.
    traffic = (async () => {
      let n = 0;
      while (!stopTraffic) {
        await h.posting({ entryId: `noise-${n++}`, accountId: 'ACC-N', amountMinor: 1_000n, txType: 'transfer' });
        await new Promise((r) => setTimeout(r, 20));
      }
      return n;
    })();
  }, 60_000);

  afterAll(async () => {
    stopTraffic = true;
    await traffic;
    await h?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('applies a rewritten rule file without a restart, keeps window state, refuses a bad file', async () => {
    const aml = h.daemon.aml!;
    expect(aml.rules.current().version).toBe('v1');
    await h.posting({ entryId: 'before-6000', accountId: 'ACC-A', amountMinor: 600_000n });
    await h.posting({ entryId: 's1', accountId: 'ACC-S', amountMinor: 950_000n });
    await h.posting({ entryId: 's2', accountId: 'ACC-S', amountMinor: 950_000n });
    await h.waitFor(
      'the first postings stored',
      async () => (await queryRows<{ n: string }>(h.ch.client, `SELECT count() AS n FROM ${h.ch.database}.ledger_entries FINAL WHERE entry_id IN ('before-6000', 's1', 's2')`))[0]!.n === '3',
    );

    // Rewrite the file (lower threshold, new version) and tell the workers to reload now.
    writeFileSync(rulesFile, stringify(rules('v2', '5000.00')));
    h.nc.publish(h.config.aml.reloadSubject);
    await h.waitFor('v2 in force', async () => aml.rules.current().version === 'v2', 10_000);

    await h.posting({ entryId: 'after-6000', accountId: 'ACC-A', amountMinor: 600_000n });
    await h.posting({ entryId: 's3', accountId: 'ACC-S', amountMinor: 950_000n });
    const raised = await h.waitFor('alerts under v2', async () => {
      const a = await alerts();
      return a.some((x) => x.rule_id === 'structuring') && a.some((x) => x.trigger_event_id === 'bank:after-6000') ? a : undefined;
    });
    expect(raised.filter((a) => a.rule_id === 'large-value' && a.subject === 'ACC-A').map((a) => [a.trigger_event_id, a.rule_version])).toEqual([['bank:after-6000', 'v2']]);
    const s = raised.find((a) => a.rule_id === 'structuring')!;
    // Two deposits before the reload and one after: the window survived it.
    expect(s.rule_version).toBe('v2');
    expect([...s.evidence_event_ids].sort()).toEqual(['bank:s1', 'bank:s2', 'bank:s3']);

    // A file that does not validate is refused; v2 stays in force.
    const rejected = aml.rules.rejected;
    writeFileSync(rulesFile, 'version: v3\nrules:\n  - id: bad\n    type: large_value\n    threshold: { USD: "1.001" }\n');
    h.nc.publish(h.config.aml.reloadSubject);
    await h.waitFor('bad file refused', async () => aml.rules.rejected > rejected, 10_000);
    expect(aml.rules.current().version).toBe('v2');
  });

  it('takes watch-list updates from NATS', async () => {
    h.nc.publish(h.config.aml.watchlistSubject, JSON.stringify({ add: ['ACC-W'] }));
    await h.waitFor('watch list updated', async () => h.daemon.aml!.watchlist.current().has('acc-w'), 10_000);
    // Account ids are compared lower case.
    await h.posting({ entryId: 'w1', accountId: 'ACC-W', amountMinor: 100n });
    const a = await h.waitFor('watch-list alert', async () => (await alerts()).find((x) => x.rule_id === 'watchlist-account'));
    expect(a.trigger_event_id).toBe('bank:w1');
  });

  it('lost no traffic across reloads and stored each alert once', async () => {
    stopTraffic = true;
    const published = await traffic!;
    await h.waitFor('all traffic stored', async () => (await entries()) >= published + 5, 30_000);
    const raw = await queryRows<{ n: string }>(h.ch.client, `SELECT count() AS n FROM ${h.ch.database}.aml_alerts`);
    const final = await alerts();
    expect(Number(raw[0]!.n)).toBe(final.length);
    expect(final.some((a) => a.trigger_event_id === 'bank:before-6000')).toBe(false);
    const jsm = await jetstreamManager(h.nc);
    await h.waitFor('nothing unacked', async () => {
      const ci = await jsm.consumers.info(h.config.nats.ledgerStream, h.config.nats.consumerName);
      return ci.num_ack_pending === 0 && ci.num_pending === 0;
    });
  });
});
