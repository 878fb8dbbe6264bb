import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeFunctionData, toHex, type Address } from 'viem';
import { queryRows } from '../../src/sinks/clickhouse/queries.js';
import { depositTokenAbi } from '../../src/devchain/depositTokenArtifact.js';
import { randomWallet, startHarness, type Harness } from '../support/harness.js';

/**
 * A reorg deeper than the confirmation depth, end to end through the matcher: the orphaned mint
 * is retracted (a fact, never a delete), its match is retracted, the credit it had matched is open
 * again, and the re-mined mint matches it; a mint the reorg dropped leaves its credit to expire.
 */
describe('deep reorg through the matcher', () => {
  let h: Harness;
  const kept = randomWallet();
  const dropped = randomWallet();

  beforeAll(async () => {
    h = await startHarness({
      accounts: [
        { accountId: 'ACC-KEPT', wallets: [kept] },
        { accountId: 'ACC-DROPPED', wallets: [dropped] },
      ],
      // Windows long enough that the re-mined mint arrives inside the credit's window.
      config: { matching: { windowMs: 20_000, allowedLatenessMs: 1_000, ledgerIdleMs: 2_000, sweepIntervalMs: 250 } },
    });
  }, 60_000);
  afterAll(async () => {
    await h?.stop();
  });

  const mintTx = (to: Address, amount: bigint) => ({
    from: h.anvil.accounts[0],
    to: h.token,
    data: encodeFunctionData({ abi: depositTokenAbi, functionName: 'mint', args: [to, amount] }),
    gas: toHex(200_000),
  });

  it('retracts the orphaned mints, re-opens their credits, and re-matches the re-mined one', async () => {
    const $ = h.usd(7_500n);
    await h.posting({ entryId: 'RK-1', accountId: 'ACC-KEPT', amountMinor: 7_500n });
    await h.posting({ entryId: 'RD-1', accountId: 'ACC-DROPPED', amountMinor: 3_000n });
    const before = await h.anvil.publicClient.getBlockNumber();
    await h.mint(kept, $);
    await h.mint(dropped, h.usd(3_000n));
    const first = await h.waitFor('both matched', async () => {
      const m = (await h.matches()).filter((x) => x.status === 'matched');
      return m.length === 2 ? m : undefined;
    });

    // Replace every block since the mints (deeper than the 1-block confirmation depth): the first
    // mint is re-mined in a new block, the second is gone.
    const head = await h.anvil.publicClient.getBlockNumber();
    const depth = Number(head - before); // every block after `before`: the mints and what followed
    expect(depth).toBeGreaterThan(h.config.chains[0]!.confirmations);
    await h.anvil.testClient.request({ method: 'anvil_reorg', params: [depth, [[mintTx(kept, $), 0]]] } as never);

    const retracted = await h.waitFor(
      'two retractions',
      async () => {
        const r = await queryRows<{ event_id: string }>(h.ch.client, `SELECT event_id FROM ${h.ch.database}.chain_event_retractions FINAL`);
        return r.length === 2 ? r : undefined;
      },
      30_000,
    );
    expect(retracted.map((r) => `match:bank:RD-1|chain:${r.event_id}`).concat(retracted.map((r) => `match:bank:RK-1|chain:${r.event_id}`))).toEqual(
      expect.arrayContaining(first.map((m) => m.match_id)),
    );

    const rematched = await h.waitFor('the re-mined mint matched the re-opened credit', async () => (await h.matches()).find((m) => m.account_id === 'ACC-KEPT' && m.status === 'matched'), 30_000);
    expect(first.map((m) => m.match_id)).not.toContain(rematched.match_id);
    const oldKept = first.find((m) => m.account_id === 'ACC-KEPT')!;
    expect((await h.matches()).find((m) => m.match_id === oldKept.match_id)?.status).toBe('retracted');

    // The dropped mint's credit is open again and, with no mint on the canonical chain, expires.
    await h.waitFor('MISSING_MINT for the dropped mint', async () => (await h.discrepancies()).some((d) => d.account_id === 'ACC-DROPPED' && d.kind === 'MISSING_MINT' && d.status === 'open'), 40_000);
    expect((await h.matches()).find((m) => m.account_id === 'ACC-DROPPED')?.status).toBe('retracted');
    expect((await h.discrepancies()).filter((d) => d.account_id === 'ACC-KEPT' && d.status === 'open')).toEqual([]);

    // What the books now say about the chain is the canonical chain: one mint, of the kept deposit.
    const canonical = await queryRows<{ to_address: string; value: string }>(
      h.ch.client,
      `SELECT to_address, toString(value) AS value FROM ${h.ch.database}.chain_events_canonical WHERE kind = 'mint'`,
    );
    expect(canonical).toEqual([{ to_address: kept, value: $.toString() }]);
  }, 120_000);
});
