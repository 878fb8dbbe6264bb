import { randomBytes } from 'node:crypto';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import type { Address, PublicClient } from 'viem';
import { describe, expect, it, vi } from 'vitest';
import { chainSchema, type ChainConfig, type TokenConfig } from '../../src/config/schema.js';
import type { ChainEvent, ChainProgress } from '../../src/domain/types.js';
import { chainEventMessages, decodeChainEvents, decodeChainProgress } from '../../src/streams/chain/chainEventCodec.js';
import { chainIngester, ensureChainStream, type ChainIngester } from '../../src/streams/chain/chainIngester.js';
import { checkpointKey } from '../../src/streams/chain/checkpoint.js';
import { leaderLease } from '../../src/streams/chain/leaderLease.js';
import { useChainTestbed, type ChainScope } from '../support/chainTestbed.js';
import { burn, deployDepositToken, mine, mint, mintWithReference, startAnvil, transfer, type AnvilNode } from '../support/anvil.js';
import { depositTokenAbi } from '../../src/devchain/depositTokenArtifact.js';
import { decodeChainStall } from '../../src/streams/chain/chainEventCodec.js';
import { stringToHex } from 'viem';
import { waitFor as waitUntil } from '../support/waitFor.js';

/**
 * Spies on `client.request` and records the eth_getLogs range calls (the ingester sends them
 * straight as JSON-RPC), with their block numbers; `fake` may answer a call instead of the node.
 */
function spyGetLogs(client: PublicClient, fake?: (c: GetLogsCall, real: () => Promise<unknown>) => Promise<unknown>) {
  const real = client.request.bind(client) as (args: unknown) => Promise<unknown>;
  const calls: GetLogsCall[] = [];
  const spy = vi.spyOn(client, 'request').mockImplementation((async (args: { method: string; params?: unknown[] }) => {
    const p = args.method === 'eth_getLogs' ? (args.params?.[0] as { address: string[]; fromBlock?: string; toBlock?: string }) : undefined;
    if (p?.fromBlock && p.toBlock) {
      const c = { address: p.address, fromBlock: BigInt(p.fromBlock), toBlock: BigInt(p.toBlock) };
      calls.push(c);
      if (fake) return fake(c, () => real(args));
    }
    return real(args);
  }) as never);
  return { calls, restore: () => spy.mockRestore() };
}
type GetLogsCall = { address: string[]; fromBlock: bigint; toBlock: bigint };

/** `js` whose first `.progress` publish is held for `ms` (a slow JetStream ack); `onRelease` runs as it goes on. */
function holdFirstProgress(js: JetStreamClient, ms: number, onRelease: () => void = () => undefined): JetStreamClient {
  let held = false;
  return new Proxy(js, {
    get(target, prop, receiver) {
      if (prop !== 'publish') return Reflect.get(target, prop, receiver);
      return async (...args: Parameters<JetStreamClient['publish']>) => {
        if (!held && args[0].endsWith('.progress')) {
          held = true;
          await new Promise((r) => setTimeout(r, ms));
          onRelease();
        }
        return target.publish(...args);
      };
    },
  });
}

const logger = pino({ level: 'silent' });
const E18 = 10n ** 18n;
const E6 = 10n ** 6n;

let node: AnvilNode;
let js: JetStreamClient;
let jsm: JetStreamManager;
let redis: Redis;
const { cleanups, scope } = useChainTestbed('chain', (h) => ({ node, js, jsm, redis } = h));
type Scope = ChainScope;

function ingester(
  s: Scope,
  chain: Partial<ChainConfig> & Record<string, unknown>,
  tokens: TokenConfig[],
  extra: { workerId?: string; client?: AnvilNode['publicClient']; maxEventsPerMessage?: number; readAhead?: number } = {},
  on: AnvilNode = node,
): ChainIngester {
  const ing = chainIngester({
    chain: chainSchema.parse({ chainId: on.chainId, rpcUrls: [on.rpcUrl], confirmations: 0, pollIntervalMs: 50, maxBlockRange: 1_000, ...chain }),
    tokens,
    namespace: s.namespace,
    subjectPrefix: s.chainSubjectPrefix,
    js,
    redis,
    logger,
    retry: { initialMs: 20, maxMs: 200 },
    ...extra,
  });
  cleanups.push(() => ing.stop());
  return ing;
}

async function token(decimals: number, on: AnvilNode = node): Promise<TokenConfig> {
  const address = await deployDepositToken(on, { name: `Deposit ${decimals}`, symbol: `D${decimals}`, decimals });
  const startBlock = await on.publicClient.getBlockNumber({ cacheTime: 0 });
  return { chainId: on.chainId, address, currency: 'USD', startBlock };
}

async function readStream(s: Scope): Promise<{ events: ChainEvent[]; progress: ChainProgress[]; stalls: ReturnType<typeof decodeChainStall>[] }> {
  const info = await jsm.streams.info(s.chainStream);
  const events: ChainEvent[] = [];
  const progress: ChainProgress[] = [];
  const stalls: ReturnType<typeof decodeChainStall>[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(s.chainStream, { seq });
    if (!m) continue;
    if (m.subject.endsWith('.events')) events.push(...decodeChainEvents(m.data));
    else if (m.subject.endsWith('.progress')) progress.push(decodeChainProgress(m.data));
    else if (m.subject.endsWith('.stall')) stalls.push(decodeChainStall(m.data));
  }
  return { events, progress, stalls };
}

const waitFor = <T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000, everyMs = 50) => waitUntil<T>(what, probe, timeoutMs, everyMs);

const head = () => node.publicClient.getBlockNumber({ cacheTime: 0 });
const progressAt = (ing: ChainIngester, block: bigint) => waitFor(`progress at ${block}`, async () => (ing.lastProgress()?.blockNumber ?? -1n) >= block);

describe('chainIngester', () => {
  it('creates the chain stream idempotently: a second ensureChainStream changes nothing', async () => {
    const s = await scope();
    const before = await jsm.streams.info(s.chainStream);
    await ensureChainStream(jsm, { nats: s });
    const after = await jsm.streams.info(s.chainStream);
    expect(after.config).toEqual(before.config);
    expect(after.created).toEqual(before.created);
  });

  it('classifies mints, burns and transfers of an 18- and a 6-decimal token with exact values and decimals', async () => {
    const s = await scope();
    const t18 = await token(18);
    const t6 = await token(6);
    const [, alice, bob] = node.accounts as [Address, Address, Address];
    await mint(node, t18.address as Address, alice, 1_000n * E18 + 1n);
    await mint(node, t6.address as Address, bob, 500n * E6);
    await transfer(node, t18.address as Address, 1, bob, 250n * E18);
    await burn(node, t6.address as Address, bob, 123_456n);

    const ing = ingester(s, {}, [t18, t6]);
    await ing.start();
    await progressAt(ing, await head());

    const { events, progress } = await readStream(s);
    expect(events.map((e) => [e.token, e.kind, e.from, e.to, e.value, e.decimals])).toEqual([
      [t18.address, 'mint', '0x0000000000000000000000000000000000000000', alice, 1_000n * E18 + 1n, 18],
      [t6.address, 'mint', '0x0000000000000000000000000000000000000000', bob, 500n * E6, 6],
      [t18.address, 'transfer', alice, bob, 250n * E18, 18],
      [t6.address, 'burn', bob, '0x0000000000000000000000000000000000000000', 123_456n, 6],
    ]);
    for (const e of events) {
      const block = await node.publicClient.getBlock({ blockNumber: e.blockNumber });
      expect(e.blockHash).toBe(block.hash);
      expect(e.blockTime).toBe(Number(block.timestamp) * 1_000);
      expect(e.eventId).toBe(`${node.chainId}:${e.blockHash}:${e.logIndex}`);
      expect(e.chainId).toBe(node.chainId);
    }
    // The chain's progress is one per chain and never goes backwards.
    const blocks = progress.map((p) => p.blockNumber);
    expect(blocks).toEqual([...blocks].sort((a, b) => (a < b ? -1 : 1)));
    expect(blocks.at(-1)).toBe(await head());
  });

  it('publishes nothing below the confirmation depth until enough blocks are mined', async () => {
    const s = await scope();
    const t = await token(6);
    const alice = node.accounts[1] as Address;
    await mint(node, t.address as Address, alice, 1n * E6);
    const firstBlock = await head();
    await mint(node, t.address as Address, alice, 2n * E6);
    const secondBlock = await head();

    const ing = ingester(s, { confirmations: 3 }, [t]);
    await ing.start();
    await progressAt(ing, secondBlock - 3n);
    await new Promise((r) => setTimeout(r, 300)); // several polls
    expect((await readStream(s)).events).toHaveLength(0);
    expect(ing.lastProgress()?.blockNumber).toBe(secondBlock - 3n);

    await mine(node, 2); // firstBlock now has 3 confirmations, secondBlock 2
    await progressAt(ing, firstBlock);
    expect((await readStream(s)).events.map((e) => e.value)).toEqual([1n * E6]);

    await mine(node, 1);
    await progressAt(ing, secondBlock);
    const { events, progress } = await readStream(s);
    expect(events.map((e) => e.value)).toEqual([1n * E6, 2n * E6]);
    // Never ahead of head - confirmations.
    expect(progress.at(-1)?.blockNumber).toBe((await head()) - 3n);
  });

  it('resumes from the checkpoint after a restart and publishes nothing twice (and JetStream drops re-published ids)', async () => {
    const s = await scope();
    const t = await token(18);
    const alice = node.accounts[1] as Address;
    await mint(node, t.address as Address, alice, 1n);
    await mint(node, t.address as Address, alice, 2n);

    const first = ingester(s, {}, [t]);
    await first.start();
    await progressAt(first, await head());
    await first.stop();
    const checkpoint = await redis.get(checkpointKey(s.namespace, node.chainId, t.address));
    expect(BigInt(checkpoint ?? -1)).toBe(await head());
    expect((await readStream(s)).events).toHaveLength(2);

    await mint(node, t.address as Address, alice, 3n);
    const getLogs = spyGetLogs(node.publicClient);
    const second = ingester(s, { tipBlocks: 0 }, [t], { client: node.publicClient });
    await second.start();
    await progressAt(second, await head());
    await second.stop();
    // It read only what came after the checkpoint.
    expect(getLogs.calls.length).toBeGreaterThan(0);
    for (const call of getLogs.calls) expect(call.fromBlock).toBeGreaterThan(BigInt(checkpoint!));
    getLogs.restore();

    let { events } = await readStream(s);
    expect(events.map((e) => e.value)).toEqual([1n, 2n, 3n]);
    expect(new Set(events.map((e) => e.eventId)).size).toBe(3);

    // Same block's message published again: JetStream acknowledges it as a duplicate and stores nothing.
    const [again] = chainEventMessages([events[0]!]);
    expect(again!.msgID).toBe(`${node.chainId}:${events[0]!.blockHash}`);
    const ack = await js.publish(`${s.chainSubjectPrefix}.${node.chainId}.events`, again!.data, { msgID: again!.msgID });
    expect(ack.duplicate).toBe(true);

    // Even a lost checkpoint (full re-read inside the duplicate window) adds nothing.
    await redis.del(checkpointKey(s.namespace, node.chainId, t.address));
    const third = ingester(s, {}, [t]);
    await third.start();
    await progressAt(third, await head());
    await third.stop();
    ({ events } = await readStream(s));
    expect(events).toHaveLength(3);
  });

  it('publishes a block as one message of its events, and a block above maxEventsPerMessage in chunks, in log order', async () => {
    const s = await scope();
    const t = await token(6);
    const to = Array.from({ length: 5 }, (_, i) => `0x${(0xb0b0n + BigInt(i)).toString(16).padStart(40, '0')}` as Address);
    for (const n of [2, 5]) {
      const tx = await node.walletClient.writeContract({
        address: t.address as Address,
        abi: depositTokenAbi,
        functionName: 'mintBatch',
        args: [to.slice(0, n), to.slice(0, n).map((_, i) => BigInt(n * 10 + i))],
      });
      await node.publicClient.waitForTransactionReceipt({ hash: tx, pollingInterval: 50 });
    }
    const ing = ingester(s, { tipBlocks: 0 }, [t], { maxEventsPerMessage: 2 });
    await ing.start();
    await progressAt(ing, await head());
    await ing.stop();

    const info = await jsm.streams.info(s.chainStream);
    const messages: { id: string; values: bigint[] }[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(s.chainStream, { seq });
      if (m?.subject.endsWith('.events')) messages.push({ id: m.header!.get('Nats-Msg-Id'), values: decodeChainEvents(m.data).map((e) => e.value) });
    }
    const { events } = await readStream(s);
    const [small, big] = [events[0]!.blockHash, events[2]!.blockHash];
    expect(messages).toEqual([
      { id: `${node.chainId}:${small}`, values: [20n, 21n] },
      { id: `${node.chainId}:${big}:c0`, values: [50n, 51n] },
      { id: `${node.chainId}:${big}:c1`, values: [52n, 53n] },
      { id: `${node.chainId}:${big}:c2`, values: [54n] },
    ]);
  });

  it('backfills from startBlock in ranges of at most maxBlockRange blocks and gets every log', async () => {
    const s = await scope();
    const t = await token(6);
    const alice = node.accounts[1] as Address;
    for (let i = 1n; i <= 8n; i++) {
      await mint(node, t.address as Address, alice, i);
      await mine(node, Number(i % 3n)); // gaps of 0–2 empty blocks
    }
    const target = await head();

    const getLogs = spyGetLogs(node.publicClient);
    const ing = ingester(s, { maxBlockRange: 3, tipBlocks: 0 }, [t], { client: node.publicClient });
    await ing.start();
    await progressAt(ing, target);
    await ing.stop();

    // Ranges are read ahead of the one being published, several at once: their calls may interleave.
    const ranges = [...getLogs.calls].sort((a, b) => (a.fromBlock < b.fromBlock ? -1 : 1));
    getLogs.restore();
    expect(ranges.length).toBeGreaterThanOrEqual(Math.ceil(Number(target - t.startBlock) / 3));
    for (const r of ranges) expect(r.toBlock - r.fromBlock + 1n).toBeLessThanOrEqual(3n);
    // Contiguous from startBlock (inclusive): no range skipped, none read twice.
    expect(ranges[0]!.fromBlock).toBe(t.startBlock);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i]!.fromBlock).toBe(ranges[i - 1]!.toBlock + 1n);

    const { events, progress } = await readStream(s);
    expect(events.map((e) => e.value)).toEqual([1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n]);
    // Progress advances with every step, at the end of a range (ranges already read when a step
    // starts are published with it, so a step may end several ranges on), up to the target.
    const ends = new Set(ranges.map((r) => r.toBlock));
    const marks = progress.map((p) => p.blockNumber);
    for (const [i, b] of marks.entries()) {
      expect(ends.has(b)).toBe(true);
      if (i > 0) expect(b).toBeGreaterThan(marks[i - 1]!);
    }
    expect(marks.at(-1)).toBe(target);
  });

  it('stores and publishes the ranges already read with the step that reaches them: fewer progress marks than ranges, every event once, in order', async () => {
    const s = await scope();
    const t = await token(6);
    const alice = node.accounts[1] as Address;
    for (let i = 1n; i <= 6n; i++) await mint(node, t.address as Address, alice, i);
    const target = await head();
    // The first step's progress publish is held for 300 ms (a slow JetStream ack): meanwhile the
    // ranges after it are read ahead, so the next step finds them read and takes them
    // together.
    const slowFirst = holdFirstProgress(js, 300);
    const ing = chainIngester({
      chain: chainSchema.parse({ chainId: node.chainId, rpcUrls: [node.rpcUrl], confirmations: 0, pollIntervalMs: 50, maxBlockRange: 1, tipBlocks: 0 }),
      tokens: [t],
      namespace: s.namespace,
      subjectPrefix: s.chainSubjectPrefix,
      js: slowFirst,
      redis,
      logger,
      retry: { initialMs: 20, maxMs: 200 },
    });
    cleanups.push(() => ing.stop());
    await ing.start();
    await progressAt(ing, target);
    await ing.stop();

    const { events, progress } = await readStream(s);
    expect(events.map((e) => e.value)).toEqual([1n, 2n, 3n, 4n, 5n, 6n]);
    expect(new Set(events.map((e) => e.eventId)).size).toBe(6);
    const ranges = Number(target - t.startBlock) + 1; // one block each
    const marks = progress.map((p) => p.blockNumber);
    expect(marks.at(-1)).toBe(target);
    expect(marks.length).toBeLessThan(ranges);
    for (let i = 1; i < marks.length; i++) expect(marks[i]!).toBeGreaterThan(marks[i - 1]!);
  });

  it('stops reading ahead while the ranges already read hold maxEventsReadAhead events, and still publishes every event once, in order', async () => {
    const t = await token(6);
    const alice = node.accounts[1] as Address;
    const values = Array.from({ length: 20 }, (_, i) => BigInt(i + 1));
    for (const v of values) await mint(node, t.address as Address, alice, v); // one block each
    const target = await head();
    const ranges = Number(target - t.startBlock) + 1; // one block each
    // The first step's progress publish (after its events) is held for 300 ms, ample for reading
    // every range of a local node; count the ranges read by the time it goes on.
    const readBeforeFirstProgress = async (maxEventsReadAhead?: number) => {
      const s = await scope();
      let readByThen = 0;
      const getLogs = spyGetLogs(node.publicClient);
      const slowFirst = holdFirstProgress(js, 300, () => {
        readByThen = getLogs.calls.length;
      });
      const ing = chainIngester({
        chain: chainSchema.parse({ chainId: node.chainId, rpcUrls: [node.rpcUrl], confirmations: 0, pollIntervalMs: 50, maxBlockRange: 1, tipBlocks: 0 }),
        tokens: [t],
        namespace: s.namespace,
        subjectPrefix: s.chainSubjectPrefix,
        js: slowFirst,
        redis,
        logger,
        client: node.publicClient,
        readAhead: 3,
        ...(maxEventsReadAhead !== undefined && { maxEventsReadAhead }),
      });
      cleanups.push(() => ing.stop());
      await ing.start();
      await progressAt(ing, target);
      await ing.stop();
      getLogs.restore();
      const { events } = await readStream(s);
      expect(events.map((e) => e.value)).toEqual(values);
      expect(new Set(events.map((e) => e.eventId)).size).toBe(values.length);
      return readByThen;
    };
    // Unbounded (the default, 50,000 events): the first step's ranges and as many as may wait
    // (6 × readAhead) are read while it is held.
    expect(await readBeforeFirstProgress()).toBeGreaterThanOrEqual(Math.min(ranges, 1 + 6 * 3));
    // Two events: a read starts only while the ranges fetched and waiting hold fewer than two events,
    // so at most 2 + readAhead ranges with an event wait at once (and the token's first block, which
    // has none). The first step takes those, then as many wait again while it is held.
    const bounded = await readBeforeFirstProgress(2);
    expect(bounded).toBeLessThanOrEqual(1 + 2 * (2 + 3 + 1));
    expect(bounded).toBeLessThan(ranges);
  });

  it('reads ranges ahead while it publishes (several eth_getLogs in flight behind a slow RPC), and still publishes them in chain order', async () => {
    const t = await token(6);
    const alice = node.accounts[1] as Address;
    for (let i = 1n; i <= 6n; i++) {
      await mint(node, t.address as Address, alice, i);
      await mine(node, 2);
    }
    const target = await head();
    // Every eth_getLogs takes 40 ms, like a remote provider's; count how many are in flight at once.
    const inFlightPeak = async (readAhead: number) => {
      const s = await scope();
      let inFlight = 0;
      let peak = 0;
      const getLogs = spyGetLogs(node.publicClient, async (_c, real) => {
        peak = Math.max(peak, ++inFlight);
        await new Promise((r) => setTimeout(r, 40));
        try {
          return await real();
        } finally {
          inFlight--;
        }
      });
      const ing = ingester(s, { maxBlockRange: 2, tipBlocks: 0 }, [t], { client: node.publicClient, readAhead });
      await ing.start();
      await progressAt(ing, target);
      await ing.stop();
      getLogs.restore();
      const { events, progress } = await readStream(s);
      expect(events.map((e) => e.value)).toEqual([1n, 2n, 3n, 4n, 5n, 6n]);
      const published = progress.map((p) => p.blockNumber);
      expect(published).toEqual([...published].sort((a, b) => (a < b ? -1 : 1)));
      expect(published.at(-1)).toBe(target);
      return peak;
    };
    expect(await inFlightPeak(0)).toBe(1);
    expect(await inFlightPeak(3)).toBeGreaterThanOrEqual(3);
  });

  it('halves a range the provider refuses as too large, and retries after RPC errors without skipping', async () => {
    const s = await scope();
    const t = await token(18);
    const alice = node.accounts[1] as Address;
    for (let i = 1n; i <= 4n; i++) await mint(node, t.address as Address, alice, i);
    const target = await head();

    let failures = 0;
    const getLogs = spyGetLogs(node.publicClient, async (c, real) => {
      if (failures < 2) {
        failures++;
        throw new Error('fetch failed: ECONNRESET');
      }
      if (c.toBlock - c.fromBlock >= 2n) throw new Error('query returned more than 10000 results');
      return real();
    });
    const ing = ingester(s, { maxBlockRange: 100, tipBlocks: 0 }, [t], { client: node.publicClient });
    await ing.start();
    await progressAt(ing, target);
    await ing.stop();
    getLogs.restore();

    expect(failures).toBe(2);
    expect((await readStream(s)).events.map((e) => e.value)).toEqual([1n, 2n, 3n, 4n]);
  });

  it('lets only the lease holder publish, and a standby takes over when the holder stops', async () => {
    const s = await scope();
    const t = await token(6);
    const alice = node.accounts[1] as Address;
    await mint(node, t.address as Address, alice, 10n);

    const a = ingester(s, {}, [t], { workerId: 'worker-a' });
    const b = ingester(s, {}, [t], { workerId: 'worker-b' });
    await a.start();
    await b.start();
    await waitFor('a leader', async () => a.isLeader() || b.isLeader());
    const [leader, standby] = a.isLeader() ? [a, b] : [b, a];
    await progressAt(leader, await head());
    await new Promise((r) => setTimeout(r, 200));
    expect(standby.isLeader()).toBe(false);
    expect(standby.lastProgress()).toBeNull();

    await leader.stop();
    await mint(node, t.address as Address, alice, 20n);
    await waitFor('standby to take over', async () => standby.isLeader());
    await progressAt(standby, await head());

    const { events } = await readStream(s);
    expect(events.map((e) => e.value)).toEqual([10n, 20n]);
  });
});

describe('chainIngester: many tokens and chains, custom events, finality', () => {
  it('follows two chains with one ingester each, each with its own checkpoint and lease', async () => {
    const s = await scope();
    const other = await startAnvil({ chainId: 31_338 });
    cleanups.push(() => other.stop());
    const a = await token(6);
    const b = await token(6, other);
    const alice = node.accounts[1] as Address;
    await mint(node, a.address as Address, alice, 1n);
    await mint(other, b.address as Address, alice, 2n);
    await mint(other, b.address as Address, alice, 3n);
    const ia = ingester(s, {}, [a, b]);
    const ib = ingester(s, {}, [a, b], {}, other);
    await ia.start();
    await ib.start();
    await progressAt(ia, await head());
    await progressAt(ib, await other.publicClient.getBlockNumber({ cacheTime: 0 }));
    expect(ia.isLeader() && ib.isLeader()).toBe(true);
    const { events } = await readStream(s);
    expect(events.filter((e) => e.chainId === node.chainId).map((e) => e.value)).toEqual([1n]);
    expect(events.filter((e) => e.chainId === 31_338).map((e) => e.value)).toEqual([2n, 3n]);
    expect(await redis.get(checkpointKey(s.namespace, node.chainId, a.address))).not.toBeNull();
    expect(await redis.get(checkpointKey(s.namespace, 31_338, b.address))).not.toBeNull();
    expect(await redis.get(checkpointKey(s.namespace, node.chainId, b.address))).toBeNull();
    expect(await redis.exists(`${s.namespace}:{chain}:lease:${node.chainId}`, `${s.namespace}:{chain}:lease:31338`)).toBe(2);
  });

  it('backfills a token added later from its startBlock without replaying the others', async () => {
    const s = await scope();
    const a = await token(6);
    const b = await token(18);
    const alice = node.accounts[1] as Address;
    await mint(node, a.address as Address, alice, 1n);
    await mint(node, b.address as Address, alice, 10n);
    const first = ingester(s, {}, [a]);
    await first.start();
    await progressAt(first, await head());
    await first.stop();
    const checkpointA = BigInt((await redis.get(checkpointKey(s.namespace, node.chainId, a.address)))!);
    await mint(node, a.address as Address, alice, 2n);
    await mint(node, b.address as Address, alice, 20n);

    const getLogs = spyGetLogs(node.publicClient);
    const second = ingester(s, { tipBlocks: 0 }, [a, b], { client: node.publicClient });
    await second.start();
    await progressAt(second, await head());
    await second.stop();
    const calls = getLogs.calls;
    getLogs.restore();
    // Token a is never read again below its checkpoint; b is read from its startBlock.
    for (const c of calls) if (c.address.includes(a.address)) expect(c.fromBlock).toBeGreaterThan(checkpointA);
    expect(calls.find((c) => c.address.includes(b.address))!.fromBlock).toBe(b.startBlock);
    const { events } = await readStream(s);
    expect(events.filter((e) => e.token === a.address).map((e) => e.value)).toEqual([1n, 2n]);
    expect(events.filter((e) => e.token === b.address).map((e) => e.value)).toEqual([10n, 20n]);
  });

  it('maps custom event ABIs onto mint and collateral kinds with their references, and keeps Minted as the Transfer reference by default', async () => {
    const s = await scope();
    const plain = await token(6);
    const custom = await token(6);
    const alice = node.accounts[1] as Address;
    const ref = stringToHex('DEP-0001', { size: 32 });
    await mintWithReference(node, plain.address as Address, alice, 5n, ref);
    await mintWithReference(node, custom.address as Address, alice, 7n, ref);
    const proof = stringToHex('AUDIT-2025-Q1', { size: 32 });
    const hash = await node.walletClient.writeContract({ address: custom.address as Address, abi: depositTokenAbi, functionName: 'attestCollateral', args: [1_000n, proof] });
    await node.publicClient.waitForTransactionReceipt({ hash });
    const customCfg: TokenConfig = {
      ...custom,
      events: [
        { abi: 'event Minted(address indexed to, uint256 amount, bytes32 indexed ref)', kind: 'mint', fields: { to: 'to', amount: 'amount', reference: 'ref' } },
        { abi: 'event CollateralUpdated(uint256 amount, bytes32 indexed proof)', kind: 'collateral', fields: { reference: 'proof' } },
      ],
    };
    const ing = ingester(s, {}, [plain, customCfg]);
    await ing.start();
    await progressAt(ing, await head());
    const { events } = await readStream(s);
    expect(events.map((e) => [e.token, e.kind, e.to, e.value, e.reference])).toEqual([
      [plain.address, 'mint', alice, 5n, 'DEP-0001'], // the Transfer, with Minted's reference
      [custom.address, 'mint', alice, 7n, 'DEP-0001'], // Minted itself (its Transfer is not configured)
      [custom.address, 'collateral', '0x0000000000000000000000000000000000000000', 1_000n, 'AUDIT-2025-Q1'],
    ]);
  });

  it('uses the node\'s finalized block in finality mode "tag"', async () => {
    const s = await scope();
    const t = await token(6);
    const alice = node.accounts[1] as Address;
    await mint(node, t.address as Address, alice, 1n);
    const ing = ingester(s, { finality: { mode: 'tag', tag: 'finalized' } }, [t]);
    await ing.start();
    const finalized = async () => (await node.publicClient.getBlock({ blockTag: 'finalized' })).number;
    await new Promise((r) => setTimeout(r, 200));
    expect((await readStream(s)).events).toHaveLength(0); // anvil finalizes 64 blocks behind the head
    await mine(node, 70);
    const f = await finalized();
    expect(f).toBeLessThan(await head());
    await progressAt(ing, f);
    expect(ing.lastProgress()?.blockNumber).toBe(f);
    expect((await readStream(s)).events.map((e) => e.value)).toEqual([1n]);
  });

  it('reports a stalled head: stalledSinceMs, the head status hook and a .stall notice, cleared when the head moves', async () => {
    const s = await scope();
    const t = await token(6);
    const statuses: boolean[] = [];
    const ing = chainIngester({
      chain: chainSchema.parse({ chainId: node.chainId, rpcUrls: [node.rpcUrl], confirmations: 0, pollIntervalMs: 50, stallTimeoutMs: 300 }),
      tokens: [t],
      namespace: s.namespace,
      subjectPrefix: s.chainSubjectPrefix,
      js,
      redis,
      logger,
      onHeadStatus: (st) => statuses.push(st.stalled),
    });
    cleanups.push(() => ing.stop());
    const startedAt = Date.now();
    await ing.start();
    await waitFor('a stall', async () => ing.stalledSinceMs() !== null);
    expect(ing.stalledSinceMs()!).toBeGreaterThanOrEqual(startedAt - 1);
    expect(statuses).toContain(true);
    await mine(node, 1);
    await waitFor('the stall to clear', async () => ing.stalledSinceMs() === null);
    const { stalls } = await waitFor('both notices', async () => {
      const r = await readStream(s);
      return r.stalls.length === 2 && r;
    });
    expect(stalls.map((x) => x.stalled)).toEqual([true, false]);
    expect(stalls[0]!.chainId).toBe(node.chainId);
  });
});

describe('leaderLease', () => {
  it('is exclusive until it expires, and renewable only by its holder', async () => {
    const key = `t_lease_${randomBytes(4).toString('hex')}:{chain}:lease:1`;
    cleanups.push(() => redis.del(key));
    const a = leaderLease({ redis, key, holderId: 'a', ttlMs: 300 });
    const b = leaderLease({ redis, key, holderId: 'b', ttlMs: 300 });
    expect(await a.acquire()).toBe(true);
    expect(await b.acquire()).toBe(false);
    expect(await a.acquire()).toBe(true); // renewal
    expect(a.held()).toBe(true);
    await new Promise((r) => setTimeout(r, 400)); // a crashed: no renewal
    expect(a.held()).toBe(false);
    expect(await b.acquire()).toBe(true);
    expect(await a.acquire()).toBe(false);
    await a.release(); // not a's to release
    expect(await redis.get(key)).toBe('b');
    await b.release();
    expect(await redis.get(key)).toBeNull();
  });
});
