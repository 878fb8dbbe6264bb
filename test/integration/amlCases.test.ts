import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Address } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { casesMain } from '../../src/cli/cases.js';
import { depositTokenAbi } from '../../src/devchain/depositTokenArtifact.js';
import { queryRows } from '../../src/sinks/clickhouse/queries.js';
import { randomWallet, startHarness, type Harness } from '../support/harness.js';

const OPERATOR = 'operator-token-0123456789abcdefghijklmn';
const VIEWER = 'viewer-token-0123456789abcdefghijklmnop';

/** The API's answers as this test reads them. */
type Body = { items: Record<string, unknown>[]; alert: Record<string, unknown>; error: { code: string }; case: Record<string, unknown> };

/**
 * AML alerts are cases (issue 17): a customer's wallet pays a watch-listed address on a real chain;
 * the alert names that customer (not only the listed address), an analyst takes it and disposes of
 * it as a false positive through the API and the CLI, the disposition is a fact per rule and
 * version, and the actions that belong to discrepancies are refused on it (and vice versa).
 */
describe('AML alerts as cases', () => {
  let h: Harness;
  const customerWallet = randomWallet() as Address;
  const listed = randomWallet() as Address;
  const suffix = Math.random().toString(36).slice(2, 8);

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aml-cases-'));
    const rulesFile = join(dir, 'rules.yaml');
    writeFileSync(rulesFile, stringify({ version: 'wl-1', rules: [{ id: 'watchlist-wallet', type: 'watchlist', scope: 'wallet', sources: ['chain'], severity: 'critical' }] }));
    h = await startHarness({
      accounts: [{ accountId: 'ACC-AML', wallets: [customerWallet] }],
      config: {
        aml: { enabled: true, rulesFile, reloadSubject: `aml_${suffix}.reload`, watchlistSubject: `aml_${suffix}.watch` },
        matching: { windowMs: 2_000, allowedLatenessMs: 500, ledgerIdleMs: 1_000, sweepIntervalMs: 200, lateRetentionMs: 3_600_000 },
        cases: {
          enabled: true,
          tokens: [
            { id: 'olga', role: 'operator', token: OPERATOR },
            { id: 'vic', role: 'viewer', token: VIEWER },
          ],
        },
      },
    });
  }, 60_000);
  afterAll(async () => {
    await h?.stop();
  });

  const api = async (token: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${h.daemon.httpAddress()}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Body };
  };

  it('names the customer who paid a listed address, and closes as a false positive with the disposition recorded', async () => {
    h.nc.publish(h.config.aml.watchlistSubject, JSON.stringify({ add: [listed] }));
    await h.waitFor('watch list updated', async () => h.daemon.aml!.watchlist.current().has(listed.toLowerCase()), 10_000);
    // The customer's deposit, minted; then their wallet pays the listed address.
    await h.posting({ entryId: 'aml-dep', accountId: 'ACC-AML', amountMinor: 500_000n });
    await h.mint(customerWallet, h.usd(500_000n));
    const { testClient, walletClient, chain } = h.anvil;
    await testClient.impersonateAccount({ address: customerWallet });
    await testClient.setBalance({ address: customerWallet, value: 10n ** 18n });
    await walletClient.writeContract({ account: customerWallet, chain, address: h.token, abi: depositTokenAbi, functionName: 'transfer', args: [listed, h.usd(100_000n)] });

    const alert = await h.waitFor(
      'the watch-list alert',
      async () =>
        (
          await queryRows<{ alert_id: string; subject: string; customers: string[] }>(
            h.ch.client,
            `SELECT alert_id, subject, customers FROM ${h.ch.database}.aml_alerts FINAL WHERE rule_id = 'watchlist-wallet'`,
          )
        )[0],
      30_000,
    );
    expect(alert).toMatchObject({ subject: listed.toLowerCase(), customers: ['ACC-AML'] });

    const queue = await api(VIEWER, 'GET', '/api/v1/aml/alerts?customer=ACC-AML');
    expect(queue.status).toBe(200);
    expect(queue.body.items).toEqual([
      expect.objectContaining({ alert_id: alert.alert_id, customers: ['ACC-AML'], rule_version: 'wl-1', disposition: '', case: expect.objectContaining({ status: 'open' }) }),
    ]);
    const page = await api(VIEWER, 'GET', `/api/v1/cases/${encodeURIComponent(alert.alert_id)}`);
    expect(page.body.alert).toMatchObject({ rule_id: 'watchlist-wallet', customers: ['ACC-AML'] });

    const path = `/api/v1/cases/${encodeURIComponent(alert.alert_id)}/actions`;
    const fp = { type: 'dispose', disposition: 'false_positive', reasonCode: 'NAMESAKE' };
    expect((await api(VIEWER, 'POST', path, fp)).status).toBe(403);
    expect((await api(OPERATOR, 'POST', path, fp)).body.error.code).toBe('ILLEGAL_TRANSITION'); // take it first
    expect((await api(OPERATOR, 'POST', path, { ...fp, disposition: 'ignored' })).status).toBe(400);
    const writeOff = await api(OPERATOR, 'POST', path, { type: 'request_write_off', requestId: 'W-1', amountMinor: '100', currency: 'USD', reasonCode: 'X' });
    expect(writeOff).toMatchObject({ status: 400, body: { error: { code: 'INVALID_ACTION' } } });
    expect((await api(OPERATOR, 'POST', path, { type: 'acknowledge' })).status).toBe(200);

    const lines: string[] = [];
    const env = { RECON_API_URL: h.daemon.httpAddress()!, RECON_API_TOKEN: OPERATOR };
    expect(await casesMain(['act', alert.alert_id, 'dispose', '--disposition', 'false_positive', '--reason-code', 'NAMESAKE'], env, { out: (l) => lines.push(l) })).toBe(0);
    expect(JSON.parse(lines[0]!)).toMatchObject({ case: { status: 'resolved', resolution: 'false_positive' } });

    const dispositions = await queryRows(h.ch.client, `SELECT alert_id, disposition, reason_code, actor FROM ${h.ch.database}.aml_dispositions`);
    expect(dispositions).toEqual([{ alert_id: alert.alert_id, disposition: 'false_positive', reason_code: 'NAMESAKE', actor: 'olga' }]);
    // The AML dashboard's share of false positives per rule and version, as its panel computes it.
    const [share] = await queryRows<{ rule_version: string; fp: number }>(
      h.ch.client,
      `SELECT a.rule_version AS rule_version, countIf(d.disposition = 'false_positive') / nullIf(countIf(d.disposition != ''), 0) AS fp
       FROM (SELECT alert_id, rule_id, rule_version FROM ${h.ch.database}.aml_alerts FINAL) AS a
       LEFT JOIN (SELECT alert_id, argMax(disposition, seq) AS disposition FROM ${h.ch.database}.aml_dispositions GROUP BY alert_id) AS d ON d.alert_id = a.alert_id
       WHERE a.rule_id = 'watchlist-wallet' GROUP BY rule_version`,
    );
    expect(share).toEqual({ rule_version: 'wl-1', fp: 1 });
    expect((await api(VIEWER, 'GET', '/api/v1/aml/alerts?status=open')).body.items).toEqual([]);
    expect((await api(VIEWER, 'GET', '/api/v1/aml/alerts?status=disposed')).body.items).toEqual([expect.objectContaining({ alert_id: alert.alert_id, disposition: 'false_positive' })]);
  });

  it('refuses to dispose of a discrepancy', async () => {
    await h.posting({ entryId: 'aml-miss', accountId: 'ACC-AML', amountMinor: 300n });
    const id = 'MISSING_MINT:bank:aml-miss';
    await h.waitFor('the MISSING_MINT', async () => (await h.discrepancies()).some((d) => d.discrepancy_id === id));
    const r = await api(OPERATOR, 'POST', `/api/v1/cases/${encodeURIComponent(id)}/actions`, { type: 'dispose', disposition: 'false_positive', reasonCode: 'X' });
    expect(r).toMatchObject({ status: 400, body: { error: { code: 'INVALID_ACTION' } } });
  });
});
