/**
 * The chain side's source: follows one EVM chain and publishes the final events of its tokens to
 * JetStream, then the chain's progress (event-time watermark), then moves the checkpoint. This
 * file is the lifecycle: one worker per chain polls (Redis lease, leaderLease.ts); the others
 * stand by and take over when it goes. The parts:
 *
 * - chainSync.ts: backfill and follow up to the final head (`head - confirmations`, or the node's
 *   `finalized`/`safe` block), the ordering contract, the message format;
 * - reorgHandling.ts: reorg decisions as pure functions of the block history (a reorg within the
 *   finality depth is never seen; a deeper one is retracted and re-read);
 * - headWatch.ts: the head's age, stalls (`ChainStall` on `<prefix>.<chainId>.stall`), and the
 *   poll loop's sleep, cut short by `newHeads` notifications with `wsUrls`.
 *
 * A node behind us (final head below the last processed block, or a block it does not have) is
 * lagging, not reorganised: wait.
 */
import type { JetStreamManager, JetStreamClient } from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { PublicClient } from 'viem';
import type { ChainConfig, Config, TokenConfig } from '../../config/schema.js';
import type { ChainProgress } from '../../domain/types.js';
import { AdaptiveRange } from './blockRanges.js';
import { blockHistory } from './blockHistory.js';
import { checkpoint as checkpointStore } from './checkpoint.js';
import { chainSync, MAX_EVENTS_PER_STEP } from './chainSync.js';
import { chainStreamSubjects } from './chainSubjects.js';
import { chainPartitionPrefixes, partitionStreamName } from '../partitions.js';
import { MAX_EVENTS_PER_MESSAGE } from './chainEventCodec.js';
import { compileEventMappings } from './eventMappings.js';
import { headWatch, type HeadStatus } from './headWatch.js';
import { leaderLease, leaseKey } from './leaderLease.js';
import { BlockHeaderCache, ChainLagging, type ReadContext } from './readConfirmedLogs.js';
import { backoffMs } from '../../lib/backoff.js';
import { createChainClient, withRetry } from './rpc.js';

export interface ChainIngesterOptions {
  chain: ChainConfig;
  /** Tokens to follow; those of other chains are ignored. */
  tokens: readonly TokenConfig[];
  namespace: string;
  /** `config.nats.chainSubjectPrefix`. */
  subjectPrefix: string;
  /** `config.nats.partitions.count` (default 1): blocks go to their partition's stream (src/streams/partitions.ts). */
  partitions?: number;
  js: JetStreamClient;
  redis: Redis;
  logger: Logger;
  /** Lease holder id; unique per process. Default `${pid}-${random}`. */
  workerId?: string;
  /** Overrides the client built from `chain.rpcUrls` (tests, custom transports). */
  client?: PublicClient;
  /** How long a silent leader keeps the lease. Default max(10 s, 5 × pollIntervalMs). */
  leaseTtlMs?: number | undefined;
  /** Backoff after a failed poll or RPC call: full jitter, doubling from `initialMs` up to `maxMs`. Default 250 ms → 30 s. */
  retry?: { initialMs?: number; maxMs?: number };
  /** Called after every poll of the leader (e.g. to set a Prometheus gauge of the head's age). */
  onHeadStatus?: ((s: HeadStatus) => void) | undefined;
  /** Most events per `.events` message; a block with more is split into chunks. Default (and at most) `MAX_EVENTS_PER_MESSAGE`. */
  maxEventsPerMessage?: number;
  /**
   * Most ranges being fetched ahead of the one being stored and published (each read is one round
   * trip of parallel RPC calls, then a shared anchor check; several in flight hide a remote RPC's
   * latency). Default `DEFAULT_READ_AHEAD`; 0 reads one range at a time.
   */
  readAhead?: number;
  /**
   * No read ahead starts while the ranges already read and waiting for their step hold this many
   * events (memory: a busy token's ranges can each carry a provider's full answer). Default
   * `MAX_EVENTS_PER_STEP` (50,000).
   */
  maxEventsReadAhead?: number;
}

/** Default `readAhead`: enough to keep a remote RPC busy, few enough to bound memory (ranges of `maxBlockRange` blocks). */
export const DEFAULT_READ_AHEAD = 3;

export interface ChainIngester {
  /** Starts polling in the background (as leader or standby); resolves once running. */
  start(): Promise<void>;
  /** Stops after the current step, releases the lease, resolves when idle. */
  stop(): Promise<void>;
  /** Whether this instance currently holds the chain's lease. */
  isLeader(): boolean;
  /** The last progress this instance published, if any. */
  lastProgress(): ChainProgress | null;
  /** Epoch ms since which the head has not moved, while that exceeds `stallTimeoutMs`; else null. */
  stalledSinceMs(): number | null;
}

/**
 * Creates the CHAIN stream (`<prefix>.>`, file storage, 2-minute duplicate window) unless it exists;
 * with partitions, one per partition (src/streams/partitions.ts).
 */
export async function ensureChainStream(jsm: JetStreamManager, config: { nats: Pick<Config['nats'], 'chainStream' | 'chainSubjectPrefix'> & { partitions?: { count: number } } }): Promise<void> {
  const count = config.nats.partitions?.count ?? 1;
  const prefixes = chainPartitionPrefixes(config.nats.chainSubjectPrefix, count);
  for (const [p, prefix] of prefixes.entries()) await ensureOneChainStream(jsm, partitionStreamName(config.nats.chainStream, p, count), chainStreamSubjects(prefix));
}

async function ensureOneChainStream(jsm: JetStreamManager, name: string, subjects: string[]): Promise<void> {
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

/** Follows `options.chain` and publishes its final token events; see the module comment. */
export function chainIngester(options: ChainIngesterOptions): ChainIngester {
  const { chain, namespace, js, redis, subjectPrefix } = options;
  const chainId = chain.chainId;
  const tokens = options.tokens.filter((t) => t.chainId === chainId);
  const log = options.logger.child({ component: 'chainIngester', chainId });
  const client = options.client ?? createChainClient({ rpcUrls: chain.rpcUrls, timeoutMs: chain.rpcTimeoutMs });
  const workerId = options.workerId ?? `${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  const lease = leaderLease({
    redis,
    key: leaseKey(namespace, chainId),
    holderId: workerId,
    ttlMs: options.leaseTtlMs ?? Math.max(10_000, 5 * chain.pollIntervalMs),
  });
  const initialBackoff = options.retry?.initialMs ?? 250;
  const maxBackoff = options.retry?.maxMs ?? 30_000;

  let running = false;
  let leader = false;
  let loop: Promise<void> | null = null;

  const heads = headWatch({
    chainId,
    subjectPrefix,
    partitions: options.partitions ?? 1,
    stallTimeoutMs: chain.stallTimeoutMs,
    wsUrls: chain.wsUrls,
    rpcTimeoutMs: chain.rpcTimeoutMs,
    retry: { initialMs: initialBackoff, maxMs: maxBackoff },
    js,
    log,
    onHeadStatus: options.onHeadStatus,
  });
  const ctx: ReadContext = {
    client,
    chainId,
    headers: new BlockHeaderCache(),
    adaptive: new AdaptiveRange(chain.maxBlockRange),
    rpc: (fn) =>
      withRetry(fn, {
        retries: chain.rpcRetries,
        initialMs: initialBackoff,
        maxMs: Math.min(maxBackoff, 5_000),
        cancelled: () => !running,
        onRetry: (err, attempt, waitMs) => log.debug({ err, attempt, waitMs }, 'RPC call failed; retrying'),
      }),
  };
  const sync = chainSync({
    chain,
    tokens,
    ctx,
    client,
    js,
    subjectPrefix,
    partitions: options.partitions ?? 1,
    log,
    heads,
    mappings: new Map(tokens.map((t) => [t.address, compileEventMappings(t.events, t.address)])),
    checkpoints: checkpointStore(redis, namespace, chainId),
    history: blockHistory(redis, namespace, chainId, chain.reorgHistory),
    ensureLeader: async () => {
      leader = await lease.acquire();
      if (!leader) throw new LeaseLost();
    },
    running: () => running,
    maxEventsPerMessage: options.maxEventsPerMessage ?? MAX_EVENTS_PER_MESSAGE,
    readAhead: options.readAhead ?? options.chain.readAhead ?? DEFAULT_READ_AHEAD,
    maxEventsReadAhead: options.maxEventsReadAhead ?? MAX_EVENTS_PER_STEP,
  });

  async function run(): Promise<void> {
    let attempt = 0;
    while (running) {
      let again = false;
      try {
        const wasLeader = leader;
        leader = await lease.acquire();
        if (leader !== wasLeader) log.info({ workerId, leader }, leader ? 'took the chain lease' : 'lost the chain lease');
        heads.subscribe(leader);
        heads.pollStarted();
        if (leader) again = await sync.syncToFinalHead();
        attempt = 0;
      } catch (e) {
        if (e instanceof LeaseLost) {
          heads.subscribe(false);
          log.warn({ workerId }, 'lost the chain lease mid-sync; standing by');
          continue;
        }
        if (e instanceof ChainLagging) {
          log.info({ reason: e.message }, 'node is behind; waiting for it');
        } else {
          if (leader) heads.check();
          const wait = backoffMs(attempt++, { initialMs: initialBackoff, maxMs: maxBackoff });
          log.warn({ err: e, backoffMs: wait }, 'chain poll failed; retrying the same range');
          await heads.sleep(wait);
          continue;
        }
      }
      if (leader) heads.check();
      if (!again) await heads.sleep(leader ? chain.pollIntervalMs : Math.min(chain.pollIntervalMs, 1_000), leader);
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
      heads.wake();
      await loop;
      loop = null;
      heads.subscribe(false);
      if (leader) await lease.release().catch((err: unknown) => log.warn({ err }, 'lease release failed'));
      leader = false;
    },
    isLeader: () => leader,
    lastProgress: () => sync.lastProgress(),
    stalledSinceMs: () => heads.stalledSinceMs(),
  };
}

/** This worker no longer holds the chain's lease (another took it): stand by. */
class LeaseLost extends Error {}
