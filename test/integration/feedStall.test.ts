import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomWallet, startHarness, type Harness } from '../support/harness.js';

/** A silent bank feed opens FEED_STALLED (an alert-worthy fact); its next posting resolves it. */
describe('feed stall', () => {
  let h: Harness;
  const w = randomWallet();

  beforeAll(async () => {
    h = await startHarness({
      accounts: [{ accountId: 'ACC-S', wallets: [w] }],
      config: { matching: { windowMs: 3_000, allowedLatenessMs: 1_000, ledgerIdleMs: 2_000, sweepIntervalMs: 250, feedStallMs: 1_500 } },
    });
  }, 60_000);
  afterAll(async () => {
    await h?.stop();
  });

  const stalls = async () => (await h.discrepancies()).filter((d) => d.kind === 'FEED_STALLED');

  it('opens FEED_STALLED for a silent bank feed once, and resolves it when postings arrive again; the moving chain never stalls', async () => {
    await h.posting({ entryId: 'S-1', accountId: 'ACC-S', amountMinor: 100n });
    await h.mint(w, h.usd(100n));
    const open = await h.waitFor(
      'a ledger stall',
      async () => {
        const s = await stalls();
        return s.length > 0 ? s : undefined;
      },
      15_000,
    );
    expect(open.map((s) => [s.discrepancy_id.split(':').slice(0, 2).join(':'), s.status])).toEqual([['FEED_STALLED:ledger', 'open']]);
    expect(open[0]!.reason).toMatch(/no bank ledger postings since/);

    // More sweeps of the same stall open nothing new: three run now, not "some" within a sleep.
    for (let i = 0; i < 3; i++) await h.daemon.sweep();
    expect((await stalls()).map((s) => s.discrepancy_id)).toEqual(open.map((s) => s.discrepancy_id));

    await h.posting({ entryId: 'S-2', accountId: 'ACC-S', amountMinor: 200n });
    await h.waitFor('the stall resolved', async () => (await stalls()).every((s) => s.status === 'resolved'), 15_000);
    expect((await stalls()).filter((s) => s.discrepancy_id.startsWith('FEED_STALLED:chain'))).toEqual([]);
  }, 60_000);
});
