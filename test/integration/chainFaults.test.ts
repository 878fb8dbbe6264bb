import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import type { Address, PublicClient } from 'viem';
import { describe, expect, it, vi } from 'vitest';
import { chainSchema, type TokenConfig } from '../../src/config/schema.js';
import type { ChainEvent } from '../../src/domain/types.js';
import { decodeChainEvents } from '../../src/streams/chain/chainEventCodec.js';
import { chainIngester, type ChainIngester } from '../../src/streams/chain/chainIngester.js';
import { checkpointKey } from '../../src/streams/chain/checkpoint.js';
import { depositTokenAbi } from '../../src/devchain/depositTokenArtifact.js';
import { leaseKey } from '../../src/streams/chain/leaderLease.js';
import { useChainTestbed, type ChainScope } from '../support/chainTestbed.js';
import { deployDepositToken, freePort, type AnvilNode } from '../support/anvil.js';
import { startRpcProxy } from '../support/rpcProxy.js';
import { waitFor as waitUntil } from '../support/waitFor.js';

const root = new URL('../../', import.meta.url).pathname;

/** Spies on `client.request` and records the fromBlock of each eth_getLogs range call (sent as raw JSON-RPC). */
function spyGetLogRanges(client: PublicClient) {
  const real = client.request.bind(client) as (args: unknown) => Promise<unknown>;
  const calls: { fromBlock: bigint }[] = [];
  const spy = vi.spyOn(client, 'request').mockImplementation((async (args: { method: string; params?: unknown[] }) => {
    const p = args.method === 'eth_getLogs' ? (args.params?.[0] as { fromBlock?: string }) : undefined;
    if (p?.fromBlock) calls.push({ fromBlock: BigInt(p.fromBlock) });
    return real(args);
  }) as never);
  return { calls, restore: () => spy.mockRestore() };
}
const logger = pino({ level: 'silent' });
let node: AnvilNode;
let js: JetStreamClient;
let jsm: JetStreamManager;
let redis: Redis;
const { cleanups, scope } = useChainTestbed('fault', (h) => ({ node, js, jsm, redis } = h));
type Scope = ChainScope;

function ingester(s: Scope, chain: Record<string, unknown>, tokens: TokenConfig[], extra: { workerId?: string; client?: AnvilNode['publicClient']; leaseTtlMs?: number } = {}): ChainIngester {
  const ing = chainIngester({
    chain: chainSchema.parse({ chainId: node.chainId, rpcUrls: [node.rpcUrl], confirmations: 0, pollIntervalMs: 50, ...chain }),
    tokens,
    namespace: s.namespace,
    subjectPrefix: s.chainSubjectPrefix,
    js,
    redis,
    logger,
    retry: { initialMs: 10, maxMs: 100 },
    ...extra,
  });
  cleanups.push(() => ing.stop());
  return ing;
}

/** A token with `n` mints, one block each, sent without waiting for each receipt. */
async function tokenWithMints(n: number): Promise<TokenConfig> {
  const address = await deployDepositToken(node, { name: 'Deposit', symbol: 'DEP', decimals: 6 });
  const startBlock = await head();
  let hash: `0x${string}` | undefined;
  for (let i = 1; i <= n; i++) {
    hash = await node.walletClient.writeContract({ address, abi: depositTokenAbi, functionName: 'mint', args: [node.accounts[1 + (i % 3)] as Address, BigInt(i)] });
  }
  if (hash) await node.publicClient.waitForTransactionReceipt({ hash, pollingInterval: 20 });
  return { chainId: node.chainId, address, currency: 'USD', startBlock };
}

async function readEvents(s: Scope): Promise<ChainEvent[]> {
  const info = await jsm.streams.info(s.chainStream);
  const events: ChainEvent[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(s.chainStream, { seq }).catch(() => null);
    if (m?.subject.endsWith('.events')) events.push(...decodeChainEvents(m.data));
  }
  return events;
}

const waitFor = <T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 30_000, everyMs = 50) => waitUntil<T>(what, probe, timeoutMs, everyMs);

const head = () => node.publicClient.getBlockNumber({ cacheTime: 0 });

/** The ids of the token's logs on the node, in chain order. */
async function canonical(t: TokenConfig): Promise<string[]> {
  const logs = await node.publicClient.getLogs({ address: t.address as Address, fromBlock: t.startBlock, toBlock: await head() });
  return logs.map((l) => `${node.chainId}:${l.blockHash}:${l.logIndex}`);
}

/** Every canonical event exactly once, in chain order. */
async function expectExactlyOnce(s: Scope, t: TokenConfig): Promise<void> {
  const events = await readEvents(s);
  const counts = new Map<string, number>();
  for (const e of events) counts.set(e.eventId, (counts.get(e.eventId) ?? 0) + 1);
  expect([...counts.values()].every((c) => c === 1)).toBe(true);
  expect(events.map((e) => e.eventId)).toEqual(await canonical(t));
}

describe('chain ingestion under faults', () => {
  it('takes over from a SIGKILLed leader within seconds of the lease TTL, from its checkpoint, with no missing and no duplicated event', async () => {
    const s = await scope();
    const t = await tokenWithMints(200);
    const target = await head();
    // The leader reads through a slow proxy, one range at a time, so it is killed mid-backfill.
    const slow = await startRpcProxy(node.rpcUrl, { delayRate: 1, delayMs: 30, maxFaults: 1_000_000 });
    cleanups.push(() => slow.close());
    const dir = mkdtempSync(join(tmpdir(), 'chain-leader-'));
    const cfg = join(dir, 'config.json');
    writeFileSync(
      cfg,
      JSON.stringify({
        namespace: s.namespace,
        workerId: 'worker-a',
        nats: { chainStream: s.chainStream, chainSubjectPrefix: s.chainSubjectPrefix },
        chains: [{ chainId: node.chainId, rpcUrls: [slow.url], confirmations: 0, pollIntervalMs: 50, maxBlockRange: 4, readAhead: 0, tipBlocks: 0 }],
        tokens: [{ ...t, startBlock: t.startBlock.toString() }],
        log: { level: 'warn' },
      }),
    );
    const ttl = 1_500;
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/cli/runIngester.ts'), cfg, String(ttl)], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<string>((r) => child.on('exit', (code, sig) => r(String(sig ?? code))));
    cleanups.push(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    });

    await waitFor('the child to hold the lease and publish', async () => (await readEvents(s)).length >= 40, 30_000).catch((e) => {
      throw new Error(`${(e as Error).message}\n${out}`);
    });
    const standby = ingester(s, { maxBlockRange: 4, tipBlocks: 0 }, [t], { workerId: 'worker-b', client: node.publicClient, leaseTtlMs: ttl });
    const getLogs = spyGetLogRanges(node.publicClient);
    cleanups.push(async () => getLogs.restore());
    await standby.start();
    await new Promise((r) => setTimeout(r, 100));
    expect(standby.isLeader()).toBe(false);

    child.kill('SIGKILL'); // a crash: the lease is not released
    const killedAt = Date.now();
    expect(await exited).toBe('SIGKILL');
    expect(await redis.get(leaseKey(s.namespace, node.chainId))).toBe('worker-a');
    const checkpointAtKill = BigInt((await redis.get(checkpointKey(s.namespace, node.chainId, t.address))) ?? t.startBlock - 1n);
    expect(checkpointAtKill).toBeLessThan(target);

    await waitFor('the standby to take over', async () => standby.isLeader(), 10_000);
    const takeoverMs = Date.now() - killedAt;
    expect(takeoverMs).toBeLessThan(ttl + 2_000);
    await waitFor('the standby to reach the head', async () => (standby.lastProgress()?.blockNumber ?? -1n) >= target);

    // It resumed from the checkpoint the dead leader left, not from the start.
    const ranges = getLogs.calls;
    expect(ranges[0]!.fromBlock).toBe(checkpointAtKill + 1n);
    await expectExactlyOnce(s, t);
    expect(await readEvents(s)).toHaveLength(200);
  });

  it('loses no log behind an RPC that drops, delays and rate-limits requests and refuses wide eth_getLogs ranges', async () => {
    const s = await scope();
    const t = await tokenWithMints(40);
    const proxy = await startRpcProxy(node.rpcUrl, { dropRate: 0.12, rate429: 0.12, delayRate: 0.12, delayMs: 80, maxFaults: 40, maxLogsRange: 4, seed: 7 });
    cleanups.push(() => proxy.close());
    const ing = ingester(s, { rpcUrls: [proxy.url], maxBlockRange: 64, tipBlocks: 0, rpcTimeoutMs: 2_000 }, [t]);
    await ing.start();
    const target = await head();
    await waitFor('the head', async () => (ing.lastProgress()?.blockNumber ?? -1n) >= target);
    await expectExactlyOnce(s, t);
    expect(proxy.stats.dropped).toBeGreaterThan(0);
    expect(proxy.stats.rateLimited).toBeGreaterThan(0);
    expect(proxy.stats.delayed).toBeGreaterThan(0);
    expect(proxy.stats.tooLarge).toBeGreaterThan(0);
    // Refused ranges were answered by smaller ones, each within the provider's limit.
    const served = proxy.calls.filter((c) => c.method === 'eth_getLogs').map((c) => (c.params as { fromBlock: string; toBlock: string }[])[0]!);
    const widths = served.map((p) => Number(BigInt(p.toBlock) - BigInt(p.fromBlock) + 1n));
    expect(widths[0]).toBeGreaterThan(4); // the whole backlog at first: refused
    expect(widths.filter((w) => w <= 4).length).toBeGreaterThan(0);
  });

  it('follows the head block by block through the same faults, and fails over from a dead RPC URL to a live one', async () => {
    const s = await scope();
    const t = await tokenWithMints(30);
    const proxy = await startRpcProxy(node.rpcUrl, { dropRate: 0.1, rate429: 0.1, delayRate: 0.1, delayMs: 50, maxFaults: 30, seed: 11 });
    cleanups.push(() => proxy.close());
    const dead = `http://127.0.0.1:${await freePort()}`;
    const ing = ingester(s, { rpcUrls: [dead, proxy.url], rpcTimeoutMs: 2_000 }, [t]);
    await ing.start();
    const target = await head();
    await waitFor('the head', async () => (ing.lastProgress()?.blockNumber ?? -1n) >= target);
    await expectExactlyOnce(s, t);
    const methods = new Set(proxy.calls.map((c) => c.method));
    expect(methods.has('eth_getBlockByNumber')).toBe(true);
    // Block by block: logs fetched by block hash, never by range.
    const logCalls = proxy.calls.filter((c) => c.method === 'eth_getLogs').map((c) => (c.params as Record<string, unknown>[])[0]!);
    expect(logCalls.length).toBeGreaterThan(0);
    for (const p of logCalls) expect(p.blockHash).toMatch(/^0x[0-9a-f]{64}$/);
    expect(proxy.stats.dropped + proxy.stats.rateLimited).toBeGreaterThan(0);
  });
});
