import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/sinks/clickhouse/queries.js';
import { randomWallet, startHarness, type Harness } from '../support/harness.js';

/**
 * Identity mappings published by the bank on the mapping subject take effect without a restart,
 * and with `unmappedPolicy: reject` a deposit on an unmapped account is dead-lettered with the reason.
 */
describe('identity mapping updates and the reject policy', () => {
  let h: Harness;
  const walletB = randomWallet();

  beforeAll(async () => {
    h = await startHarness({
      accounts: [{ accountId: 'ACC-A', wallets: [randomWallet()] }],
      config: { matching: { windowMs: 3_000, allowedLatenessMs: 1_000, ledgerIdleMs: 2_000, sweepIntervalMs: 250, unmappedPolicy: 'reject' } },
    });
  }, 60_000);
  afterAll(async () => { await h?.stop(); });

  it('matches a deposit of an account mapped by a mapping update published on NATS', async () => {
    await h.js.publish(h.config.nats.mappingSubject, JSON.stringify({ accountId: 'ACC-B', wallets: [walletB] }));
    await h.waitFor('mapping applied', async () => h.daemon.identities.accountOfWallet(walletB) === 'ACC-B', 10_000);
    await h.posting({ entryId: 'B-1', accountId: 'ACC-B', amountMinor: 2_500n });
    await h.mint(walletB, h.usd(2_500n));
    const m = await h.waitFor('match for ACC-B', async () => (await h.matches()).find((x) => x.account_id === 'ACC-B'));
    expect(m.status).toBe('matched');
  });

  it('dead-letters a deposit on an unmapped account with UNMAPPED_IDENTITY and its reason, and keeps matching', async () => {
    await h.posting({ entryId: 'C-1', accountId: 'ACC-C', amountMinor: 700n });
    await h.posting({ entryId: 'B-2', accountId: 'ACC-B', amountMinor: 800n });
    await h.mint(walletB, h.usd(800n));
    const dl = await h.waitFor('dead letter', async () => {
      const rows = await queryRows<{ reason_code: string; reason: string }>(h.ch.client,
        `SELECT reason_code, reason FROM ${h.ch.database}.dead_letters FINAL`);
      return rows.length > 0 ? rows : undefined;
    });
    expect(dl).toHaveLength(1);
    expect(dl[0]!.reason_code).toBe('UNMAPPED_IDENTITY');
    expect(dl[0]!.reason).toMatch(/ACC-C is not mapped/);
    await h.waitFor('second match for ACC-B', async () => (await h.matches()).filter((x) => x.account_id === 'ACC-B').length === 2);
    expect((await h.discrepancies()).filter((d) => d.kind.startsWith('ORPHAN'))).toEqual([]);
  });

  it('dead-letters a malformed mapping update, keeps the previous mapping and applies later ones', async () => {
    await h.js.publish(h.config.nats.mappingSubject, JSON.stringify({ accountId: 'ACC-B', wallets: ['not-an-address'] }));
    await h.js.publish(h.config.nats.mappingSubject, JSON.stringify({ accountId: 'ACC-D', wallets: [randomWallet()] }));
    await h.waitFor('later update applied', async () => h.daemon.identities.walletsOfAccount('ACC-D').length === 1, 10_000);
    expect(h.daemon.identities.accountOfWallet(walletB)).toBe('ACC-B');
    const dl = await h.waitFor('mapping dead letter', async () => {
      const rows = await queryRows<{ source: string; reason: string }>(h.ch.client,
        `SELECT source, reason FROM ${h.ch.database}.dead_letters FINAL WHERE source = 'mapping'`);
      return rows.length > 0 ? rows : undefined;
    });
    expect(dl).toHaveLength(1);
    expect(dl[0]!.reason).toMatch(/invalid mapping update/);
  });
});
