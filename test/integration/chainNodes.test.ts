import { Writable } from 'node:stream';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import type { Address } from 'viem';
import { describe, expect, it } from 'vitest';
import { chainSchema, type TokenConfig } from '../../src/config/schema.js';
import type { ChainEvent } from '../../src/domain/types.js';
import { decodeChainEvents } from '../../src/streams/chain/chainEventCodec.js';
import { chainIngester, type ChainIngester } from '../../src/streams/chain/chainIngester.js';
import { checkpointKey } from '../../src/streams/chain/checkpoint.js';
import { depositTokenAbi } from '../../src/devchain/depositTokenArtifact.js';
import { useChainTestbed, type ChainScope } from '../support/chainTestbed.js';
import { deployDepositToken, type AnvilNode } from '../support/anvil.js';
import { startRpcProxy, startTcpProxy } from '../support/rpcProxy.js';
import { waitFor as waitUntil } from '../support/waitFor.js';

const silent = pino({ level: 'silent' });
let node: AnvilNode;
let js: JetStreamClient;
let jsm: JetStreamManager;
let redis: Redis;
const { cleanups, scope } = useChainTestbed('nodes', (h) => ({ node, js, jsm, redis } = h));
type Scope = ChainScope;

function ingester(s: Scope, chain: Record<string, unknown>, tokens: TokenConfig[], logger: Logger = silent): ChainIngester {
  const ing = chainIngester({
    chain: chainSchema.parse({ chainId: node.chainId, rpcUrls: [node.rpcUrl], confirmations: 0, pollIntervalMs: 50, ...chain }),
    tokens,
    namespace: s.namespace,
    subjectPrefix: s.chainSubjectPrefix,
    js,
    redis,
    logger,
    retry: { initialMs: 10, maxMs: 100 },
  });
  cleanups.push(() => ing.stop());
  return ing;
}

const head = () => node.publicClient.getBlockNumber({ cacheTime: 0 });

async function mint(address: Address, amount: bigint): Promise<void> {
  const hash = await node.walletClient.writeContract({ address, abi: depositTokenAbi, functionName: 'mint', args: [node.accounts[1] as Address, amount] });
  await node.publicClient.waitForTransactionReceipt({ hash, pollingInterval: 20 });
}

async function tokenWithMints(n: number): Promise<TokenConfig> {
  const address = await deployDepositToken(node, { name: 'Deposit', symbol: 'DEP', decimals: 6 });
  const startBlock = await head();
  for (let i = 1; i <= n; i++) await mint(address, BigInt(i));
  return { chainId: node.chainId, address, currency: 'USD', startBlock };
}

async function streamMessages(s: Scope): Promise<{ subject: string; data: Uint8Array }[]> {
  const info = await jsm.streams.info(s.chainStream);
  const out: { subject: string; data: Uint8Array }[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(s.chainStream, { seq }).catch(() => null);
    if (m) out.push({ subject: m.subject, data: m.data });
  }
  return out;
}

async function readEvents(s: Scope): Promise<ChainEvent[]> {
  return (await streamMessages(s)).filter((m) => m.subject.endsWith('.events')).flatMap((m) => decodeChainEvents(m.data));
}

const waitFor = <T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 30_000, everyMs = 50) => waitUntil<T>(what, probe, timeoutMs, everyMs);

async function canonical(t: TokenConfig): Promise<string[]> {
  const logs = await node.publicClient.getLogs({ address: t.address as Address, fromBlock: t.startBlock, toBlock: await head() });
  return logs.map((l) => `${node.chainId}:${l.blockHash}:${l.logIndex}`);
}

/** Mints one token unit and resolves with the milliseconds until its event is in the stream. */
async function mintAndTimeDelivery(s: Scope, t: TokenConfig): Promise<number> {
  const before = (await readEvents(s)).length;
  const sentAt = Date.now();
  await mint(t.address as Address, 1n);
  await waitFor('the mint to be published', async () => (await readEvents(s)).length > before, 20_000, 20);
  return Date.now() - sentAt;
}

describe('chain ingestion across nodes', () => {
  it('wakes on a websocket newHeads at once, keeps polling while the socket is down, and resubscribes when it returns', async () => {
    const s = await scope();
    const t = await tokenWithMints(2);
    const ws = await startTcpProxy(Number(new URL(node.rpcUrl).port));
    cleanups.push(() => ws.close());
    // A poll every 5 s: a mint published within 2 s was announced by the socket.
    const ing = ingester(s, { pollIntervalMs: 5_000, wsUrls: [`ws://127.0.0.1:${ws.port}`] }, [t]);
    await ing.start();
    const target = await head();
    await waitFor('the backlog', async () => (ing.lastProgress()?.blockNumber ?? -1n) >= target);
    await waitFor('the subscription', async () => ws.accepted >= 1);

    for (let i = 0; i < 3; i++) expect(await mintAndTimeDelivery(s, t)).toBeLessThan(2_000);

    // Socket gone (and refused on reconnect): the poll still delivers.
    await ws.kill();
    const accepted = ws.accepted;
    expect(await mintAndTimeDelivery(s, t)).toBeLessThan(15_000);

    // Back: it reconnects on its own (backoff) and heads wake the poller again.
    await ws.revive();
    await waitFor('the reconnect', async () => ws.accepted > accepted, 10_000);
    expect(await mintAndTimeDelivery(s, t)).toBeLessThan(2_000);

    const events = await readEvents(s);
    expect(events.map((e) => e.eventId)).toEqual(await canonical(t));
  });

  it('treats a lagging RPC node in the rotation as lagging: no retraction, no lost or duplicated event, checkpoint never backwards', async () => {
    const s = await scope();
    const t = await tokenWithMints(12);
    // The stale node comes first and drops a share of requests, the fresh one drops some too, so
    // consecutive calls land on either: heads, headers and logs from two views of the chain.
    const stale = await startRpcProxy(node.rpcUrl, { lagBlocks: 3, dropRate: 0.3, maxFaults: 1_000_000, seed: 3 });
    const fresh = await startRpcProxy(node.rpcUrl, { dropRate: 0.2, maxFaults: 1_000_000, seed: 5 });
    cleanups.push(
      () => stale.close(),
      () => fresh.close(),
    );
    const lines: string[] = [];
    const logger = pino(
      { level: 'warn' },
      new Writable({
        write(chunk, _enc, cb) {
          lines.push(String(chunk));
          cb();
        },
      }),
    );
    const ing = ingester(s, { rpcUrls: [stale.url, fresh.url], tipBlocks: 4, maxBlockRange: 5, rpcTimeoutMs: 2_000, rpcRetries: 8 }, [t], logger);

    const checkpoints: bigint[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const v = await redis.get(checkpointKey(s.namespace, node.chainId, t.address));
        if (v !== null && checkpoints.at(-1) !== BigInt(v)) checkpoints.push(BigInt(v));
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    cleanups.push(async () => {
      watching = false;
      await watcher;
    });

    await ing.start();
    // The head keeps moving while it follows block by block.
    for (let i = 0; i < 10; i++) await mint(t.address as Address, 100n + BigInt(i));
    const target = await head();
    await waitFor('the head', async () => (ing.lastProgress()?.blockNumber ?? -1n) >= target);
    // The checkpoint moves just after the progress is acked.
    await waitFor('the checkpoint at the head', () => checkpoints.at(-1) === target);
    watching = false;
    await watcher;

    expect(stale.stats.stale).toBeGreaterThan(0);
    expect(stale.stats.forwarded).toBeGreaterThan(0);
    expect(fresh.stats.forwarded).toBeGreaterThan(0);
    const messages = await streamMessages(s);
    expect(messages.filter((m) => m.subject.endsWith('.retract'))).toEqual([]);
    expect(lines.filter((l) => /reorg/i.test(l))).toEqual([]);
    const events = await readEvents(s);
    const ids = events.map((e) => e.eventId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(await canonical(t));
    expect(checkpoints.length).toBeGreaterThan(1);
    for (let i = 1; i < checkpoints.length; i++) expect(checkpoints[i]!).toBeGreaterThan(checkpoints[i - 1]!);
    expect(checkpoints.at(-1)).toBe(target);
  });

  it('backfills deep ranges with block times from the logs when the node gives them, from headers when it does not, to the same events', async () => {
    const t = await tokenWithMints(12);
    const target = await head();
    const run = async (stripLogTimestamps: boolean) => {
      const s = await scope();
      const proxy = await startRpcProxy(node.rpcUrl, { stripLogTimestamps });
      cleanups.push(() => proxy.close());
      // Ranges only (tipBlocks 0), three blocks at a time: every block with logs is deep history.
      const ing = ingester(s, { rpcUrls: [proxy.url], tipBlocks: 0, maxBlockRange: 3 }, [t]);
      await ing.start();
      await waitFor('the head', async () => (ing.lastProgress()?.blockNumber ?? -1n) >= target);
      await ing.stop();
      const headerReads = proxy.calls.filter((c) => c.method === 'eth_getBlockByNumber').map((c) => BigInt((c.params as string[])[0]!));
      return { events: await readEvents(s), headerReads: new Set(headerReads) };
    };
    const withTimes = await run(false);
    const withoutTimes = await run(true);
    expect(withTimes.events).toEqual(withoutTimes.events);
    expect(withTimes.events.map((e) => e.eventId)).toEqual(await canonical(t));
    for (const e of withTimes.events) {
      const b = await node.publicClient.getBlock({ blockNumber: e.blockNumber });
      expect(e.blockTime).toBe(Number(b.timestamp) * 1_000);
    }
    // Without times in the logs every block with logs had its header read; with them, only the
    // blocks that end a range (hash checks, parent links) and the progress block.
    const blocksWithLogs = new Set(withTimes.events.map((e) => e.blockNumber));
    for (const n of blocksWithLogs) expect(withoutTimes.headerReads.has(n)).toBe(true);
    const skipped = [...blocksWithLogs].filter((n) => !withTimes.headerReads.has(n));
    expect(skipped.length).toBeGreaterThan(0);
  });
});
