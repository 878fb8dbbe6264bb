/**
 * The chain side's source: follows one EVM chain and publishes the confirmed Transfer events of
 * its deposit tokens to JetStream, then the chain's progress (event-time watermark), then moves
 * the checkpoint. Historical backfill and following the head are the same loop: from each
 * token's checkpoint up to `head - confirmations`, in ranges of at most `maxBlockRange` blocks.
 * One worker per chain polls (Redis lease); the others stand by and take over when it goes.
 *
 * Ordering contract, per range: events published and acked → progress published and acked →
 * checkpoint advanced. A crash anywhere re-publishes the range on restart; JetStream drops the
 * duplicates by message id (`chainId:blockHash:logIndex`) and consumers are idempotent anyway.
 */
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { createPublicClient, fallback, http, type Address, type PublicClient } from 'viem';
import type { ChainConfig, Config, TokenConfig } from '../../config/schema.js';
import type { ChainProgress } from '../../domain/types.js';
import { checkpoint as checkpointStore } from './checkpoint.js';
import { encodeChainEvent, encodeChainProgress } from './chainEventCodec.js';
import { leaderLease, leaseKey } from './leaderLease.js';
import { BlockHeaderCache, ChainReadError, readConfirmedLogs } from './readConfirmedLogs.js';
import { nextRange } from './nextRange.js';

const erc20DecimalsAbi = [
  { type: 'function', name: 'decimals', stateMutability: 'view', inputs: [], outputs: [{ type: 'uint8' }] },
] as const;

export interface ChainIngesterOptions {
  chain: ChainConfig;
  /** Tokens to follow; those of other chains are ignored. */
  tokens: readonly TokenConfig[];
  namespace: string;
  /** `config.nats.chainSubjectPrefix`. */
  subjectPrefix: string;
  js: JetStreamClient;
  redis: Redis;
  logger: Logger;
  /** Lease holder id; unique per process. Default `${hostname-less pid}-${random}`. */
  workerId?: string;
  /** Overrides the client built from `chain.rpcUrls` (tests, custom transports). */
  client?: PublicClient;
  /** How long a silent leader keeps the lease. Default max(10 s, 5 × pollIntervalMs). */
  leaseTtlMs?: number;
  /** Backoff after a failed poll: doubles from `initialMs` up to `maxMs`. Default 250 ms → 30 s. */
  retry?: { initialMs?: number; maxMs?: number };
}

export interface ChainIngester {
  /** Starts polling in the background (as leader or standby); resolves once running. */
  start(): Promise<void>;
  /** Stops after the current step, releases the lease, resolves when idle. */
  stop(): Promise<void>;
  /** Whether this instance currently holds the chain's lease. */
  isLeader(): boolean;
  /** The last progress this instance published, if any. */
  lastProgress(): ChainProgress | null;
}

export function chainEventsSubject(prefix: string, chainId: number): string {
  return `${prefix}.${chainId}.events`;
}

export function chainProgressSubject(prefix: string, chainId: number): string {
  return `${prefix}.${chainId}.progress`;
}

/** Creates the CHAIN stream (`<prefix>.>`, file storage, 2-minute duplicate window) unless it exists. */
export async function ensureChainStream(
  jsm: JetStreamManager,
  config: { nats: Pick<Config['nats'], 'chainStream' | 'chainSubjectPrefix'> },
): Promise<void> {
  const name = config.nats.chainStream;
  const subjects = [`${config.nats.chainSubjectPrefix}.>`];
  try {
    await jsm.streams.info(name);
    return;
  } catch (e) {
    if (!isStreamNotFound(e)) throw e;
  }
  try {
    await jsm.streams.add({ name, subjects, storage: 'file', duplicate_window: nanos(120_000) });
  } catch (e) {
    // Another worker created it between our two calls.
    await jsm.streams.info(name).catch(() => {
      throw e;
    });
  }
}

function isStreamNotFound(e: unknown): boolean {
  const o = e as { name?: string; code?: number; api_error?: { err_code?: number } } | null;
  return o?.name === 'StreamNotFoundError' || o?.api_error?.err_code === 10059 || /stream not found/i.test(String(e));
}

/** Follows `options.chain` and publishes its confirmed token events; see the module comment. */
export function chainIngester(options: ChainIngesterOptions): ChainIngester {
  const { chain, namespace, js, redis, subjectPrefix } = options;
  const chainId = chain.chainId;
  const tokens = options.tokens.filter((t) => t.chainId === chainId);
  const log = options.logger.child({ component: 'chainIngester', chainId });
  const client =
    options.client ??
    (createPublicClient({
      transport: chain.rpcUrls.length === 1 ? http(chain.rpcUrls[0]) : fallback(chain.rpcUrls.map((u) => http(u))),
    }) as PublicClient);
  const workerId = options.workerId ?? `${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  const lease = leaderLease({
    redis,
    key: leaseKey(namespace, chainId),
    holderId: workerId,
    ttlMs: options.leaseTtlMs ?? Math.max(10_000, 5 * chain.pollIntervalMs),
  });
  const checkpoints = checkpointStore(redis, namespace, chainId);
  const headers = new BlockHeaderCache();
  const decimals = new Map<string, number>();
  const eventsSubject = chainEventsSubject(subjectPrefix, chainId);
  const progressSubject = chainProgressSubject(subjectPrefix, chainId);
  const initialBackoff = options.retry?.initialMs ?? 250;
  const maxBackoff = options.retry?.maxMs ?? 30_000;

  let running = false;
  let leader = false;
  let progress: ChainProgress | null = null;
  let loop: Promise<void> | null = null;
  let wake: (() => void) | null = null;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        wake = null;
        resolve();
      }
      wake = done;
    });

  async function loadDecimals(): Promise<void> {
    for (const t of tokens) {
      if (decimals.has(t.address)) continue;
      try {
        const d = await client.readContract({ address: t.address as Address, abi: erc20DecimalsAbi, functionName: 'decimals' });
        decimals.set(t.address, Number(d));
      } catch (e) {
        throw new ChainReadError(`decimals() of token ${t.address} on chain ${chainId} failed`, { cause: e });
      }
    }
  }

  async function ensureLeader(): Promise<void> {
    leader = await lease.acquire();
    if (!leader) throw new LeaseLost();
  }

  /** Publishes everything from the checkpoints up to the confirmed head. */
  async function syncToConfirmedHead(): Promise<void> {
    await loadDecimals();
    const head = await client.getBlockNumber({ cacheTime: 0 });
    const confirmed = head - BigInt(chain.confirmations);
    if (confirmed < 0n) return;

    // Last block each token has fully published; a token with nothing yet has "reached" the block
    // before its startBlock (there is nothing of it to read below).
    const reached = new Map<string, bigint>();
    for (const t of tokens) reached.set(t.address, (await checkpoints.read(t.address)) ?? t.startBlock - 1n);

    while (running) {
      const step = nextRange(reached, confirmed, chain.maxBlockRange);
      if (!step) break;
      await ensureLeader();
      const range = step.range;
      const events = await readConfirmedLogs({
        client,
        chainId,
        tokens: new Map(step.tokens.map((a) => [a, decimals.get(a) ?? 0])),
        range,
        headers,
      });
      for (const e of events) {
        await js.publish(eventsSubject, encodeChainEvent(e), { msgID: e.eventId });
      }
      for (const a of step.tokens) reached.set(a, range.to);
      await publishProgress(reached, confirmed);
      for (const a of step.tokens) await checkpoints.advance(a, range.to);
      log.debug({ from: range.from, to: range.to, tokens: step.tokens.length, events: events.length }, 'range published');
    }
    // Tokens whose startBlock lies ahead still let the chain's progress move with the others.
    await publishProgress(reached, confirmed);
  }

  /** Publishes the chain's progress at the lowest block every token reached, if it moved. */
  async function publishProgress(reached: Map<string, bigint>, confirmed: bigint): Promise<void> {
    let low = confirmed;
    for (const b of reached.values()) if (b < low) low = b;
    if (low < 0n || (progress && low <= progress.blockNumber)) return;
    const header = await headers.get(client, low);
    const p: ChainProgress = { chainId, blockNumber: low, blockHash: header.hash, blockTime: header.timeMs };
    await js.publish(progressSubject, encodeChainProgress(p), { msgID: `progress:${chainId}:${low}` });
    progress = p;
  }

  async function run(): Promise<void> {
    let backoff = initialBackoff;
    while (running) {
      try {
        const wasLeader = leader;
        leader = await lease.acquire();
        if (leader !== wasLeader) log.info({ workerId, leader }, leader ? 'took the chain lease' : 'lost the chain lease');
        if (leader) await syncToConfirmedHead();
        backoff = initialBackoff;
        await sleep(leader ? chain.pollIntervalMs : Math.min(chain.pollIntervalMs, 1_000));
      } catch (e) {
        if (e instanceof LeaseLost) {
          log.warn({ workerId }, 'lost the chain lease mid-sync; standing by');
          continue;
        }
        log.warn({ err: e, backoffMs: backoff }, 'chain poll failed; retrying the same range');
        await sleep(backoff);
        backoff = Math.min(backoff * 2, maxBackoff);
      }
    }
  }

  return {
    async start() {
      if (running) return;
      if (tokens.length === 0) log.warn('no tokens configured for this chain');
      running = true;
      loop = run();
    },
    async stop() {
      if (!running) return;
      running = false;
      wake?.();
      await loop;
      loop = null;
      if (leader) await lease.release().catch((err: unknown) => log.warn({ err }, 'lease release failed'));
      leader = false;
    },
    isLeader: () => leader,
    lastProgress: () => progress,
  };
}

class LeaseLost extends Error {}
