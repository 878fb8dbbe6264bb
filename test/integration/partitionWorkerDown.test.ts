import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon } from '../../src/daemon.js';
import { partitionOf } from '../../src/streams/partitions.js';
import { randomWallet, startHarness, type Harness } from '../support/harness.js';

/** An account name that falls in `partition` of two. */
const accountIn = (partition: number, tag: string) => {
  for (let i = 0; ; i++) if (partitionOf(`ACC-${tag}-${i}`, 2) === partition) return `ACC-${tag}-${i}`;
};

/**
 * Two stream partitions, a worker bound to each. While one partition has no worker, nothing may be
 * declared missing anywhere (its postings and its share of the chain are unread): every window
 * waits. Once a worker is back on it, the backlog is matched and only the genuine break is raised.
 */
describe('a stream partition without a worker', () => {
  let h: Harness;
  const a = accountIn(0, 'a');
  const b = accountIn(1, 'b');
  const wallet = { a: randomWallet(), b: randomWallet() };

  beforeAll(async () => {
    h = await startHarness({
      partitions: 2,
      accounts: [
        { accountId: a, wallets: [wallet.a] },
        { accountId: b, wallets: [wallet.b] },
      ],
    });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('holds every window while its partition is unread, then matches the backlog and raises only the real break', async () => {
    // Partition 0 works: a deposit of account a matches.
    await h.posting({ entryId: 'a-ok', accountId: a, amountMinor: 1_000n });
    await h.mint(wallet.a, h.usd(1_000n));
    await h.waitFor('a-ok matched', async () => (await h.matches()).some((m) => m.account_id === a));

    // Partition 1's worker goes away.
    await h.daemons[1]!.stop();
    const lostAt = Date.now();
    // A genuine break in partition 0 (a credit never minted), and a clean deposit in partition 1.
    await h.posting({ entryId: 'a-missing', accountId: a, amountMinor: 2_000n });
    await h.posting({ entryId: 'b-ok', accountId: b, amountMinor: 3_000n });
    await h.mint(wallet.b, h.usd(3_000n));

    // Partition 0's chain progress passes the credit's window (3 s) and lateness (1 s) …
    const store = h.daemons[0]!.store;
    await h.waitFor(
      "partition 0's chain watermark past the credit's deadline",
      async () => Number((await h.daemons[0]!.redis.hget(`${h.config.namespace}:{m}:wm`, 'chain@p0')) ?? -1) > lostAt + 5_000,
      20_000,
    );
    // … yet the slowest partition's watermark holds it, so the sweeper (every 250 ms) raises nothing.
    await new Promise((r) => setTimeout(r, 1_000));
    const w = await store.watermarks();
    expect(w.chain).toBeLessThan(lostAt + 3_000);
    expect(await h.discrepancies()).toEqual([]);

    // A worker for partition 1 again: the backlog is read, b matches, a's missing mint is raised.
    const back = await startDaemon(
      { ...h.config, nats: { ...h.config.nats, partitions: { count: 2, assigned: [1] } }, workerId: `${h.config.namespace}-w1b` },
      { clickhouse: h.ch.client, log: pino({ level: 'warn' }) },
    );
    h.daemons[1] = back;
    await back.ready;
    await h.waitFor('b-ok matched', async () => (await h.matches()).some((m) => m.account_id === b));
    const d = await h.waitFor('the missing mint of a', async () => {
      const all = await h.discrepancies();
      return all.length > 0 ? all : undefined;
    });
    expect(d.map((x) => [x.kind, x.account_id])).toEqual([['MISSING_MINT', a]]);
  });
});
