import { hash } from 'node:crypto';
import { aggregateChainBlock, aggregateWatermarks, watermarkField, type LedgerPartitionMark } from '../domain/partitionWatermarks.js';
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { ExpiryPairing, ManualMatchOutcome, Outcome, ProposalDecision, RetractionOutcome, StoredLeg } from '../domain/outcomes.js';
import { findSplit } from '../domain/subsetSum.js';
import { DEFAULT_MATCHING_RULES, type MatchingRuleSet } from '../matching/ruleFile.js';
import { encodeProbes, probesFor } from '../matching/ruleCascade.js';
import type { Leg, PostingStatus, Side } from '../domain/types.js';
import { ScriptError } from '../lib/errors.js';
import { shardedLeg, shardOf, shardPrefixes, type ShardKeyMode } from '../domain/stateShards.js';
import { routedScripts } from './routedScripts.js';
import { inScript, asScriptError } from './scriptErrors.js';
import { scanKeys } from './shardLayout.js';

const lua = (name: string) => readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');
/** A script with the shared layout (records, pools, indexes) in front of it. */
const withLib = (name: string) => `${lua('lib')}\n${lua(name)}`;

// crypto.hash: one call, no Hash object (~0.7 µs against ~2 µs here for a short string).
const sha1hex = (s: string) => hash('sha1', s, 'hex');

/** The short handle under which Redis keys a leg (see lua/lib.lua): 16 hex of sha1(legId). */
export const legHandle = (legId: string) => sha1hex(legId).slice(0, 16);

/**
 * Ids of identity tuples (lua/lib.lua internTuple: 12 hex of sha1 of side, flow, account, wallet,
 * currency and token key), remembered: the mapped identities are a bounded set.
 */
const tupleIds = new Map<string, string>();
function tupleId(l: Leg): string {
  const tup = `${l.side}\x1f${l.flow}\x1f${l.accountId}\x1f${l.wallet}\x1f${l.currency}\x1f${l.tokenKey}`;
  let id = tupleIds.get(tup);
  if (id === undefined) {
    if (tupleIds.size >= 100_000) tupleIds.clear();
    id = sha1hex(tup).slice(0, 12);
    tupleIds.set(tup, id);
  }
  return id;
}

const CHAIN_LEG_ID = /^chain:(\d+):0x([0-9a-fA-F]+):(\d+)$/;
/** lua/lib.lua packId: a chain leg id with its 32-byte hash in binary, or '' when the id is stored as it is. */
function packedLegId(legId: string): string | Buffer {
  const m = CHAIN_LEG_ID.exec(legId);
  if (!m || m[2]!.length !== 64 || m[2] !== m[2]!.toLowerCase()) return '';
  return Buffer.concat([Buffer.from(`\x01${m[1]}:${m[3]}:`, 'latin1'), Buffer.from(m[2]!, 'hex')]);
}

/**
 * The legs of one match-or-park call as one argument: each leg's values in order, each as a 4-byte
 * big-endian length and its bytes (what the script reads with `struct.unpack('>I4c0…')`). One
 * argument instead of 18 per leg: the client builds the command without a string and a length
 * per value (~7 µs per leg when the packed chain ids made every value a buffer; measured 2026-12-05),
 * and Redis receives one bulk string. Binary values (packed chain ids) travel as they are.
 */
function packLegs(batch: readonly QueuedLeg[]): Buffer {
  let size = 0;
  for (const q of batch) for (const a of q.args) size += 4 + (typeof a === 'string' ? Buffer.byteLength(a) : Buffer.isBuffer(a) ? a.length : Buffer.byteLength(String(a)));
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const q of batch) {
    for (const a of q.args) {
      let n: number;
      if (Buffer.isBuffer(a)) n = a.copy(out, at + 4);
      else n = out.write(typeof a === 'string' ? a : String(a), at + 4);
      out.writeUInt32BE(n, at);
      at += 4 + n;
    }
  }
  return out;
}

/** Legs per match-or-park script call at most (a call holds Redis for ~10-30 µs per leg). */
const MATCH_BATCH = 256;

/** How many deadline-bucket entries one expiry script call may look at (matched legs are skipped lazily). */
const SWEEP_BUDGET = 20_000;

export interface CorrelationResult {
  /** True when Redis had already applied this leg: its facts may already be durable. */
  replayed: boolean;
  outcome: Outcome;
}

export interface MatchStoreOptions {
  /**
   * Namespace of this deployment; keys are `${namespace}:{m}:…` (one hash tag: one Cluster slot),
   * or with `shards` > 1 `${namespace}:{m<i>}:…` per shard (src/domain/stateShards.ts).
   */
  namespace: string;
  /** Number of shards of the match state (default 1: today's single `{m}` tag). */
  shards?: number;
  /** What a leg's shard is derived from (default `account`; src/domain/stateShards.ts). */
  shardKey?: ShardKeyMode;
  /** Window + allowed lateness: the largest event-time distance between two legs that match. */
  toleranceMs: number;
  /** Window: a parked leg's deadline is its event time + windowMs, against the other side's watermark. */
  windowMs: number;
  retentionMs: number;
  /** How long a claimed expiry may stay unconfirmed before another worker claims it again. */
  claimVisibilityMs?: number;
  /** Deadline-bucket entries one expiry script call may look at before yielding (default 20,000). */
  sweepBudget?: number;
  /**
   * Refuse to match while `${prefix}epoch` is missing (Redis restarted empty); a worker sets it
   * once the state is rebuilt from the facts (src/state/stateGuard.ts).
   */
  requireEpoch?: boolean;
  /** Called with the number of legs of every match-or-park script call (a metric of how well calls are shared). */
  onMatchCall?: (legs: number) => void;
  /** The matching rule set in force (hot-reloaded by the caller); default: reference, then account + exact amount. */
  rules?: () => MatchingRuleSet;
  /** Partitions of the ledger and chain streams (default 1): each advances watermarks of its own (src/domain/partitionWatermarks.ts). */
  partitions?: number;
}

export interface Watermarks {
  ledger: number;
  ledgerSeenAt: number;
  chain: number;
  chainSeenAt: number;
  /** Each partition's ledger feed (one without partitioned streams): the sweeper's idle rule is per partition. */
  ledgerPartitions: LedgerPartitionMark[];
}

interface MatchCommands {
  reconMatchOrPark(...args: (string | number | Buffer)[]): Promise<string[]>;
  reconExpire(...args: (string | number)[]): Promise<string>;
  reconGc(...args: (string | number)[]): Promise<number>;
  reconAdvanceWatermark(...args: (string | number)[]): Promise<number>;
  reconRetract(...args: (string | number)[]): Promise<string>;
  reconRestore(...args: (string | number)[]): Promise<number>;
  reconDecideProposal(...args: (string | number)[]): Promise<string>;
  reconPairExpired(...args: (string | number)[]): Promise<string>;
  reconReverseLeg(...args: (string | number)[]): Promise<string>;
  reconManualMatch(...args: (string | number)[]): Promise<string>;
  reconOpenLegs(...args: (string | number)[]): Promise<string>;
  reconClaimSplit(...args: (string | number)[]): Promise<string>;
}

/** A leg rebuilt from the facts, with the state they imply (src/state/stateGuard.ts). */
export interface RestoredLeg {
  leg: Leg;
  status: PostingStatus;
  state: string;
  /** x (counterpart leg id), mid, by, rs, d, as the facts say. */
  extra: Record<string, string>;
}

type QueuedLeg = { args: (string | number | Buffer)[]; resolve: (r: CorrelationResult) => void; reject: (e: unknown) => void };

/** Groups items by the shard `shardOf` gives each, keeping their order within a shard. */
function byShard<T>(items: readonly T[], shardOf: (t: T) => number): Map<number, T[]> {
  const out = new Map<number, T[]>();
  for (const t of items) {
    const s = shardOf(t);
    const list = out.get(s);
    if (list) list.push(t);
    else out.set(s, [t]);
  }
  return out;
}

/** The Redis-held matching windows: atomic Lua scripts over legs, indexes, deadlines and watermarks. */

export class MatchStore {
  /**
   * The prefix of the state shared by every shard (watermarks, chain blocks, feed stalls, the
   * rebuild lock, drift episodes, the stored shard count): `${namespace}:{m}:`. With one shard it
   * is also that shard's prefix, so an unsharded deployment keeps every key name.
   */
  readonly prefix: string;
  /** The prefix of each shard (index = shard number); `[prefix]` with one shard. */
  readonly shardPrefixes: readonly string[];
  private readonly redis: Redis;
  private readonly cmd: MatchCommands;
  private readonly shardKey: ShardKeyMode;
  /** Legs waiting to be sent, per shard: one script call per shard present in a flush. */
  private queued = new Map<number, QueuedLeg[]>();
  private flushScheduled = false;

  constructor(
    redis: Redis,
    private readonly options: MatchStoreOptions,
  ) {
    this.prefix = `${options.namespace}:{m}:`;
    this.shardPrefixes = shardPrefixes(options.namespace, options.shards ?? 1);
    this.shardKey = options.shardKey ?? 'account';
    // Routed by their first argument, a prefix: on Redis Cluster the node of its slot runs them.
    this.cmd = routedScripts(redis, {
      reconMatchOrPark: withLib('matchOrPark'),
      reconExpire: withLib('expire'),
      reconGc: withLib('gc'),
      reconAdvanceWatermark: lua('advanceWatermark'),
      reconRetract: withLib('retract'),
      reconRestore: withLib('restore'),
      reconDecideProposal: withLib('decideProposal'),
      reconPairExpired: withLib('pairExpired'),
      reconReverseLeg: withLib('reverseLeg'),
      reconManualMatch: withLib('manualMatch'),
      reconOpenLegs: withLib('openLegs'),
      reconClaimSplit: withLib('claimSplit'),
    }) as unknown as MatchCommands;
    this.redis = redis;
  }

  /**
   * Matches the leg with a counterpart of the other side, or parks it until its window closes.
   * Calls made in the same turn of the event loop go to Redis together, as one script call that
   * applies them one after the other in call order (see `flushMatches`).
   */
  matchOrPark(leg: Leg, status: PostingStatus): Promise<CorrelationResult> {
    const rules = this.options.rules?.() ?? DEFAULT_MATCHING_RULES;
    const o = this.options;
    const defaults = { attributeWindowMs: o.toleranceMs, referenceWindowMs: o.retentionMs };
    const arrival = encodeProbes(probesFor(rules, leg, 'arrival', defaults), leg.amountKey);
    const shard = this.shardOfLeg(leg);
    return new Promise((resolve, reject) => {
      let q = this.queued.get(shard);
      if (!q) this.queued.set(shard, (q = []));
      q.push({
        args: [
          leg.legId,
          leg.side,
          leg.flow,
          leg.accountId,
          leg.wallet,
          leg.currency,
          leg.tokenKey,
          leg.amountKey,
          leg.amountNative,
          leg.eventTime,
          leg.reference ?? '',
          leg.fingerprint,
          status,
          legHandle(leg.legId),
          arrival,
          tupleId(leg),
          packedLegId(leg.legId),
          sha1hex(leg.amountKey).slice(0, 1),
        ],
        resolve,
        reject,
      });
      if (q.length >= MATCH_BATCH) this.flushMatches();
      else if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flushMatches());
      }
    });
  }

  /** The shard of a leg, or of a stored leg (src/domain/stateShards.ts). */
  shardOfLeg(l: Pick<Leg, 'accountId' | 'reference'> | { a: string; r: string }): number {
    return shardOf(shardedLeg(l), this.shardPrefixes.length, this.shardKey);
  }

  /**
   * The shard that holds a leg known only by its id: the first whose records have it (one HEXISTS
   * per shard), else shard 0, where the scripts answer `unknown` without writing. One shard: 0.
   */
  async shardOfId(legId: string): Promise<number> {
    return (await this.locate(legId)) ?? 0;
  }

  /** The shard whose records have this leg, or null (with one shard: 0 without asking). */
  private async locate(legId: string): Promise<number | null> {
    if (this.shardPrefixes.length === 1) return 0;
    const h = legHandle(legId);
    const found = await Promise.all(this.shardPrefixes.map((p) => this.redis.hexists(`${p}L:${h.slice(0, 2)}`, h)));
    const i = found.indexOf(1);
    return i < 0 ? null : i;
  }

  /** Sends the queued legs: one script call per shard present (see `flushShard`). */
  private flushMatches(): void {
    this.flushScheduled = false;
    const queued = this.queued;
    this.queued = new Map();
    for (const [shard, batch] of queued) this.flushShard(shard, batch);
  }

  /**
   * Sends one shard's queued legs as one script call (in order: Redis applies them one after the
   * other, as if called one by one). A failed call (Redis down, state lost) rejects every leg in
   * it; a leg the script could not apply rejects alone.
   */
  private flushShard(shard: number, batch: QueuedLeg[]): void {
    if (batch.length === 0) return;
    const o = this.options;
    o.onMatchCall?.(batch.length);
    // Through a promise, so that even a synchronous throw rejects the legs instead of stranding them.
    Promise.resolve()
      .then(() => this.cmd.reconMatchOrPark(this.shardPrefixes[shard]!, o.toleranceMs, o.retentionMs, o.windowMs, o.requireEpoch ? '1' : '', packLegs(batch)))
      .then(
        (reply) => {
          // Two strings per leg (lua/matchOrPark.lua): '0' or '1' (replayed) and the outcome's JSON, or 'e' and the error.
          batch.forEach((q, i) => {
            const flag = reply[2 * i];
            const body = reply[2 * i + 1];
            if (flag === undefined || body === undefined) q.reject(new Error(`matchOrPark returned ${reply.length / 2} results for ${batch.length} legs`));
            else if (flag === 'e') q.reject(new ScriptError(`The match script could not apply leg ${String(q.args[0])}.`, { details: body }));
            else {
              try {
                q.resolve({ replayed: flag === '1', outcome: JSON.parse(body) as Outcome });
              } catch (e) {
                q.reject(new ScriptError(`The match script answered leg ${String(q.args[0])} with an outcome that is not JSON.`, { details: String(e) }));
              }
            }
          });
        },
        (e: unknown) => {
          for (const q of batch) q.reject(asScriptError('matchOrPark', e));
        },
      );
  }

  /** Retracts a chain leg orphaned by a deep reorg and re-opens its counterpart (idempotent). */
  async retract(legId: string): Promise<{ replayed: boolean; outcome: RetractionOutcome }> {
    const p = this.shardPrefixes[await this.shardOfId(legId)]!;
    const raw = await inScript('retract', () => this.cmd.reconRetract(p, legId, this.options.windowMs));
    const parsed = JSON.parse(raw) as { replayed: number; outcome: RetractionOutcome };
    return { replayed: parsed.replayed === 1, outcome: parsed.outcome };
  }

  /**
   * Claims up to `limit` legs of `side` whose deadline has passed `watermark`; they are now expired.
   * Shards are swept in turn, starting one further at each call so that none waits behind another.
   */
  async claimExpired(side: Side, watermark: number, limit: number, now = Date.now()): Promise<StoredLeg[]> {
    const claimed: StoredLeg[] = [];
    const n = this.shardPrefixes.length;
    const first = this.sweepStart++ % n;
    for (let i = 0; i < n && claimed.length < limit; i++) await this.claimExpiredIn(this.shardPrefixes[(first + i) % n]!, side, watermark, limit, now, claimed);
    return claimed;
  }

  private sweepStart = 0;

  private async claimExpiredIn(prefix: string, side: Side, watermark: number, limit: number, now: number, claimed: StoredLeg[]): Promise<void> {
    // One call looks at a bounded number of deadline entries (most belong to legs matched since);
    // go on while it says due buckets remain and the limit is not reached.
    for (;;) {
      const raw = await inScript('expire', () =>
        this.cmd.reconExpire(
          prefix,
          side,
          watermark,
          limit - claimed.length,
          now,
          this.options.claimVisibilityMs ?? 30_000,
          this.options.windowMs,
          this.options.sweepBudget ?? SWEEP_BUDGET,
          this.options.retentionMs,
        ),
      );
      // cjson encodes an empty Lua table as {}.
      const r = JSON.parse(raw) as { l: StoredLeg[] | Record<string, never>; more: number };
      if (Array.isArray(r.l)) claimed.push(...r.l);
      if (r.more !== 1 || claimed.length >= limit) return;
    }
  }

  /**
   * An operator's decision on a proposal (atomic, at most once; a repeat returns the stored
   * decision with replayed = true). The caller writes `factsOfDecision` afterwards: the decision
   * is stored first so that a crash before the facts are durable is mended by deciding again.
   */
  async decideProposal(pid: string, bankLegId: string, chainLegId: string, decision: 'confirm' | 'reject'): Promise<{ replayed: boolean; outcome: ProposalDecision }> {
    // A proposal pairs legs of one shard (it was made by a script of that shard).
    const p = this.shardPrefixes[await this.shardOfId(bankLegId)]!;
    const raw = await inScript('decideProposal', () => this.cmd.reconDecideProposal(p, pid, bankLegId, chainLegId, decision, this.options.windowMs));
    const parsed = JSON.parse(raw) as { replayed?: number; outcome: ProposalDecision };
    return { replayed: parsed.replayed === 1, outcome: parsed.outcome };
  }

  /**
   * The expiry rules of claimed legs whose window closed without a counterpart (no-op without such
   * rules): each leg a rule pairs gets its `pair` (and, paired as one mismatch, that discrepancy as
   * its `d`). Call before writing the legs' facts; repeated, it returns the same pairings.
   */
  async pairExpired(legs: StoredLeg[]): Promise<void> {
    await this.pairByRules(legs);
    if (this.shardPrefixes.length > 1) await this.noteOtherShards(legs);
  }

  /**
   * A closing leg with a reference whose counterpart by that reference waits in another shard
   * (legs of two shards are never paired: docs/architecture.md#sharded-state): its note, and so
   * its discrepancy's reason, names that shard, so the operator sees why it was not matched.
   */
  private async noteOtherShards(legs: StoredLeg[]): Promise<void> {
    for (const l of legs) {
      if (l.pair || l.state !== 'expired' || !l.r) continue;
      const own = this.shardOfLeg(l);
      const other = l.s === 'bank' ? 'chain' : 'bank';
      const field = `r:${l.f}:${other}:${sha1hex(l.r).slice(0, 3)}`;
      const found = await Promise.all(this.shardPrefixes.map((p, i) => (i === own ? null : this.redis.hget(`${p}${field}`, l.r))));
      const shards = found.flatMap((v, i) => (v ? [i] : []));
      if (shards.length === 0) continue;
      const note = `a ${other} leg with reference ${l.r} waits in state shard ${shards.join(', ')}, this leg is in shard ${own}: legs of different shards are not paired (docs/runbook.md#sharded-state)`;
      l.note = l.note ? `${l.note}; ${note}` : note;
    }
  }

  private async pairByRules(legs: StoredLeg[]): Promise<void> {
    const rules = this.options.rules?.();
    if (!rules?.rules.some((r) => r.stage === 'expiry')) return;
    const single = rules.rules.some((r) => r.stage === 'expiry' && !r.split);
    const defaults = { attributeWindowMs: this.options.toleranceMs, referenceWindowMs: this.options.retentionMs };
    const todo: { leg: StoredLeg; probes: string }[] = [];
    for (const l of legs) {
      if (!single || l.pair || l.state !== 'expired' || l.rem) continue;
      const probes = encodeProbes(probesFor(rules, { side: l.s, flow: l.f, accountId: l.a, currency: l.c, amountKey: l.m }, 'expiry', defaults).filter((p) => !p.split));
      if (probes) todo.push({ leg: l, probes });
    }
    // One call per shard present: a leg is paired within its own shard.
    for (const [s, part] of byShard(todo, (t) => this.shardOfLeg(t.leg))) await this.pairSingle(this.shardPrefixes[s]!, part);
    await this.searchSplits(legs, rules);
  }

  private async pairSingle(prefix: string, todo: { leg: StoredLeg; probes: string }[]): Promise<void> {
    const args: (string | number)[] = [prefix, this.options.windowMs];
    for (const t of todo) args.push(t.leg.id, t.probes);
    const raw = await inScript('pairExpired', () => this.cmd.reconPairExpired(...args));
    const pairs = JSON.parse(raw) as (NonNullable<StoredLeg['pair']> | false)[] | Record<string, never>;
    if (!Array.isArray(pairs)) return;
    todo.forEach((t, i) => {
      const p = pairs[i];
      if (!p) return;
      t.leg.pair = p;
      t.leg.state = p.t === 'match' ? 'matched' : p.t === 'proposal' ? 'proposed' : 'mismatched';
      if (p.t === 'mismatch') t.leg.d = p.discrepancyId;
    });
  }

  /**
   * Split rules (expiry, account and amount, split): for each closing leg still unpaired, the open
   * legs of the other side inside the rule's window are read, searched for a subset adding up to the
   * leg's amount (src/domain/subsetSum.ts, bounded), and the split claimed atomically.
   */
  private async searchSplits(legs: StoredLeg[], rules: MatchingRuleSet): Promise<void> {
    if (!rules.rules.some((r) => r.stage === 'expiry' && r.split)) return;
    const defaults = { attributeWindowMs: this.options.toleranceMs, referenceWindowMs: this.options.retentionMs };
    for (const l of legs) {
      if (l.pair || l.state !== 'expired' || l.rem) continue;
      const probes = probesFor(rules, { side: l.s, flow: l.f, accountId: l.a, currency: l.c, amountKey: l.m }, 'expiry', defaults).filter((p) => p.split);
      const prefix = this.shardPrefixes[this.shardOfLeg(l)]!;
      for (const p of probes) {
        const raw = await inScript('openLegs', () => this.cmd.reconOpenLegs(prefix, l.id, l.t - p.windowMs, Math.min(l.t + p.windowMs, l.t + this.options.windowMs), p.maxLegs));
        const open = JSON.parse(raw) as { state: string; legs?: { id: string; m: string; t: number }[] };
        if (open.state !== 'expired' || !open.legs) break;
        const found = findSplit(
          { lo: p.lo, hi: p.hi },
          open.legs.map((x) => ({ id: x.id, amountKey: x.m, eventTime: x.t })),
          { maxLegs: p.maxLegs, maxParts: p.maxParts },
        );
        if (found.t === 'bounded') {
          l.note = `${found.reason} (rule ${p.rule})`;
          continue;
        }
        if (found.t !== 'found') continue;
        const claimed = await inScript('claimSplit', () => this.cmd.reconClaimSplit(prefix, l.id, p.rule, p.confidence === 'confirmed' ? 'c' : 'p', ...found.parts.map((x) => x.id)));
        const pair = JSON.parse(claimed) as ExpiryPairing | { t: 'stale' };
        if (pair.t === 'stale') continue;
        l.pair = pair;
        l.state = pair.t === 'split' ? 'matched' : 'proposed';
        break;
      }
    }
  }

  /**
   * Reverses a bank leg because an entry of its own reversed it (not a status update of the same
   * entry): the outcome a status update to 'reversed' would have had, and the leg as stored.
   */
  async reverseLeg(legId: string, reversingEntryId: string): Promise<{ replayed: boolean; outcome: Outcome | { t: 'unknown' }; leg?: StoredLeg }> {
    const p = this.shardPrefixes[await this.shardOfId(legId)]!;
    const raw = await inScript('reverseLeg', () => this.cmd.reconReverseLeg(p, legId, reversingEntryId));
    const parsed = JSON.parse(raw) as { replayed?: number; outcome: Outcome | { t: 'unknown' }; leg?: StoredLeg };
    return { replayed: parsed.replayed === 1, outcome: parsed.outcome, ...(parsed.leg && { leg: parsed.leg }) };
  }

  /**
   * An operator matches two open legs by hand, or undoes a match (atomic against the stream;
   * idempotent). Two legs in different shards cannot be matched (one script, one slot): refused.
   */
  async manualMatch(op: 'match' | 'unmatch', bankLegId: string, chainLegId: string): Promise<{ replayed: boolean; outcome: ManualMatchOutcome }> {
    const [sb, sc] = await Promise.all([this.locate(bankLegId), this.locate(chainLegId)]);
    if (sb !== null && sc !== null && sb !== sc) {
      const reason = `${bankLegId} is in state shard ${sb} and ${chainLegId} in shard ${sc}: legs of different shards cannot be matched (docs/runbook.md#sharded-state)`;
      return { replayed: false, outcome: { t: 'refused', reason } };
    }
    // An unknown leg: the script of the other's shard refuses it, naming it.
    const p = this.shardPrefixes[sb ?? sc ?? 0]!;
    const raw = await inScript('manualMatch', () => this.cmd.reconManualMatch(p, op, bankLegId, chainLegId, this.options.windowMs));
    const parsed = JSON.parse(raw) as { replayed?: number; outcome: ManualMatchOutcome };
    return { replayed: parsed.replayed === 1, outcome: parsed.outcome };
  }

  /** Confirms that the discrepancies of these claimed legs are durable. */
  async ackClaimed(legIds: readonly string[]): Promise<void> {
    if (legIds.length === 0) return;
    // By id only: removed from every shard's claims (a handle is claimed in its own shard alone).
    const handles = legIds.map(legHandle);
    await Promise.all(this.shardPrefixes.map((p) => this.redis.zrem(`${p}claimed`, ...handles)));
  }

  private get partitions(): number {
    return this.options.partitions ?? 1;
  }

  /** Raises a source's watermark in `partition` of the streams (never lowers it). */
  async advanceWatermark(source: 'ledger' | 'chain', eventTime: number, now = Date.now(), partition = 0): Promise<void> {
    const field = watermarkField(source, partition, this.partitions);
    await inScript('advanceWatermark', () => this.cmd.reconAdvanceWatermark(this.prefix, field, eventTime, now));
  }

  /** Records that every event of `chainId` up to `blockNumber` in `partition` is durable (monotonic). */
  async advanceChainBlock(chainId: number, blockNumber: bigint, now = Date.now(), partition = 0): Promise<void> {
    const field = watermarkField(`chain:${chainId}:block`, partition, this.partitions);
    await inScript('advanceWatermark', () => this.cmd.reconAdvanceWatermark(this.prefix, field, blockNumber.toString(), now));
  }

  /** Records that a worker bound to `partition` found its ledger consumer with nothing pending. */
  async markLedgerDrained(partition: number, now = Date.now()): Promise<void> {
    await this.redis.hset(`${this.prefix}wm`, `${watermarkField('ledger', partition, this.partitions)}:drained`, String(now));
  }

  /** The highest block of `chainId` whose events are all durable (in every partition), or null before the first. */
  async chainBlock(chainId: number): Promise<bigint | null> {
    if (this.partitions > 1) {
      const fields = Array.from({ length: this.partitions }, (_, p) => watermarkField(`chain:${chainId}:block`, p, this.partitions));
      const values = await this.redis.hmget(`${this.prefix}wm`, ...fields);
      return aggregateChainBlock(Object.fromEntries(fields.map((f, i) => [f, values[i] ?? null])), chainId, this.partitions);
    }
    const v = await this.redis.hget(`${this.prefix}wm`, `chain:${chainId}:block`);
    return v === null ? null : BigInt(v);
  }

  async watermarks(): Promise<Watermarks> {
    const h = await this.redis.hgetall(`${this.prefix}wm`);
    if (this.partitions > 1) return aggregateWatermarks(h, this.partitions);
    const n = (k: string) => (h[k] === undefined ? -1 : Number(h[k]));
    const ledger = { ledger: n('ledger'), seenAt: n('ledger:seen'), drainedAt: n('ledger:drained') };
    return { ledger: ledger.ledger, ledgerSeenAt: ledger.seenAt, chain: n('chain'), chainSeenAt: n('chain:seen'), ledgerPartitions: [ledger] };
  }

  /** Forgets legs whose retention has passed the watermark, in every shard (up to `limit` each); returns how many. */
  async gc(watermark: number, limit = 1_000): Promise<number> {
    let n = 0;
    for (const p of this.shardPrefixes) n += await inScript('gc', () => this.cmd.reconGc(p, watermark, limit, this.options.retentionMs));
    return n;
  }

  /** Number of legs currently waiting for a counterpart, per side (exact counters the scripts keep, summed over the shards). */
  async parkedCount(): Promise<{ bank: number; chain: number }> {
    const per = await this.parkedPerShard();
    return per.reduce((a, b) => ({ bank: a.bank + b.bank, chain: a.chain + b.chain }), { bank: 0, chain: 0 });
  }

  /** The parked counters of each shard (index = shard). */
  async parkedPerShard(): Promise<{ bank: number; chain: number }[]> {
    return Promise.all(
      this.shardPrefixes.map(async (p) => {
        const [bank, chain] = await this.redis.hmget(`${p}n`, 'bank', 'chain');
        return { bank: Number(bank ?? 0), chain: Number(chain ?? 0) };
      }),
    );
  }

  /** Whether Redis still remembers this leg (false once it has been forgotten after its retention). */
  async knows(legId: string): Promise<boolean> {
    const h = legHandle(legId);
    const p = this.shardPrefixes[await this.shardOfId(legId)]!;
    return (await this.redis.hexists(`${p}L:${h.slice(0, 2)}`, h)) === 1;
  }

  /** Bytes of the stored record of one leg (the bench's per-leg sample), or 0 when unknown. */
  async recordBytes(legId: string): Promise<number> {
    const h = legHandle(legId);
    const p = this.shardPrefixes[await this.shardOfId(legId)]!;
    return this.redis.hstrlen(`${p}L:${h.slice(0, 2)}`, h);
  }

  /**
   * Writes legs rebuilt from the facts (flagged as rebuilt), with their indexes, each into its
   * shard (one script call per shard present); returns how many.
   */
  async restore(legs: readonly RestoredLeg[]): Promise<number> {
    let n = 0;
    for (const [s, part] of byShard(legs, (r) => this.shardOfLeg(r.leg))) n += await this.restoreIn(this.shardPrefixes[s]!, part);
    return n;
  }

  private async restoreIn(prefix: string, legs: readonly RestoredLeg[]): Promise<number> {
    const o = this.options;
    const args: (string | number)[] = [prefix, o.windowMs, o.retentionMs];
    for (const { leg: l, status, state, extra: x } of legs) {
      args.push(
        l.legId,
        l.side,
        l.flow,
        l.accountId,
        l.wallet,
        l.currency,
        l.tokenKey,
        l.amountKey,
        l.amountNative,
        l.eventTime,
        l.reference ?? '',
        l.fingerprint,
        status,
        state,
        x.x ?? '',
        x.mid ?? '',
        x.by ?? '',
        x.rs ?? '',
        x.d ?? '',
      );
    }
    return legs.length === 0 ? 0 : inScript('restore', () => this.cmd.reconRestore(...args));
  }

  /** Deletes every key of this namespace's match state, shared and per shard (tests and `recon reset`). */
  async clear(): Promise<void> {
    for (const prefix of new Set([this.prefix, ...this.shardPrefixes])) {
      // One DEL per page: the keys of one prefix share its slot, so a cluster takes them together.
      for await (const keys of scanKeys(this.redis, `${prefix}*`)) await this.redis.del(...keys);
    }
  }

  /** Feed-stall episodes currently open (see src/domain/feedStalls.ts). */
  async openStalls(): Promise<string[]> {
    return this.redis.smembers(`${this.prefix}stalls`);
  }

  /** Records that a stall episode's open fact is durable (or, with `open: false`, its resolution). */
  async markStall(id: string, open: boolean): Promise<void> {
    if (open) await this.redis.sadd(`${this.prefix}stalls`, id);
    else await this.redis.srem(`${this.prefix}stalls`, id);
  }
}
