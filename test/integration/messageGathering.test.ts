import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { randomWallet, startHarness, type Harness } from '../support/harness.js';

/** `recon_match_legs_per_call` of a daemon: script calls and the legs they carried. */
async function legsPerCall(d: Daemon): Promise<{ calls: number; legs: number }> {
  const text = await (await fetch(`${d.httpAddress()}/metrics`)).text();
  const value = (name: string) =>
    Number(
      text
        .split('\n')
        .find((l) => l.startsWith(`${name} `))
        ?.split(' ')[1] ?? NaN,
    );
  return { calls: value('recon_match_legs_per_call_count'), legs: value('recon_match_legs_per_call_sum') };
}

/**
 * nats.gatherMs on real NATS and Redis: postings published 10 ms apart reach the stage one by one;
 * held for others, they share match-or-park script calls; not held, each makes its own.
 */
describe('gathering messages that arrive alone', () => {
  let h: Harness;
  let apart: Daemon | undefined;

  beforeAll(async () => {
    h = await startHarness({ accounts: [{ accountId: 'ACC-G', wallets: [randomWallet()] }], config: { nats: { gatherMs: 100 } } });
  }, 60_000);

  afterAll(async () => {
    await apart?.stop();
    await h?.stop();
  });

  const publishApart = async (prefix: string, n: number) => {
    for (let i = 0; i < n; i++) {
      await h.posting({ entryId: `${prefix}-${i}`, accountId: 'ACC-G', amountMinor: BigInt(100 + i) });
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const processed = (d: Daemon, legs: number) =>
    h.waitFor(`${legs} legs matched or parked`, async () => {
      const m = await legsPerCall(d);
      return m.legs >= legs ? m : undefined;
    });

  it('held up to gatherMs, a dozen postings share a few script calls', async () => {
    await publishApart('held', 12);
    const m = await processed(h.daemon, 12);
    expect(m.legs).toBe(12);
    expect(m.calls).toBeLessThanOrEqual(4);
  });

  it('with gatherMs 0 each posting makes its own call', async () => {
    await h.daemon.stop();
    apart = await startDaemon(parseConfig({ ...h.config, workerId: `${h.config.namespace}-apart`, nats: { ...h.config.nats, gatherMs: 0 } }), { clickhouse: h.ch.client, ingest: false });
    await apart.ready;
    await publishApart('apart', 12);
    const m = await processed(apart, 12);
    expect(m.legs).toBe(12);
    expect(m.calls).toBeGreaterThanOrEqual(8);
  });
});
