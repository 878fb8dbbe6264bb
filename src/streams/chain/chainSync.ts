/**
 * One chain's sync: backfill and follow are one loop over each token's checkpoint up to the final
 * head. More than `tipBlocks` below it, ranges of eth_getLogs (adaptive size); within it, block by
 * block with logs by block hash (readConfirmedLogs.ts). Reads run ahead of the step being stored
 * and published. Every processed block's hash, parent hash and published event ids go to a
 * bounded history in Redis (blockHistory.ts) before its events are published; a block that does
 * not link to its stored predecessor, or a stored block the node no longer has, is a reorg deeper
 * than the finality depth (reorgHandling.ts plans what to retract and rewind).
 *
 * Ordering contract, per step: block records stored → events published and acked → progress
 * published and acked → checkpoint advanced. A crash anywhere re-publishes the step on restart;
 * JetStream drops the duplicates by message id and consumers are idempotent anyway. A retraction
 * is published before the checkpoint is rewound, so a crash in between finds the same orphaned
 * records again and re-publishes the same retraction ids.
 *
 * Events travel as one `.events` message per block (or per chunk of at most
 * `maxEventsPerMessage` events of a big block), message id `chainId:blockHash` (see
 * `chainEventBatchMsgId`): per-event messages would bound a backfill by JetStream's message rate.
 */
import { createHash } from 'node:crypto';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import type { Address, PublicClient } from 'viem';
import type { ChainConfig, TokenConfig } from '../../config/schema.js';
import type { ChainEvent, ChainProgress } from '../../domain/types.js';
import { ChainAnchor } from './chainAnchor.js';
import type { BlockHistory, BlockRecord } from './blockHistory.js';
import type { Checkpoint } from './checkpoint.js';
import { chainEventMessages, encodeChainProgress, encodeChainRetraction } from './chainEventCodec.js';
import { chainSubject } from './chainSubjects.js';
import { chainBlockPrefix, chainPartitionPrefixes } from '../partitions.js';
import type { TokenEvents, compileEventMappings } from './eventMappings.js';
import type { HeadWatch } from './headWatch.js';
import { nextRange } from './nextRange.js';
import { ChainReadError, fetchHeader, readBlock, readRange, type ReadContext, type ReadResult } from './readConfirmedLogs.js';
import { headPosition, linkBreak, planReorg } from './reorgHandling.js';

const erc20DecimalsAbi = [{ type: 'function', name: 'decimals', stateMutability: 'view', inputs: [], outputs: [{ type: 'uint8' }] }] as const;

/** Publishes in flight at once: JetStream keeps one connection's publishes in order. */
const PUBLISH_WINDOW = 256;

/** Most ranges, and events, that one step stores and publishes (ranges already read, taken together). */
const MAX_RANGES_PER_STEP = 16;
export const MAX_EVENTS_PER_STEP = 50_000;

/**
 * Message-id scope of a step that read only some of the chain's tokens (one behind the others):
 * its batch of a block holds only their events, so it must not share an id with the batch of all
 * tokens (JetStream would drop one of the two as a duplicate).
 */
function tokenScope(stepTokens: readonly string[]): string {
  return `t${createHash('sha256')
    .update([...stepTokens].sort().join(','))
    .digest('hex')
    .slice(0, 16)}`;
}

export interface ChainSyncOptions {
  chain: ChainConfig;
  /** This chain's tokens. */
  tokens: readonly TokenConfig[];
  mappings: ReadonlyMap<string, ReturnType<typeof compileEventMappings>>;
  ctx: ReadContext;
  client: PublicClient;
  checkpoints: Checkpoint;
  history: BlockHistory;
  js: JetStreamClient;
  subjectPrefix: string;
  /** Partitions of the chain stream (`nats.partitions.count`; src/streams/partitions.ts). */
  partitions: number;
  log: Logger;
  heads: HeadWatch;
  /** Throws when this worker no longer holds the chain's lease. */
  ensureLeader: () => Promise<void>;
  /** False once the ingester is stopping. */
  running: () => boolean;
  maxEventsPerMessage: number;
  readAhead: number;
  maxEventsReadAhead: number;
}

export interface ChainSync {
  /** Publishes everything up to the final head; true when it should run again at once (a reorg rewound the checkpoints). */
  syncToFinalHead(): Promise<boolean>;
  /** The last progress published, if any. */
  lastProgress(): ChainProgress | null;
}

/** The sync of one chain's tokens; see the module comment. */
export function chainSync(o: ChainSyncOptions): ChainSync {
  const { chain, tokens, mappings, ctx, client, checkpoints, history, js, subjectPrefix, log, ensureLeader } = o;
  const chainId = chain.chainId;
  const finality = chain.finality ?? { mode: 'depth' as const, confirmations: chain.confirmations };
  const decimals = new Map<string, number>();
  // A block's events and its retraction go to the block's partition; progress to every partition.
  const blockSubject = (blockHash: string, kind: 'events' | 'retract') => chainSubject(chainBlockPrefix(subjectPrefix, blockHash, o.partitions), chainId, kind);
  const progressSubjects = chainPartitionPrefixes(subjectPrefix, o.partitions).map((prefix) => chainSubject(prefix, chainId, 'progress'));
  const { maxEventsPerMessage, readAhead, maxEventsReadAhead } = o;
  let progress: ChainProgress | null = null;
  let behindWarned = false;

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
      const p: Promise<unknown> = js.publish(blockSubject(m.blockHash, 'events'), m.data, { msgID: m.msgID }).then(
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
    o.heads.observe(head);
    const final = await finalHead(head);
    if (final < 0n) return false;

    // Last block each token has fully published; a token with nothing yet has "reached" the block
    // before its startBlock (there is nothing of it to read below).
    const reached = new Map<string, bigint>();
    for (const t of tokens) reached.set(t.address, (await checkpoints.read(t.address)) ?? t.startBlock - 1n);

    const top = await history.highest();
    const position = headPosition(final, top);
    if (position === 'behind') {
      // Our node is behind what we already processed (lagging, or the chain was rolled back and
      // has not grown again): neither is evidence of a reorg. Wait until it passes us.
      if (!behindWarned) log.warn({ final, processed: top!.number }, 'final head is behind the last processed block (lagging node or rollback); waiting');
      behindWarned = true;
      return false;
    }
    behindWarned = false;
    if (position === 'level' && top) {
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
      while (open && o.running() && ahead.length < 6 * limit && fetching() < limit && eventsAhead() < maxEventsReadAhead) {
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
      while (o.running()) {
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
        const broken = linkBreak(prev, { number: range.from, parentHash: first.first.parentHash });
        if (broken) return broken;
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
   * block the node still has with the same hash (the fork point; reorgHandling.ts plans from
   * what the walk found), retracts the events of the orphaned blocks, rewinds every checkpoint
   * beyond the fork point, and forgets the orphans.
   */
  async function handleReorg(why: string): Promise<boolean> {
    await ensureLeader();
    const top = await history.highest();
    if (!top) return true;
    const walked: BlockRecord[] = [];
    const canonical = new Map<bigint, string>();
    let cursor = top.number;
    walk: for (;;) {
      const batch = await history.descending(cursor, 64);
      if (batch.length === 0) break;
      for (const r of batch) {
        const h = await fetchHeader(ctx, r.number); // ChainLagging: wait and look again
        walked.push(r);
        canonical.set(r.number, h.hash);
        if (h.hash === r.hash) break walk;
      }
      cursor = batch[batch.length - 1]!.number - 1n;
    }
    ctx.headers.clear();
    const plan = planReorg(chainId, walked, (n) => canonical.get(n));
    if (!plan) return true;
    if (plan.beyondHistory) log.error({ fork: plan.fork, history: chain.reorgHistory }, 'reorg deeper than the stored block history: events of older orphaned blocks cannot be retracted');
    for (const r of plan.retractions) {
      await ensureLeader();
      await js.publish(blockSubject(r.blockHash, 'retract'), encodeChainRetraction({ chainId, blockNumber: r.blockNumber, blockHash: r.blockHash, eventIds: r.eventIds }), {
        msgID: r.msgId,
      });
    }
    const retracted = plan.retractions.reduce((n, r) => n + r.eventIds.length, 0);
    const rewound: string[] = [];
    for (const t of tokens) if (await checkpoints.rewind(t.address, plan.fork)) rewound.push(t.address);
    await history.deleteAbove(plan.fork);
    log.warn(
      { why, forkPoint: plan.fork, orphanedBlocks: plan.orphans.length, retractedEvents: retracted, rewoundTokens: rewound },
      `reorg deeper than the finality depth: ${plan.orphans.length} processed block(s) above ${plan.fork} were orphaned; retracted ${retracted} published event(s) and rewound the checkpoints to the fork point ${plan.fork} to re-read the canonical chain`,
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
    await Promise.all(progressSubjects.map((subject) => js.publish(subject, encodeChainProgress(p), { msgID: `progress:${chainId}:${low}` })));
    progress = p;
  }

  return { syncToFinalHead, lastProgress: () => progress };
}
