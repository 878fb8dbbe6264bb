import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, describe, expect, it } from 'vitest';
import type { Address } from 'viem';
import { depositTokenAbi } from '../../src/devchain/depositTokenArtifact.js';
import { queryRows } from '../../src/sinks/clickhouse/queries.js';
import { tempClickHouse, type TempClickHouse } from '../support/clickhouse.js';
import { randomWallet, startHarness, type Harness } from '../support/harness.js';

const DEPOSITS = 60;
/** Deposit i: every 10th has no mint (MISSING_MINT), every 10th + 5 no credit (MISSING_BANK_CREDIT). */
const hasCredit = (i: number) => i % 10 !== 5;
const hasMint = (i: number) => i % 10 !== 0;

/**
 * The same traffic through one daemon and through two daemons sharing the streams, the Redis
 * namespace and ClickHouse: the two share the work and write the same facts as one.
 */
describe('two daemons on the same streams', () => {
  let ch: TempClickHouse;
  const harnesses: Harness[] = [];
  const wallets: Address[] = Array.from({ length: DEPOSITS }, () => randomWallet());
  const accounts = wallets.map((w, i) => ({ accountId: `ACC-${i}`, wallets: [w] }));

  afterAll(async () => {
    for (const h of harnesses) await h.stop();
    await ch?.close();
  });

  async function run(workers: number, database: string) {
    ch ??= await tempClickHouse();
    const h = await startHarness({ accounts, workers, shared: { ch, database } });
    harnesses.push(h);
    for (let i = 0; i < DEPOSITS; i++) {
      if (hasCredit(i)) await h.posting({ entryId: `E-${i}`, accountId: `ACC-${i}`, amountMinor: BigInt(10_000 + i) });
      if (hasMint(i)) {
        await h.anvil.walletClient.writeContract({
          address: h.token,
          abi: depositTokenAbi,
          functionName: 'mint',
          args: [wallets[i]!, h.usd(BigInt(10_000 + i))],
        });
      }
    }
    const expectedMatches = Array.from({ length: DEPOSITS }, (_, i) => i).filter((i) => hasCredit(i) && hasMint(i)).length;
    await h.waitFor(
      'every match and discrepancy',
      async () => {
        const m = await h.matches();
        const d = await h.discrepancies();
        return m.length === expectedMatches && d.length === DEPOSITS - expectedMatches;
      },
      60_000,
    );
    // Anything extra (a double match, a false discrepancy) would be durable once every message
    // published so far is acked (ack after durable) and each worker has swept once more.
    const jsm = await jetstreamManager(h.nc);
    for (const stream of [h.config.nats.ledgerStream, h.config.nats.chainStream]) {
      const last = (await jsm.streams.info(stream)).state.last_seq;
      await h.waitFor(`${stream} acked up to ${last}`, async () => (await jsm.consumers.info(stream, h.config.nats.consumerName)).ack_floor.stream_seq >= last, 30_000);
    }
    for (const d of h.daemons) await d.sweep();
    const matches = await queryRows<{ account_id: string; bank_leg_id: string; match_by: string }>(
      h.ch.client,
      `SELECT account_id, bank_leg_id, match_by FROM ${database}.matches_current ORDER BY bank_leg_id`,
    );
    const discrepancies = await queryRows<{ kind: string; account_id: string; status: string }>(
      h.ch.client,
      `SELECT kind, account_id, status FROM ${database}.discrepancies_current ORDER BY account_id, kind`,
    );
    const raw = await queryRows<{ n: string }>(
      h.ch.client,
      `SELECT (SELECT count() FROM ${database}.matches) + (SELECT count() FROM ${database}.discrepancy_events) + (SELECT count() FROM ${database}.ledger_entries) + (SELECT count() FROM ${database}.chain_events) AS n`,
    );
    return { h, matches, discrepancies, rawFacts: Number(raw[0]!.n) };
  }

  it('shares the work between two daemons and writes the same facts as one daemon', async () => {
    const one = await run(1, 'recon_one');
    const two = await run(2, 'recon_two');

    expect(two.matches).toEqual(one.matches);
    expect(two.discrepancies).toEqual(one.discrepancies);
    expect(two.rawFacts).toBe(one.rawFacts);
    expect(one.discrepancies.filter((d) => d.kind === 'MISSING_MINT')).toHaveLength(6);
    expect(one.discrepancies.filter((d) => d.kind === 'MISSING_BANK_CREDIT')).toHaveLength(6);

    // Both daemons of the second run consumed messages.
    const [a, b] = two.h.daemons.map((d) => d.stats.messages.ledger + d.stats.messages.chain);
    expect(a).toBeGreaterThan(0);
    expect(b).toBeGreaterThan(0);
  }, 180_000);
});
