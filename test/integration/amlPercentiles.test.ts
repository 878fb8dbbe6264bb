import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { queryRows } from '../../src/sinks/clickhouse/queries.js';
import { randomWallet, startHarness, type Harness } from '../support/harness.js';

/**
 * Thresholds from data (issue 19): a large-value threshold at the 90th percentile of the
 * currency's booked postings of the last 30 days. Until it is computed the rule waits (no floor);
 * computed in ClickHouse from ten postings of 100.00 … 1,000.00, it is 1,000.00, recorded in the
 * audit trail, and a 1,500.00 posting alerts where a 999.99 one does not.
 */
describe('AML thresholds from data', () => {
  let h: Harness;
  const suffix = Math.random().toString(36).slice(2, 8);

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aml-pct-'));
    const rulesFile = join(dir, 'rules.yaml');
    writeFileSync(rulesFile, stringify({ version: 'pct-1', rules: [{ id: 'large-p90', type: 'large_value', scope: 'customer', threshold: { USD: { percentile: 90, over: '30d' } }, suppress: 0 }] }));
    h = await startHarness({
      accounts: [{ accountId: 'ACC-P', wallets: [randomWallet()] }],
      config: {
        aml: { enabled: true, rulesFile, reloadSubject: `aml_${suffix}.reload`, watchlistSubject: `aml_${suffix}.watch` },
        cases: { enabled: true, tokens: [{ id: 'olga', role: 'operator', token: 'operator-token-0123456789abcdefghijklmn' }] },
      },
    });
  }, 60_000);
  afterAll(async () => {
    await h?.stop();
  });

  const alerts = () => queryRows<{ trigger_event_id: string; figures: string }>(h.ch.client, `SELECT trigger_event_id, figures FROM ${h.ch.database}.aml_alerts FINAL ORDER BY trigger_event_id`);
  const entries = async () => Number((await queryRows<{ n: string }>(h.ch.client, `SELECT count() AS n FROM ${h.ch.database}.ledger_entries FINAL`))[0]!.n);

  it('waits for the percentile, computes it from the postings, audits it and alerts above it', async () => {
    const now = Date.now();
    for (let k = 1; k <= 10; k++) await h.posting({ entryId: `p-${k}`, accountId: 'ACC-P', amountMinor: BigInt(k) * 10_000n, txType: 'transfer', bookingTime: now - k * 60_000 });
    await h.waitFor('ten postings', async () => (await entries()) === 10);
    expect(await alerts()).toEqual([]); // nothing computed, no floor: the rule waits

    const job = h.daemon.amountPercentiles!;
    const snapshot = await job.computeNow(true);
    expect(snapshot).toMatchObject({ rulesVersion: 'pct-1', values: { [`USD|90|${30 * 86_400_000}`]: { minor: '100000', postings: 10 } } });
    await job.refresh();
    await h.daemon.factsLoaded(); // with the fact log (RECON_TEST_SINK_MODE=log), what the job wrote is in ClickHouse
    const [record] = await queryRows<{ actor: string; subject: string; content: string }>(
      h.ch.client,
      `SELECT actor, subject, content FROM ${h.ch.database}.audit_log FINAL WHERE action = 'aml.percentiles'`,
    );
    expect(record).toMatchObject({ actor: 'system', subject: 'pct-1' });
    expect(JSON.parse(record!.content)).toMatchObject({ rulesVersion: 'pct-1' });

    await h.posting({ entryId: 'p-below', accountId: 'ACC-P', amountMinor: 99_999n, txType: 'transfer' });
    await h.posting({ entryId: 'p-big', accountId: 'ACC-P', amountMinor: 150_000n, txType: 'transfer' });
    await h.waitFor('twelve postings', async () => (await entries()) === 12);
    const raised = await alerts();
    expect(raised.map((a) => a.trigger_event_id)).toEqual(['bank:p-big']);
    expect(JSON.parse(raised[0]!.figures)).toEqual([expect.objectContaining({ threshold: '100000' })]);
  });
});
