import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Address } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { depositTokenAbi } from '../../src/devchain/depositTokenArtifact.js';
import { queryRows } from '../../src/sinks/clickhouse/queries.js';
import { randomWallet, startHarness, type Harness } from '../support/harness.js';

/**
 * The risk score on a schedule in the worker (issue 19): four outside wallets pay one customer on a
 * real chain; the period's scoring (one worker, once) raises a risk-score alert that names the
 * customer and carries the four transfers, written as an `aml_alerts` fact like every alert.
 */
describe('risk scoring in the worker', () => {
  let h: Harness;
  const customer = randomWallet() as Address;
  const payers = [randomWallet(), randomWallet(), randomWallet(), randomWallet()] as Address[];
  const suffix = Math.random().toString(36).slice(2, 8);

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aml-risk-'));
    const rulesFile = join(dir, 'rules.yaml');
    writeFileSync(
      rulesFile,
      stringify({ version: 'risk-1', rules: [], risk: { currency: 'USD', period: '1d', fanMinCounterparties: 4, weights: { fan_in: 60 }, alertThreshold: 50, escalateThreshold: 100 } }),
    );
    h = await startHarness({
      accounts: [{ accountId: 'ACC-R', wallets: [customer] }],
      config: { aml: { enabled: true, rulesFile, reloadSubject: `aml_${suffix}.reload`, watchlistSubject: `aml_${suffix}.watch`, riskScoreEveryMs: 3_600_000 } },
    });
  }, 60_000);
  afterAll(async () => {
    await h?.stop();
  });

  it('scores the period once and alerts the customer four outside wallets paid', async () => {
    const { testClient, walletClient, chain } = h.anvil;
    for (const p of payers) {
      await h.mint(p, h.usd(20_000n));
      await testClient.impersonateAccount({ address: p });
      await testClient.setBalance({ address: p, value: 10n ** 18n });
      await walletClient.writeContract({ account: p, chain, address: h.token, abi: depositTokenAbi, functionName: 'transfer', args: [customer, h.usd(15_000n)] });
    }
    const transfers = async () =>
      Number(
        (
          await queryRows<{ n: string }>(h.ch.client, `SELECT count() AS n FROM ${h.ch.database}.chain_events FINAL WHERE kind = 'transfer' AND to_address = {to:String}`, {
            to: customer.toLowerCase(),
          })
        )[0]!.n,
      );
    await h.waitFor('the four transfers', async () => (await transfers()) === 4, 30_000);
    // The engine applied each to the customer's window before its chain_events fact was written.

    const periodEnd = Date.now() + 60_000;
    const scored = await h.daemon.riskScoring!.scoreNow(periodEnd);
    expect(scored).toMatchObject({ periodEnd, customers: 1, alerts: 1 });
    expect(await h.daemon.riskScoring!.scoreNow(periodEnd)).toBeNull(); // once
    await h.daemon.factsLoaded(); // with the fact log (RECON_TEST_SINK_MODE=log), what the job wrote is in ClickHouse

    const [alert] = await queryRows<{ rule_id: string; subject: string; customers: string[]; evidence_event_ids: string[]; rule_version: string }>(
      h.ch.client,
      `SELECT rule_id, subject, customers, evidence_event_ids, rule_version FROM ${h.ch.database}.aml_alerts FINAL WHERE rule_id = 'risk-score'`,
    );
    expect(alert).toMatchObject({ subject: 'ACC-R', customers: ['ACC-R'], rule_version: 'risk-1' });
    expect(alert!.evidence_event_ids).toHaveLength(4);
  });
});
