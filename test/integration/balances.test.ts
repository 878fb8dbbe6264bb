import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/sinks/clickhouse/queries.js';
import { transfer } from '../../src/devchain/anvilNode.js';
import { randomWallet, startHarness, type Harness } from '../support/harness.js';

/** Anvil's second dev account (default mnemonic): a customer wallet that can sign its own transfers. */
const DEV1 = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8';

interface Snapshot {
  scope: string;
  subject: string;
  bank: string;
  chain: string;
  reported: string;
  in_flight: string;
  unexplained: string;
}

/**
 * Balance facts: the bank's balance per account and currency against the chain's (events and the
 * token's own totalSupply), with what is in flight separated from unexplained drift; sustained
 * drift opens BALANCE_DRIFT and its healing resolves it.
 */
describe('balance reconciliation', () => {
  let h: Harness;
  const w = randomWallet();
  /** The balance job's clock: real time plus what the test skips ahead. */
  let skipped = 0;

  beforeAll(async () => {
    h = await startHarness({
      balancesClock: () => Date.now() + skipped,
      accounts: [
        { accountId: 'ACC-BAL', wallets: [w] },
        { accountId: 'ACC-TRANSFER', wallets: [DEV1] },
      ],
      config: {
        matching: { windowMs: 6_000, allowedLatenessMs: 1_000, ledgerIdleMs: 2_000, sweepIntervalMs: 250 },
        balances: { intervalMs: 3_600_000, onChangeDebounceMs: 3_600_000, driftGraceMs: 3_000, toleranceBase: 0n },
      },
    });
  }, 60_000);
  afterAll(async () => {
    await h?.stop();
  });

  const latest = async (scope: string, subject: string) => {
    const rows = await queryRows<Snapshot>(
      h.ch.client,
      `
      SELECT scope, subject, toString(argMax(bank_balance, at)) AS bank, toString(argMax(chain_balance, at)) AS chain,
             toString(argMax(onchain_reported, at)) AS reported, toString(argMax(in_flight, at)) AS in_flight,
             toString(argMax(unexplained, at)) AS unexplained
      FROM ${h.ch.database}.balance_snapshots WHERE scope = {scope:String} AND subject = {subject:String} GROUP BY scope, subject`,
      { scope, subject },
    );
    return rows[0];
  };
  const explained = async (scope: string, subject: string) =>
    (
      await queryRows<{ e: string }>(
        h.ch.client,
        `SELECT toString(argMax(explained_by_open, at)) AS e FROM ${h.ch.database}.balance_snapshots WHERE scope = {scope:String} AND subject = {subject:String}`,
        { scope, subject },
      )
    )[0]?.e;
  /** A balance check, and (with the fact log, RECON_TEST_SINK_MODE=log) its snapshots loaded into ClickHouse. */
  const checkNow = async () => {
    await h.daemon.balances.checkNow();
    await h.daemon.factsLoaded();
  };
  const drift = async () => (await h.discrepancies()).filter((d) => d.kind === 'BALANCE_DRIFT').map((d) => d.status);

  it('writes balanced snapshots when every leg matched, reading totalSupply from the contract', async () => {
    await h.posting({ entryId: 'BAL-1', accountId: 'ACC-BAL', amountMinor: 10_000n });
    await h.mint(w, h.usd(10_000n));
    await h.waitFor('match', async () => (await h.matches()).length === 1);
    await checkNow();
    const one = h.usd(10_000n).toString();
    expect(await latest('account', 'ACC-BAL')).toEqual({ scope: 'account', subject: 'ACC-BAL', bank: one, chain: one, reported: one, in_flight: '0', unexplained: '0' });
    expect(await latest('currency', 'USD')).toMatchObject({ bank: one, reported: one, unexplained: '0' });
  });

  it('explains a gap by a leg in flight, then links it to the open MISSING_BANK_CREDIT instead of raising drift', async () => {
    await h.mint(w, h.usd(5_000n));
    await h.waitFor('mint recorded', async () => {
      await checkNow();
      const s = await latest('account', 'ACC-BAL');
      return s && s.chain === h.usd(15_000n).toString() ? s : undefined;
    });
    // The mint is still inside its window: the gap is in flight, not drift.
    expect(await latest('account', 'ACC-BAL')).toMatchObject({ in_flight: (-h.usd(5_000n)).toString(), unexplained: '0' });
    expect(await h.discrepancies()).toEqual([]);
    await h.waitFor('MISSING_BANK_CREDIT', async () => (await h.discrepancies()).some((d) => d.kind === 'MISSING_BANK_CREDIT'));
    await checkNow();
    // The gap is the mint the open MISSING_BANK_CREDIT names: linked to it, not drift of its own.
    expect(await latest('account', 'ACC-BAL')).toMatchObject({ in_flight: '0', unexplained: '0' });
    expect(await explained('account', 'ACC-BAL')).toBe((-h.usd(5_000n)).toString());
    skipped += 3_001; // past the 3 s grace period, on the balance job's clock
    await checkNow();
    expect(await drift()).toEqual([]);

    // The bank books the credit late: the mint matches late, nothing is left to explain.
    await h.posting({ entryId: 'BAL-2', accountId: 'ACC-BAL', amountMinor: 5_000n });
    await h.waitFor('late match', async () => (await h.matches()).length === 2);
    await checkNow();
    expect(await latest('account', 'ACC-BAL')).toMatchObject({ unexplained: '0' });
    expect(await explained('account', 'ACC-BAL')).toBe('0');
    expect(await drift()).toEqual([]);
  });

  it('opens BALANCE_DRIFT for a gap nothing explains (tokens moved wallet to wallet), and resolves it when healed', async () => {
    await h.posting({ entryId: 'BAL-T1', accountId: 'ACC-TRANSFER', amountMinor: 10_000n });
    await h.mint(DEV1, h.usd(10_000n));
    await h.waitFor('match', async () => (await h.matches()).some((m) => m.account_id === 'ACC-TRANSFER'));
    // The customer's wallet pays 30.00 to a wallet outside the programme: no bank posting.
    await transfer(h.anvil, h.token, 1, h.anvil.accounts[2]!, h.usd(3_000n));
    await h.waitFor('transfer recorded', async () => {
      await checkNow();
      const s = await latest('account', 'ACC-TRANSFER');
      return s && s.chain === h.usd(7_000n).toString() ? s : undefined;
    });
    expect(await latest('account', 'ACC-TRANSFER')).toMatchObject({ unexplained: h.usd(3_000n).toString() });
    skipped += 3_001;
    await checkNow();
    // Only the account drifts: the bank liability still equals the total supply.
    const open = (await h.discrepancies()).filter((d) => d.kind === 'BALANCE_DRIFT' && d.status === 'open');
    expect(open.map((d) => d.account_id)).toEqual(['ACC-TRANSFER']);
    const [row] = await queryRows<{ expected_amount: string; actual_amount: string }>(
      h.ch.client,
      `SELECT toString(expected_amount) AS expected_amount, toString(actual_amount) AS actual_amount FROM ${h.ch.database}.discrepancies_current WHERE kind = 'BALANCE_DRIFT' AND account_id = 'ACC-TRANSFER'`,
    );
    // Amounts in minor units of USD, like every other kind: the bank 100.00, the chain 70.00.
    expect(row).toEqual({ expected_amount: '10000', actual_amount: '7000' });

    // The tokens come back: the drift heals.
    await transfer(h.anvil, h.token, 2, DEV1, h.usd(3_000n));
    await h.waitFor('healed', async () => {
      await checkNow();
      return (await h.discrepancies()).filter((d) => d.kind === 'BALANCE_DRIFT').every((d) => d.status === 'resolved');
    });
  });
});
