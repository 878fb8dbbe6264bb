import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { Address } from 'viem';
import { queryRows } from '../../src/sinks/clickhouse/queries.js';
import { decodeChainEvents } from '../../src/streams/chain/chainEventCodec.js';
import { depositTokenAbi } from '../../src/devchain/depositTokenArtifact.js';
import { randomWallet, startHarness, type Harness } from '../support/harness.js';

/**
 * The ingester publishes one `.events` message per block. A block of many token events (one
 * mintBatch) must reach the matcher as one message and still be matched event by event: every
 * mapped mint matched, the one unmapped recipient rejected alone (unmappedPolicy `reject`), and a
 * replay of the whole message changes nothing.
 */
describe('chain events batched per block, end to end', () => {
  let h: Harness;
  let jsm: JetStreamManager;
  const n = 6;
  const wallets = Array.from({ length: n }, () => randomWallet());
  const unmapped = randomWallet();
  const acct = (i: number) => `ACC-batch-${i}`;
  let blockHash = '';

  beforeAll(async () => {
    h = await startHarness({
      accounts: wallets.map((w, i) => ({ accountId: acct(i), wallets: [w] })),
      config: { matching: { windowMs: 60_000, allowedLatenessMs: 1_000, ledgerIdleMs: 2_000, sweepIntervalMs: 250, lateRetentionMs: 3_600_000, unmappedPolicy: 'reject' } },
    });
    jsm = await jetstreamManager(h.nc);
    for (let i = 0; i < n; i++) await h.posting({ entryId: `batch-${i}`, accountId: acct(i), amountMinor: 1_000n + BigInt(i) });
    const recipients = [...wallets, unmapped] as Address[];
    const amounts = [...wallets.map((_, i) => h.usd(1_000n + BigInt(i))), h.usd(77n)];
    const tx = await h.anvil.walletClient.writeContract({ address: h.token, abi: depositTokenAbi, functionName: 'mintBatch', args: [recipients, amounts] });
    const receipt = await h.anvil.publicClient.waitForTransactionReceipt({ hash: tx, pollingInterval: 50 });
    expect(receipt.status).toBe('success');
    blockHash = receipt.blockHash.toLowerCase();
    await h.waitFor('every mapped mint matched', async () => (await h.matches()).filter((m) => m.account_id.startsWith('ACC-batch-') && m.status === 'matched').length === n);
  }, 60_000);

  afterAll(async () => {
    await h?.stop();
  });

  /** Whether the matcher acked everything up to `seq` of the CHAIN stream (acks follow durability). */
  const ackedUpTo = async (seq: number) => (await jsm.consumers.info(h.config.nats.chainStream, h.config.nats.consumerName)).ack_floor.stream_seq >= seq;
  const deadLetters = () => queryRows<{ reason_code: string; reason: string }>(h.ch.client, `SELECT reason_code, reason FROM ${h.ch.database}.dead_letters FINAL WHERE source = 'chain'`);
  const eventsOfBlock = async () => Number((await queryRows<{ n: string }>(h.ch.client, `SELECT count() AS n FROM ${h.ch.database}.chain_events FINAL WHERE block_hash = '${blockHash}'`))[0]!.n);

  it('publishes the block as one message of all its events, in log order, with id chainId:blockHash', async () => {
    const info = await jsm.streams.info(h.config.nats.chainStream);
    const found: { events: number; msgId: string | undefined; order: number[] }[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(h.config.nats.chainStream, { seq }).catch(() => null);
      if (!m?.subject.endsWith('.events')) continue;
      const events = decodeChainEvents(m.data);
      if (events[0]?.blockHash === blockHash) found.push({ events: events.length, msgId: m.header?.get('Nats-Msg-Id'), order: events.map((e) => e.logIndex) });
    }
    expect(found).toHaveLength(1);
    expect(found[0]!.events).toBe(n + 1);
    expect(found[0]!.msgId).toBe(`${h.anvil.chainId}:${blockHash}`);
    expect(found[0]!.order).toEqual([...found[0]!.order].sort((a, b) => a - b));
  });

  it('matches every mapped event of the block and dead-letters the message for the one rejected event only', async () => {
    expect(await eventsOfBlock()).toBe(n);
    const dl = await h.waitFor('the dead letter', async () => {
      const rows = await deadLetters();
      return rows.length > 0 && rows;
    });
    expect(dl).toHaveLength(1);
    expect(dl[0]!.reason_code).toBe('UNMAPPED_IDENTITY');
    expect(dl[0]!.reason).toContain(`1 of ${n + 1} events rejected`);
    expect(dl[0]!.reason).toContain(`${h.anvil.chainId}:${blockHash}:`);
    expect((await h.discrepancies()).filter((d) => d.account_id.startsWith('ACC-batch-'))).toEqual([]);
  });

  it('changes nothing when the whole block message is replayed', async () => {
    const info = await jsm.streams.info(h.config.nats.chainStream);
    let data: Uint8Array | null = null;
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && !data; seq++) {
      const m = await jsm.streams.getMessage(h.config.nats.chainStream, { seq }).catch(() => null);
      if (m?.subject.endsWith('.events') && decodeChainEvents(m.data)[0]?.blockHash === blockHash) data = m.data;
    }
    const before = await h.matches();
    // Another message id: JetStream stores it, so the matcher sees every event a second time.
    const ack = await h.js.publish(`${h.config.nats.chainSubjectPrefix}.${h.anvil.chainId}.events`, data!, { msgID: `replay:${blockHash}` });
    await h.waitFor('the replay durable and acked', () => ackedUpTo(ack.seq));
    expect(await eventsOfBlock()).toBe(n);
    expect(await h.matches()).toEqual(before);
    expect(await deadLetters()).toHaveLength(2); // the replay's own message, for the same rejected event
    expect((await h.discrepancies()).filter((d) => d.account_id.startsWith('ACC-batch-'))).toEqual([]);
  });
});
