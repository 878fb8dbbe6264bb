import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { createPublicClient, custom, encodeFunctionData, toHex, type Address } from 'viem';
import { describe, expect, it } from 'vitest';
import { chainSchema, type TokenConfig } from '../../src/config/schema.js';
import type { ChainEvent, ChainRetraction } from '../../src/domain/types.js';
import { decodeChainEvents, decodeChainRetraction } from '../../src/streams/chain/chainEventCodec.js';
import { chainIngester, type ChainIngester } from '../../src/streams/chain/chainIngester.js';
import { checkpointKey } from '../../src/streams/chain/checkpoint.js';
import { depositTokenAbi } from '../../src/devchain/depositTokenArtifact.js';
import { useChainTestbed, type ChainScope } from '../support/chainTestbed.js';
import { deployDepositToken, mine, mint, type AnvilNode } from '../support/anvil.js';
import { waitFor as waitUntil } from '../support/waitFor.js';

const logger = pino({ level: 'silent' });
let node: AnvilNode;
let js: JetStreamClient;
let jsm: JetStreamManager;
let redis: Redis;
const { cleanups, scope } = useChainTestbed('reorg', (h) => ({ node, js, jsm, redis } = h));
type Scope = ChainScope;

function ingester(s: Scope, confirmations: number, tokens: TokenConfig[], chain: Record<string, unknown> = {}): ChainIngester {
  const ing = chainIngester({
    chain: chainSchema.parse({ chainId: node.chainId, rpcUrls: [node.rpcUrl], confirmations, pollIntervalMs: 50, ...chain }),
    tokens,
    namespace: s.namespace,
    subjectPrefix: s.chainSubjectPrefix,
    js,
    redis,
    logger,
    retry: { initialMs: 20, maxMs: 200 },
  });
  cleanups.push(() => ing.stop());
  return ing;
}

async function token(): Promise<TokenConfig> {
  const address = await deployDepositToken(node, { name: 'Deposit', symbol: 'DEP', decimals: 6 });
  return { chainId: node.chainId, address, currency: 'USD', startBlock: await head() };
}

async function readStream(s: Scope): Promise<{ events: ChainEvent[]; retractions: ChainRetraction[] }> {
  const info = await jsm.streams.info(s.chainStream);
  const events: ChainEvent[] = [];
  const retractions: ChainRetraction[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(s.chainStream, { seq });
    if (!m) continue;
    if (m.subject.endsWith('.events')) events.push(...decodeChainEvents(m.data));
    else if (m.subject.endsWith('.retract')) retractions.push(decodeChainRetraction(m.data));
  }
  return { events, retractions };
}

const waitFor = <T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000, everyMs = 50) => waitUntil<T>(what, probe, timeoutMs, everyMs);

const head = () => node.publicClient.getBlockNumber({ cacheTime: 0 });
const progressAt = (ing: ChainIngester, block: bigint) => waitFor(`progress at ${block}`, async () => (ing.lastProgress()?.blockNumber ?? -1n) >= block);
const checkpointAt = (s: Scope, t: TokenConfig, block: bigint) =>
  waitFor(`checkpoint at ${block}`, async () => BigInt((await redis.get(checkpointKey(s.namespace, node.chainId, t.address))) ?? -1) >= block);

/** A mint by the token owner, as anvil_reorg's transaction JSON (several need explicit nonces). */
const mintTx = (t: TokenConfig, to: Address, amount: bigint, nonce?: number) => ({
  from: node.accounts[0],
  to: t.address,
  data: encodeFunctionData({ abi: depositTokenAbi, functionName: 'mint', args: [to, amount] }),
  // Explicit gas: anvil estimates against the pre-reorg state, where storage slots may differ.
  gas: toHex(200_000),
  ...(nonce === undefined ? {} : { nonce: toHex(nonce) }),
});

/** anvil_reorg: replaces the last `depth` blocks; each [tx, i] goes into the i-th new block. */
async function reorg(depth: number, txs: [ReturnType<typeof mintTx>, number][]): Promise<void> {
  await node.testClient.request({ method: 'anvil_reorg', params: [depth, txs] } as never);
}

/** Events the node has now for `t`, as (value, eventId). */
async function canonical(t: TokenConfig): Promise<string[]> {
  const logs = await node.publicClient.getLogs({ address: t.address as Address, fromBlock: t.startBlock, toBlock: await head() });
  return logs.map((l) => `${node.chainId}:${l.blockHash}:${l.logIndex}`);
}

describe('chain reorgs', () => {
  it('absorbs a reorg within the confirmation depth: the orphaned event is never published, nothing is retracted', async () => {
    const s = await scope();
    const t = await token();
    const alice = node.accounts[1] as Address;
    const ing = ingester(s, 3, [t]);
    await ing.start();
    await mint(node, t.address as Address, alice, 1n);
    await mine(node, 3);
    await progressAt(ing, (await head()) - 3n);
    await mint(node, t.address as Address, alice, 2n); // at the head: not final
    const h = await head();
    await new Promise((r) => setTimeout(r, 200)); // several polls see it unconfirmed
    await reorg(2, [[mintTx(t, alice, 22n), 1]]);
    expect(await head()).toBe(h);
    await mine(node, 3);
    await progressAt(ing, h);

    const { events, retractions } = await readStream(s);
    expect(events.map((e) => e.value)).toEqual([1n, 22n]);
    expect(retractions).toEqual([]);
    expect(events.map((e) => e.eventId)).toEqual(await canonical(t));
  });

  it('retracts the events of blocks orphaned by a reorg deeper than the depth, rewinds, and re-publishes the re-mined events with new ids', async () => {
    const s = await scope();
    const t = await token();
    const alice = node.accounts[1] as Address;
    const bob = node.accounts[2] as Address;
    const ing = ingester(s, 1, [t]);
    await ing.start();
    await mint(node, t.address as Address, alice, 1n);
    await mint(node, t.address as Address, alice, 2n);
    await mint(node, t.address as Address, bob, 3n);
    await mine(node, 1);
    const final = (await head()) - 1n;
    await checkpointAt(s, t, final);
    const before = await readStream(s);
    expect(before.events.map((e) => e.value)).toEqual([1n, 2n, 3n]);
    const orphaned = before.events.filter((e) => e.value !== 1n);

    // Replace the last 3 blocks (the mints of 2 and 3, and the empty block after them): 2 final
    // blocks with events are orphaned. The new chain mines 20 and 30 instead.
    const nonce = await node.publicClient.getTransactionCount({ address: node.accounts[0]!, blockNumber: (await head()) - 3n });
    await reorg(3, [
      [mintTx(t, alice, 20n, nonce), 0],
      [mintTx(t, bob, 30n, nonce + 1), 2],
    ]);
    await mine(node, 1);
    await checkpointAt(s, t, (await head()) - 1n);
    await waitFor('the re-mined events', async () => (await readStream(s)).events.length === 5);

    const { events, retractions } = await readStream(s);
    // Exactly the orphaned blocks' events are retracted, one message per block, in block order.
    expect(retractions.map((r) => [r.blockNumber, r.blockHash, r.eventIds])).toEqual(orphaned.map((e) => [e.blockNumber, e.blockHash, [e.eventId]]));
    expect(events.map((e) => e.value)).toEqual([1n, 2n, 3n, 20n, 30n]);
    // What is published and not retracted is exactly the canonical chain.
    const retracted = new Set(retractions.flatMap((r) => r.eventIds));
    expect(events.filter((e) => !retracted.has(e.eventId)).map((e) => e.eventId)).toEqual(await canonical(t));
    // Retraction ids are deterministic: publishing one again is a duplicate.
    const r0 = retractions[0]!;
    const ack = await js.publish(`${s.chainSubjectPrefix}.${node.chainId}.retract`, new Uint8Array([1]), { msgID: `retract:${node.chainId}:${r0.blockHash}` });
    expect(ack.duplicate).toBe(true);
  });

  it('finds a reorg deeper than the depth while backfilling by ranges read ahead: the next range no longer links to the stored block', async () => {
    const s = await scope();
    const t = await token();
    const alice = node.accounts[1] as Address;
    // Ranges only (no block-by-block tip zone), 2 blocks each, several read ahead.
    const ing = ingester(s, 0, [t], { tipBlocks: 0, maxBlockRange: 2 });
    await ing.start();
    for (let i = 1n; i <= 4n; i++) await mint(node, t.address as Address, alice, i);
    await checkpointAt(s, t, await head());
    await ing.stop(); // the reorg happens while it is down; it comes back to a chain that forked below its checkpoint
    const before = await readStream(s);
    expect(before.events.map((e) => e.value)).toEqual([1n, 2n, 3n, 4n]);
    const orphaned = before.events.filter((e) => e.value >= 3n);

    const nonce = await node.publicClient.getTransactionCount({ address: node.accounts[0]!, blockNumber: (await head()) - 2n });
    await reorg(2, [[mintTx(t, alice, 30n, nonce), 1]]);
    await mine(node, 5);
    const again = ingester(s, 0, [t], { tipBlocks: 0, maxBlockRange: 2 });
    await again.start();
    await checkpointAt(s, t, await head());
    await waitFor('the re-mined event', async () => (await readStream(s)).events.length === 5);

    const { events, retractions } = await readStream(s);
    expect(retractions.map((r) => [r.blockNumber, r.blockHash, r.eventIds])).toEqual(orphaned.map((e) => [e.blockNumber, e.blockHash, [e.eventId]]));
    expect(events.map((e) => e.value)).toEqual([1n, 2n, 3n, 4n, 30n]);
    const retracted = new Set(retractions.flatMap((r) => r.eventIds));
    expect(events.filter((e) => !retracted.has(e.eventId)).map((e) => e.eventId)).toEqual(await canonical(t));
  });

  it('trusts no range read while the chain reorganised under it: the anchor block changed, so the range is read again from the new chain, nothing is retracted', async () => {
    const s = await scope();
    const t = await token();
    const alice = node.accounts[1] as Address;
    for (let i = 1n; i <= 4n; i++) await mint(node, t.address as Address, alice, i);
    await mine(node, 4);
    const nonce = await node.publicClient.getTransactionCount({ address: node.accounts[0]!, blockNumber: t.startBlock });
    // The node answers the first range's eth_getLogs (8 blocks: the four mints take their times from
    // the logs, no header is read after them) from the old chain, then replaces all eight blocks
    // before the answer arrives: the logs are of a chain that is gone by the time the range would
    // be published, and nothing in the range itself shows it.
    let reorganised = false;
    const client = createPublicClient({
      transport: custom({
        request: async ({ method, params }: { method: string; params: unknown }) => {
          const out = await node.publicClient.request({ method, params } as never);
          if (method === 'eth_getLogs' && !reorganised && 'fromBlock' in (params as [Record<string, unknown>])[0]) {
            reorganised = true;
            await reorg(8, [
              [mintTx(t, alice, 10n, nonce), 0],
              [mintTx(t, alice, 20n, nonce + 1), 2],
            ]);
          }
          return out;
        },
      }),
    });
    const ing = chainIngester({
      chain: chainSchema.parse({ chainId: node.chainId, rpcUrls: [node.rpcUrl], confirmations: 0, pollIntervalMs: 50, tipBlocks: 0, maxBlockRange: 8 }),
      tokens: [t],
      namespace: s.namespace,
      subjectPrefix: s.chainSubjectPrefix,
      js,
      redis,
      logger,
      client,
      retry: { initialMs: 20, maxMs: 200 },
    });
    cleanups.push(() => ing.stop());
    await ing.start();
    await waitFor('the reorganisation', () => reorganised);
    await checkpointAt(s, t, await head());
    await ing.stop();

    const { events, retractions } = await readStream(s);
    expect(retractions).toEqual([]);
    expect(events.map((e) => e.value)).toEqual([10n, 20n]);
    expect(events.map((e) => e.eventId)).toEqual(await canonical(t));
  });

  it('waits while the head is behind what it processed (rollback, or a lagging node) and retracts once the new chain passes it', async () => {
    const s = await scope();
    const t = await token();
    const alice = node.accounts[1] as Address;
    const ing = ingester(s, 0, [t]);
    await ing.start();
    await mint(node, t.address as Address, alice, 1n);
    await mint(node, t.address as Address, alice, 2n);
    await mint(node, t.address as Address, alice, 3n);
    const top = await head();
    await checkpointAt(s, t, top);

    await node.testClient.request({ method: 'anvil_rollback', params: [2] } as never);
    expect(await head()).toBe(top - 2n);
    await new Promise((r) => setTimeout(r, 300)); // several polls with the head behind us
    expect((await readStream(s)).retractions).toEqual([]);
    expect(BigInt((await redis.get(checkpointKey(s.namespace, node.chainId, t.address)))!)).toBe(top);

    await mint(node, t.address as Address, alice, 40n);
    await mine(node, 2); // now past the old top
    await checkpointAt(s, t, top + 1n);
    await waitFor('the re-mined event', async () => (await readStream(s)).events.some((e) => e.value === 40n));
    const { events, retractions } = await readStream(s);
    expect(retractions.flatMap((r) => r.eventIds)).toEqual(events.filter((e) => e.value === 2n || e.value === 3n).map((e) => e.eventId));
    const retracted = new Set(retractions.flatMap((r) => r.eventIds));
    expect(events.filter((e) => !retracted.has(e.eventId)).map((e) => e.value)).toEqual([1n, 40n]);
    expect(events.filter((e) => !retracted.has(e.eventId)).map((e) => e.eventId)).toEqual(await canonical(t));
  });
});
