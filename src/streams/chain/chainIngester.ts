/**
 * The chain side's source: follows one EVM chain and publishes the final events of its tokens to
 * JetStream, then the chain's progress (event-time watermark), then moves the checkpoint.
 *
 * - Final head: `head - confirmations` (finality mode `depth`) or the node's `finalized`/`safe`
 *   block (mode `tag`). Nothing above it is read, so a reorg within the depth is never seen.
 * - Backfill and follow are one loop over each token's checkpoint: more than `tipBlocks` below
 *   the final head, ranges of eth_getLogs (adaptive size); within it, block by block with logs
 *   by block hash (readConfirmedLogs.ts).
 * - Reorgs by hash continuity: every processed block's hash, parent hash and published event ids
 *   go to a bounded history in Redis (blockHistory.ts) before its events are published. A new
 *   block whose parent hash differs from the stored predecessor, or a stored block whose hash the
 *   node no longer has, means a reorg deeper than the finality depth: walk the history back to
 *   the fork point, publish a `ChainRetraction` per orphaned block that had events, rewind the
 *   checkpoints to the fork point, and read the canonical blocks again (their events get new ids).
 * - A node behind us (final head below the last processed block, or a block it does not have)
 *   is lagging, not reorganised: wait.
 * - One worker per chain polls (Redis lease); the others stand by and take over when it goes.
 * - With `wsUrls`, the leader also holds a `newHeads` subscription (newHeads.ts) whose
 *   notifications only cut the poll interval short: what they carry is never used.
 * - A head that does not move for `stallTimeoutMs` is a stall: logged, `stalledSinceMs()`, the
 *   `onHeadStatus` hook, and a `ChainStall` message on `<prefix>.<chainId>.stall` (and one when it
 *   moves again).
 *
 * Ordering contract, per step: block records stored → events published and acked → progress
 * published and acked → checkpoint advanced. A crash anywhere re-publishes the step on restart;
 * JetStream drops the duplicates by message id and consumers are idempotent anyway.
 *
 * Events travel as one `.events` message per block (or per chunk of at most
 * `maxEventsPerMessage` events of a big block), message id `chainId:blockHash` (see
 * `chainEventBatchMsgId`): per-event messages would bound a backfill by JetStream's message rate.
 * A step's messages are published with many in flight; progress and the checkpoint move only
 * once all of them are acked, and the next step's range is read meanwhile.
 *
 * A retraction is published before the checkpoint is rewound, so a crash in between finds the
 * same orphaned records again and re-publishes the same retraction ids.
 */
import { createHash } from 'node:crypto';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Address, PublicClient } from 'viem';
import type { ChainConfig, Config, TokenConfig } from '../../config/schema.js';
import type { ChainEvent, ChainProgress } from '../../domain/types.js';
import { AdaptiveRange } from './blockRanges.js';
import { ChainAnchor } from './chainAnchor.js';
import { blockHistory, recordEventIds, type BlockRecord } from './blockHistory.js';
import { checkpoint as checkpointStore } from './checkpoint.js';
import { chainEventMessages, encodeChainProgress, encodeChainRetraction, encodeChainStall, MAX_EVENTS_PER_MESSAGE } from './chainEventCodec.js';
import { compileEventMappings, type TokenEvents } from './eventMappings.js';
import { leaderLease, leaseKey } from './leaderLease.js';
import { newHeads } from './newHeads.js';
import { nextRange } from './nextRange.js';
import {
  BlockHeaderCache,
  ChainLagging,
  ChainReadError,
  fetchHeader,
  readBlock,
  readRange,
  type ReadContext,
  type ReadResult,
} from './readConfirmedLogs.js';
import { backoffMs, createChainClient, withRetry } from './rpc.js';

const erc20DecimalsAbi = [
  { type: 'function', name: 'decimals', stateMutability: 'view', inputs: [], outputs: [{ type: 'uint8' }] },
] as const;

/** Publishes in flight at once: JetStream keeps one connection's publishes in order. */
const PUBLISH_WINDOW = 256;

/** Most ranges, and events, that one step stores and publishes (ranges already read, taken together). */
const MAX_RANGES_PER_STEP = 16;
const MAX_EVENTS_PER_STEP = 50_000;

/**
 * Message-id scope of a step that read only some of the chain's tokens (one behind the others):
 * its batch of a block holds only their events, so it must not share an id with the batch of all
 * tokens (JetStream would drop one of the two as a duplicate).
 */
function tokenScope(stepTokens: readonly string[]): string {
  return `t${createHash('sha256').update([...stepTokens].sort().join(',')).digest('hex').slice(0, 16)}`;
}

export interface HeadStatus {
  chainId: number;
  /** Last head block seen, or null before the first poll. */
  head: bigint | null;
  /** Milliseconds since the head last moved (0 before the first poll). */
  headAgeMs: number;
  stalled: boolean;
}

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
  /** Lease holder id; unique per process. Default `${pid}-${random}`. */
  workerId?: string;
  /** Overrides the client built from `chain.rpcUrls` (tests, custom transports). */
  client?: PublicClient;
  /** How long a silent leader keeps the lease. Default max(10 s, 5 × pollIntervalMs). */
  leaseTtlMs?: number;
  /** Backoff after a failed poll or RPC call: full jitter, doubling from `initialMs` up to `maxMs`. Default 250 ms → 30 s. */
  retry?: { initialMs?: number; maxMs?: number };
  /** Called after every poll of the leader (e.g. to set a Prometheus gauge of the head's age). */
  onHeadStatus?: (s: HeadStatus) => void;
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

export function chainEventsSubject(prefix: string, chainId: number): string {
  return `${prefix}.${chainId}.events`;
}

export function chainProgressSubject(prefix: string, chainId: number): string {
  return `${prefix}.${chainId}.progress`;
}

export function chainRetractSubject(prefix: string, chainId: number): string {
  return `${prefix}.${chainId}.retract`;
}

export function chainStallSubject(prefix: string, chainId: number): string {
  return `${prefix}.${chainId}.stall`;
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

/** Follows `options.chain` and publishes its final token events; see the module comment. */
export function chainIngester(options: ChainIngesterOptions): ChainIngester {
  const { chain, namespace, js, redis, subjectPrefix } = options;
  const chainId = chain.chainId;
  const tokens = options.tokens.filter((t) => t.chainId === chainId);
  const mappings = new Map(tokens.map((t) => [t.address, compileEventMappings(t.events, t.address)]));
  const log = options.logger.child({ component: 'chainIngester', chainId });
  const client = options.client ?? createChainClient({ rpcUrls: chain.rpcUrls, timeoutMs: chain.rpcTimeoutMs });
  const workerId = options.workerId ?? `${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  const lease = leaderLease({
    redis,
    key: leaseKey(namespace, chainId),
    holderId: workerId,
    ttlMs: options.leaseTtlMs ?? Math.max(10_000, 5 * chain.pollIntervalMs),
  });
  const checkpoints = checkpointStore(redis, namespace, chainId);
  const history = blockHistory(redis, namespace, chainId, chain.reorgHistory);
  const finality = chain.finality ?? { mode: 'depth' as const, confirmations: chain.confirmations };
  const decimals = new Map<string, number>();
  const eventsSubject = chainEventsSubject(subjectPrefix, chainId);
  const progressSubject = chainProgressSubject(subjectPrefix, chainId);
  const initialBackoff = options.retry?.initialMs ?? 250;
  const maxBackoff = options.retry?.maxMs ?? 30_000;
  const maxEventsPerMessage = options.maxEventsPerMessage ?? MAX_EVENTS_PER_MESSAGE;
  const readAhead = options.readAhead ?? options.chain.readAhead ?? DEFAULT_READ_AHEAD;
  const maxEventsReadAhead = options.maxEventsReadAhead ?? MAX_EVENTS_PER_STEP;

  let running = false;
  let leader = false;
  let progress: ChainProgress | null = null;
  let loop: Promise<void> | null = null;
  let wake: (() => void) | null = null;
  // A head was announced since the last poll began: the next idle sleep is skipped.
  let headAnnounced = false;
  let wakeOnHead = false;
  const heads =
    chain.wsUrls.length > 0
      ? newHeads({
          urls: chain.wsUrls,
          logger: log,
          retry: { initialMs: initialBackoff, maxMs: maxBackoff },
          timeoutMs: chain.rpcTimeoutMs,
          onHead: () => {
            headAnnounced = true;
            if (wakeOnHead) wake?.();
          },
        })
      : null;
  // Head tracking for stall detection (wall clock).
  let lastHead: bigint | null = null;
  let lastHeadMoveAt = 0;
  let stalled = false;
  let behindWarned = false;

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

  /** Sleeps `ms`, cut short by `stop()` and, when `untilHead`, by an announced head. */
  const sleep = (ms: number, untilHead = false) =>
    new Promise<void>((resolve) => {
      if (untilHead && headAnnounced) return resolve();
      wakeOnHead = untilHead;
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        wake = null;
        wakeOnHead = false;
        resolve();
      }
      wake = done;
    });

  /** Reads the decimals of the tokens that lack them, all at once (one round trip). */
  async function loadDecimals(): Promise<void> {
    await Promise.all(
      tokens
        .filter((t) => !decimals.has(t.address))
        .map(async (t) => {
          try {
            const d = await ctx.rpc(() => client.readContract({ address: t.address as Address, abi: erc20DecimalsAbi, functionName: 'decimals' }));
            decimals.set(t.address, Number(d));
          } catch (e) {
            throw new ChainReadError(`decimals() of token ${t.address} on chain ${chainId} failed`, { cause: e });
          }
        }),
    );
  }

  function tokenEvents(addresses: readonly string[]): Map<string, TokenEvents> {
    return new Map(addresses.map((a) => [a, { decimals: decimals.get(a) ?? 0, mappings: mappings.get(a) ?? [] }]));
  }

  async function ensureLeader(): Promise<void> {
    leader = await lease.acquire();
    if (!leader) throw new LeaseLost();
  }

  async function finalHead(head: bigint): Promise<bigint> {
    if (finality.mode === 'depth') return head - BigInt(finality.confirmations);
    const b = await ctx.rpc(() => client.getBlock({ blockTag: finality.tag }));
    return b.number ?? -1n;
  }

  /**
   * Publishes a step's events as one message per block (or chunk of a block) and waits for every
   * ack: up to PUBLISH_WINDOW publishes in flight, a new one sent as each ack arrives. The first
   * failure rejects once every publish has settled (no ack left racing the retry).
   */
  async function publishAll(events: readonly ChainEvent[], stepTokens: readonly string[]): Promise<void> {
    const scope = stepTokens.length === tokens.length ? undefined : tokenScope(stepTokens);
    const messages = chainEventMessages(events, { maxPerMessage: maxEventsPerMessage, ...(scope && { scope }) });
    const inflight = new Set<Promise<unknown>>();
    let failure: { error: unknown } | null = null;
    for (const m of messages) {
      if (failure) break;
      const p: Promise<unknown> = js.publish(eventsSubject, m.data, { msgID: m.msgID }).then(
        () => inflight.delete(p),
        (error: unknown) => {
          inflight.delete(p);
          failure ??= { error };
        },
      );
      inflight.add(p);
      if (inflight.size >= PUBLISH_WINDOW) await Promise.race(inflight);
    }
    await Promise.all(inflight);
    if (failure) throw (failure as { error: unknown }).error;
  }

  /**
   * Publishes everything from the checkpoints up to the final head. Returns true when it should
   * run again at once (a reorg rewound the checkpoints).
   */
  async function syncToFinalHead(): Promise<boolean> {
    // Both in one round trip (the decimals are read once per token, the head on every sync).
    const headRead = ctx.rpc(() => client.getBlockNumber({ cacheTime: 0 }));
    headRead.catch(() => undefined); // awaited below unless the decimals failed
    await loadDecimals();
    const head = await headRead;
    observeHead(head);
    const final = await finalHead(head);
    if (final < 0n) return false;

    // Last block each token has fully published; a token with nothing yet has "reached" the block
    // before its startBlock (there is nothing of it to read below).
    const reached = new Map<string, bigint>();
    for (const t of tokens) reached.set(t.address, (await checkpoints.read(t.address)) ?? t.startBlock - 1n);

    const top = await history.highest();
    if (top && final < top.number) {
      // Our node is behind what we already processed (lagging, or the chain was rolled back and
      // has not grown again): neither is evidence of a reorg. Wait until it passes us.
      if (!behindWarned) log.warn({ final, processed: top.number }, 'final head is behind the last processed block (lagging node or rollback); waiting');
      behindWarned = true;
      return false;
    }
    behindWarned = false;
    if (top && final === top.number) {
      // Nothing new to link by parent hash: check that the last processed block still stands.
      const h = await fetchHeader(ctx, top.number);
      if (h.hash !== top.hash) return handleReorg(`block ${top.number} is now ${h.hash}, we processed ${top.hash}`);
    }

    const reorg = await publishSteps(reached, final);
    if (reorg) return handleReorg(reorg);
    // Tokens whose startBlock lies ahead still let the chain's progress move with the others.
    await publishProgress(reached, final);
    return false;
  }

  /**
   * The step loop of `syncToFinalHead`: reads, stores, publishes and checkpoints one range after
   * another up to `final`, moving `reached`. Reads run ahead of the step being stored and published:
   * one to `readAhead` ranges after it are being fetched (and up to six times as many wait, read,
   * to be used), so the RPC is busy while the engine works and a slow (remote) RPC has several
   * ranges in flight. Range reads are anchored at `final` (chainAnchor.ts). Reads have no
   * effect beyond the header cache, so read-ahead that turns out wrong (a step that does not go as
   * planned) is dropped. Returns why, when a reorg was found; every read has settled by then, so the
   * reorg handling does not race them.
   */
  async function publishSteps(reached: Map<string, bigint>, final: bigint): Promise<string | null> {
    type Planned = { tokens: string[]; range: { from: bigint; to: bigint }; blockMode: boolean; key: string };
    const plan = (at: ReadonlyMap<string, bigint>): Planned | null => {
      const step = nextRange(at, final, chain.maxBlockRange);
      if (!step) return null;
      const blockMode = final - step.range.from < BigInt(chain.tipBlocks);
      const range = blockMode ? { from: step.range.from, to: step.range.from } : step.range;
      return { tokens: step.tokens, range, blockMode, key: `${range.from}:${range.to}:${blockMode}:${step.tokens.join(',')}` };
    };
    const advanced = (at: ReadonlyMap<string, bigint>, p: Planned) => {
      const after = new Map(at);
      for (const a of p.tokens) after.set(a, p.range.to);
      return after;
    };
    // Ranges are read against one anchor, the final head (chainAnchor.ts); a block is read by its
    // hash and needs none.
    const anchor = new ChainAnchor(ctx, final);
    const read = (p: Planned, onFetched: (events: number) => void) => {
      const wanted = tokenEvents(p.tokens);
      // Outside the tip zone, a block's time may come from its logs (readConfirmedLogs.ts).
      const trustLogTimesBelow = final - BigInt(chain.tipBlocks) + 1n;
      const r = p.blockMode ? readBlock(ctx, p.range.from, wanted) : readRange(ctx, p.range, wanted, { anchor, trustLogTimesBelow, onFetched });
      r.catch(() => undefined); // a dropped read's failure is nobody's; a used one's is awaited below
      return r;
    };
    // Reads in step order: ahead[0] is the next step's, each planned as if the ones before it succeed.
    // An entry is `fetched` once its RPC calls are done (a range may still wait for its anchor),
    // `settled` once its read resolved or failed.
    // `events`: the read's event count once fetched (what it holds in memory while it waits).
    type Entry = { key: string; plan: Planned; read: Promise<ReadResult>; fetched: boolean; settled: boolean; events: number; value?: ReadResult };
    const ahead: Entry[] = [];
    let aheadOf = reached as ReadonlyMap<string, bigint>;
    // How many reads to keep fetching: one more (up to readAhead) each time a step had to wait for
    // its read, one fewer (down to 1) each time more than that many read ranges wait. A slow RPC
    // keeps several ranges in flight; a fast one, whose reads would only pile up in memory, one.
    // A sync starts at readAhead: starting at one cost a backfill behind a remote RPC a round trip
    // per step until the depth had grown.
    let depth = readAhead;
    // Reads may start (not while dropping, nor once the loop is over).
    let open = true;
    const fetching = () => {
      let n = 0;
      for (const e of ahead) if (!e.fetched) n++;
      return n;
    };
    const eventsAhead = () => {
      let n = 0;
      for (const e of ahead) n += e.events;
      return n;
    };
    const settledAhead = () => {
      let n = 0;
      for (const e of ahead) if (e.settled) n++;
      return n;
    };
    /**
     * Starts reads while fewer than `limit` are fetching, fewer than 6 × `limit` wait to be used
     * (reads that wait only for their anchor do not hold up the next ones) and those read hold
     * fewer than `maxEventsReadAhead` events. Runs again as
     * each read is fetched, so the RPC stays busy while a step is stored and published. Behind a
     * remote RPC a read waits one or two round trips for its anchor after it was fetched, so with
     * 3 × `limit` the cap, not the RPC, held fetches back (150,000 logs 50 ms away: 0.77–0.85 of
     * the raw rate, 0.88 with 6 ×).
     */
    const fill = (limit: number) => {
      while (open && running && ahead.length < 6 * limit && fetching() < limit && eventsAhead() < maxEventsReadAhead) {
        const p = plan(aheadOf);
        if (!p) return;
        const entry: Entry = { key: p.key, plan: p, read: null as unknown as Promise<ReadResult>, fetched: false, settled: false, events: 0 };
        const fetched = (events: number) => {
          if (entry.fetched) return;
          entry.fetched = true;
          entry.events = events;
          fill(depth);
        };
        entry.read = read(p, fetched);
        entry.read.then(
          (value) => {
            entry.value = value;
            entry.settled = true;
            fetched(value.events.length);
          },
          () => {
            entry.settled = true;
            fetched(0);
          },
        );
        ahead.push(entry);
        aheadOf = advanced(aheadOf, p);
      }
    };
    const drop = async (reopen: boolean) => {
      open = false;
      const dropped = ahead.splice(0);
      aheadOf = reached;
      for (const d of dropped) await d.read.catch(() => undefined);
      open = reopen;
    };
    try {
      while (running) {
        const step = plan(reached);
        if (!step) break;
        const { range, blockMode } = step;
        if (ahead[0]?.key !== step.key) await drop(true);
        fill(Math.max(1, depth));
        // Link the first block to the stored one before it.
        const prev = await history.get(range.from - 1n);
        const next = ahead.shift()!;
        if (!next.settled) depth = Math.min(readAhead, depth + 1);
        else if (settledAhead() > depth) depth = Math.max(Math.min(1, readAhead), depth - 1);
        const first = await next.read;
        if (prev && first.first.parentHash !== prev.hash) {
          return `block ${range.from}'s parent is ${first.first.parentHash}, we processed ${prev.hash} at ${prev.number}`;
        }
        // Ranges read since, confirmed and following on from this one (same tokens, each linked to
        // the one before by parent hash), are stored and published with it as one step: one round
        // of Redis and JetStream waits for all of them. A range that does not link waits for the
        // next step, which finds the reorg as usual.
        const parts = [first];
        let to = range.to;
        let events = first.events.length;
        const tokensKey = step.tokens.join(',');
        while (!blockMode && parts.length < MAX_RANGES_PER_STEP && events < MAX_EVENTS_PER_STEP) {
          const e = ahead[0];
          if (!e?.value || e.plan.blockMode || e.plan.tokens.join(',') !== tokensKey || e.value.first.parentHash !== parts[parts.length - 1]!.last.hash) break;
          ahead.shift();
          parts.push(e.value);
          to = e.plan.range.to;
          events += e.value.events.length;
        }
        fill(depth); // while this step is stored and published

        await ensureLeader();
        const conflicts = await history.put(parts.length === 1 ? first.records : parts.flatMap((r) => r.records));
        if (conflicts.length > 0) return `blocks ${conflicts.join(', ')} changed hash since we processed them`;

        await publishAll(parts.length === 1 ? first.events : parts.flatMap((r) => r.events), step.tokens);
        for (const a of step.tokens) reached.set(a, to);
        await publishProgress(reached, final);
        for (const a of step.tokens) await checkpoints.advance(a, to);
        log.debug({ from: range.from, to, ranges: parts.length, tokens: step.tokens.length, events, blockMode }, 'published');
      }
      return null;
    } finally {
      await drop(false);
    }
  }

  /**
   * A block we processed is no longer canonical. Walks the stored history back to the highest
   * block the node still has with the same hash (the fork point), retracts the events of the
   * orphaned blocks, rewinds every checkpoint beyond the fork point, and forgets the orphans.
   */
  async function handleReorg(why: string): Promise<boolean> {
    await ensureLeader();
    const top = await history.highest();
    if (!top) return true;
    const orphans: BlockRecord[] = [];
    let fork: bigint | null = null;
    let cursor = top.number;
    walk: for (;;) {
      const batch = await history.descending(cursor, 64);
      if (batch.length === 0) break;
      for (const r of batch) {
        const canonical = await fetchHeader(ctx, r.number); // ChainLagging: wait and look again
        if (canonical.hash === r.hash) {
          fork = r.number;
          break walk;
        }
        orphans.push(r);
      }
      cursor = batch[batch.length - 1]!.number - 1n;
    }
    ctx.headers.clear();
    if (orphans.length === 0) return true;
    if (fork === null) {
      fork = orphans[orphans.length - 1]!.number - 1n;
      log.error({ fork, history: chain.reorgHistory }, 'reorg deeper than the stored block history: events of older orphaned blocks cannot be retracted');
    }
    const retracted: string[] = [];
    for (const r of [...orphans].reverse()) {
      if (r.logIndexes.length === 0) continue;
      const eventIds = recordEventIds(chainId, r);
      await ensureLeader();
      await js.publish(
        chainRetractSubject(subjectPrefix, chainId),
        encodeChainRetraction({ chainId, blockNumber: r.number, blockHash: r.hash, eventIds }),
        { msgID: `retract:${chainId}:${r.hash}` },
      );
      retracted.push(...eventIds);
    }
    const rewound: string[] = [];
    for (const t of tokens) if (await checkpoints.rewind(t.address, fork)) rewound.push(t.address);
    await history.deleteAbove(fork);
    log.warn(
      { why, forkPoint: fork, orphanedBlocks: orphans.length, retractedEvents: retracted.length, rewoundTokens: rewound },
      `reorg deeper than the finality depth: ${orphans.length} processed block(s) above ${fork} were orphaned; retracted ${retracted.length} published event(s) and rewound the checkpoints to the fork point ${fork} to re-read the canonical chain`,
    );
    return true;
  }

  /** Publishes the chain's progress at the lowest block every token reached, if it moved. */
  async function publishProgress(reached: Map<string, bigint>, final: bigint): Promise<void> {
    let low = final;
    for (const b of reached.values()) if (b < low) low = b;
    if (low < 0n || (progress && low <= progress.blockNumber)) return;
    const header = ctx.headers.lookup(low) ?? (await fetchHeader(ctx, low));
    const p: ChainProgress = { chainId, blockNumber: low, blockHash: header.hash, blockTime: header.timeMs };
    await js.publish(progressSubject, encodeChainProgress(p), { msgID: `progress:${chainId}:${low}` });
    progress = p;
  }

  function observeHead(head: bigint): void {
    const now = Date.now();
    if (lastHead === null || head > lastHead) {
      if (stalled) {
        log.info({ head, stalledForMs: now - lastHeadMoveAt }, 'chain head moves again');
        void publishStall(false, head, lastHeadMoveAt, now);
      }
      stalled = false;
      lastHead = head;
      lastHeadMoveAt = now;
    }
  }

  function checkStall(): void {
    if (lastHead === null) return;
    const now = Date.now();
    if (!stalled && now - lastHeadMoveAt >= chain.stallTimeoutMs) {
      stalled = true;
      log.warn({ head: lastHead, sinceMs: lastHeadMoveAt, stallTimeoutMs: chain.stallTimeoutMs }, 'chain head stalled: no new block');
      void publishStall(true, lastHead, lastHeadMoveAt, now);
    }
    options.onHeadStatus?.({ chainId, head: lastHead, headAgeMs: now - lastHeadMoveAt, stalled });
  }

  async function publishStall(on: boolean, head: bigint, sinceMs: number, now: number): Promise<void> {
    try {
      await js.publish(
        chainStallSubject(subjectPrefix, chainId),
        encodeChainStall({ chainId, stalled: on, headNumber: head, sinceMs, observedAtMs: now }),
        { msgID: `stall:${chainId}:${head}:${on ? 'on' : 'off'}` },
      );
    } catch (err) {
      log.warn({ err }, 'could not publish the stall notice');
    }
  }

  async function run(): Promise<void> {
    let attempt = 0;
    while (running) {
      let again = false;
      try {
        const wasLeader = leader;
        leader = await lease.acquire();
        if (leader !== wasLeader) log.info({ workerId, leader }, leader ? 'took the chain lease' : 'lost the chain lease');
        if (leader) heads?.start();
        else heads?.stop();
        headAnnounced = false;
        if (leader) again = await syncToFinalHead();
        attempt = 0;
      } catch (e) {
        if (e instanceof LeaseLost) {
          heads?.stop();
          log.warn({ workerId }, 'lost the chain lease mid-sync; standing by');
          continue;
        }
        if (e instanceof ChainLagging) {
          log.info({ reason: e.message }, 'node is behind; waiting for it');
        } else {
          if (leader) checkStall();
          const wait = backoffMs(attempt++, initialBackoff, maxBackoff);
          log.warn({ err: e, backoffMs: wait }, 'chain poll failed; retrying the same range');
          await sleep(wait);
          continue;
        }
      }
      if (leader) checkStall();
      if (!again) await sleep(leader ? chain.pollIntervalMs : Math.min(chain.pollIntervalMs, 1_000), leader);
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
      heads?.stop();
      if (leader) await lease.release().catch((err: unknown) => log.warn({ err }, 'lease release failed'));
      leader = false;
    },
    isLeader: () => leader,
    lastProgress: () => progress,
    stalledSinceMs: () => (stalled ? lastHeadMoveAt : null),
  };
}

class LeaseLost extends Error {}
