import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Address } from 'viem';
import { queryRows } from '../../src/sinks/clickhouse/queries.js';
import { depositTokenAbi } from '../../src/devchain/depositTokenArtifact.js';
import { streamPartitions } from '../../src/streams/partitions.js';
import { natsCluster, type NatsCluster } from '../support/natsCluster.js';
import { randomWallet, startHarness, type Harness } from '../support/harness.js';

const DEPOSITS = 30;
/** Deposit i: every 10th has no mint (MISSING_MINT), every 10th + 5 no credit (MISSING_BANK_CREDIT). */
const hasCredit = (i: number) => i % 10 !== 5;
const hasMint = (i: number) => i % 10 !== 0;

/**
 * Two workers on a 3-node JetStream cluster, the ledger and chain streams split into two
 * partitions (a worker bound to each; every stream with 3 replicas, the fact log's too: sink.mode
 * log): the node leading partition 0's ledger stream is killed with SIGKILL halfway through the
 * traffic. Its clients reconnect to the others, the stream elects a new leader, and the results
 * are those of a single server: every match and discrepancy once, nothing lost, nothing written
 * twice. (A leg delayed past its window by the
 * election may open a MISSING_* that its late counterpart then resolves: what stays open is exact.)
 */
describe('drill: a NATS node killed under traffic on a clustered JetStream', () => {
  let cluster: NatsCluster;
  let h: Harness;
  const wallets: Address[] = Array.from({ length: DEPOSITS }, () => randomWallet());

  beforeAll(async () => {
    cluster = await natsCluster(3);
    h = await startHarness({
      accounts: wallets.map((w, i) => ({ accountId: `ACC-${i}`, wallets: [w] })),
      config: { nats: { servers: cluster.servers, replicas: 3, ackWaitMs: 5_000 } },
      // A fleet's mode: the facts are durable in the replicated FACTS stream, loaded from it.
      sinkMode: 'log',
      partitions: 2,
    });
  }, 120_000);

  afterAll(async () => {
    await h?.stop();
    await cluster?.dispose();
  });

  /** Publishes until JetStream acks it (a leader election refuses publishes for a moment); the message id keeps it single. */
  const posting = async (i: number) => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await h.posting({ entryId: `E-${i}`, accountId: `ACC-${i}`, amountMinor: BigInt(10_000 + i) });
      } catch (e) {
        if (attempt >= 60) throw e;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  };

  it("keeps every match and discrepancy, once, across the loss of a ledger partition's leader", async () => {
    const jsm = await jetstreamManager(h.nc);
    const parts = streamPartitions(h.config.nats);
    for (const p of parts) for (const s of [p.ledgerStream, p.chainStream]) expect((await jsm.streams.info(s)).config.num_replicas, s).toBe(3);
    const ledger = await jsm.streams.info(parts[0]!.ledgerStream);
    expect(ledger.config.num_replicas).toBe(3);
    expect(ledger.cluster?.replicas?.length).toBe(2);
    const leaderIndex = Number(ledger.cluster!.leader!.slice(1)) - 1;
    expect((await jsm.streams.info(h.config.sink.log.stream)).config.num_replicas).toBe(3);

    for (let i = 0; i < DEPOSITS; i++) {
      if (i === DEPOSITS / 2) await cluster.nodes[leaderIndex]!.kill('SIGKILL');
      if (hasCredit(i)) await posting(i);
      // Sent without waiting for each receipt (anvil mines a block a second).
      if (hasMint(i)) {
        await h.anvil.walletClient.writeContract({ address: h.token, abi: depositTokenAbi, functionName: 'mint', args: [wallets[i]!, h.usd(BigInt(10_000 + i))] });
      }
    }
    const expectedMatches = Array.from({ length: DEPOSITS }, (_, i) => i).filter((i) => hasCredit(i) && hasMint(i)).length;
    await h.waitFor(
      'every match and discrepancy',
      async () => {
        const [m, d] = [await h.matches(), await h.discrepancies()];
        return m.length === expectedMatches && d.filter((x) => x.status === 'open').length === DEPOSITS - expectedMatches;
      },
      90_000,
    );

    const after = await jsm.streams.info(parts[0]!.ledgerStream);
    expect(after.cluster!.leader).not.toBe(ledger.cluster!.leader);
    const db = h.ch.database;
    const kinds = await queryRows<{ kind: string; n: string }>(h.ch.client, `SELECT kind, count() AS n FROM ${db}.discrepancies_current WHERE status = 'open' GROUP BY kind ORDER BY kind`);
    expect(kinds).toEqual([
      { kind: 'MISSING_BANK_CREDIT', n: String(DEPOSITS / 10) },
      { kind: 'MISSING_MINT', n: String(DEPOSITS / 10) },
    ]);
    // Every fact once: raw rows equal FINAL rows in every table the traffic touched.
    for (const table of ['ledger_entries', 'chain_events', 'matches', 'discrepancy_events']) {
      const [c] = await queryRows<{ raw: string; final: string }>(h.ch.client, `SELECT (SELECT count() FROM ${db}.${table}) AS raw, (SELECT count() FROM ${db}.${table} FINAL) AS final`);
      expect(c!.raw, table).toBe(c!.final);
    }
    const [entries] = await queryRows<{ n: string }>(h.ch.client, `SELECT count() AS n FROM ${db}.ledger_entries FINAL`);
    expect(Number(entries!.n)).toBe(Array.from({ length: DEPOSITS }, (_, i) => i).filter(hasCredit).length);
  }, 180_000);
});
