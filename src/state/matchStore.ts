import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { ExpiryPairing, ManualMatchOutcome, Outcome, ProposalDecision, RetractionOutcome, StoredLeg } from '../domain/outcomes.js';
import { findSplit } from '../domain/subsetSum.js';
import { DEFAULT_MATCHING_RULES, type MatchingRuleSet } from '../matching/ruleFile.js';
import { encodeProbes, probesFor } from '../matching/ruleCascade.js';
import type { Leg, PostingStatus, Side } from '../domain/types.js';
import { ScriptError } from '../lib/errors.js';
import { routedScripts } from './routedScripts.js';
import { inScript, asScriptError } from './scriptErrors.js';

const lua = (name: string) => readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');
/** A script with the shared layout (records, pools, indexes) in front of it. */
const withLib = (name: string) => `${lua('lib')}\n${lua(name)}`;

/** The short handle under which Redis keys a leg (see lua/lib.lua): 16 hex of sha1(legId). */
export const legHandle = (legId: string) => createHash('sha1').update(legId).digest('hex').slice(0, 16);

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
  /** Namespace of this deployment; keys are `${namespace}:{m}:…` (one hash tag: one Cluster slot). */
  namespace: string;
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
  /** The matching rule set in force (hot-reloaded by the caller); default: reference, then account + exact amount. */
  rules?: () => MatchingRuleSet;
}

export interface Watermarks {
  ledger: number;
  ledgerSeenAt: number;
  chain: number;
  chainSeenAt: number;
}

interface MatchCommands {
  reconMatchOrPark(...args: (string | number)[]): Promise<string>;
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

/** The Redis-held matching windows: atomic Lua scripts over legs, indexes, deadlines and watermarks. */
export class MatchStore {
  readonly prefix: string;
  private readonly redis: Redis;
  private readonly cmd: MatchCommands;
  private queued: { args: (string | number)[]; resolve: (r: CorrelationResult) => void; reject: (e: unknown) => void }[] = [];
  private flushScheduled = false;

  constructor(
    redis: Redis,
    private readonly options: MatchStoreOptions,
  ) {
    this.prefix = `${options.namespace}:{m}:`;
    // Routed by their first argument, this prefix: on Redis Cluster the node of the {m} slot runs them.
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
    const arrival = encodeProbes(probesFor(rules, leg, 'arrival', defaults));
    return new Promise((resolve, reject) => {
      this.queued.push({
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
        ],
        resolve,
        reject,
      });
      if (this.queued.length >= MATCH_BATCH) this.flushMatches();
      else if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flushMatches());
      }
    });
  }

  /**
   * Sends the queued legs as one script call (in order: Redis applies them one after the other, as
   * if called one by one). A failed call (Redis down, state lost) rejects every leg in it; a leg
   * the script could not apply rejects alone.
   */
  private flushMatches(): void {
    this.flushScheduled = false;
    const batch = this.queued.splice(0, this.queued.length);
    if (batch.length === 0) return;
    const o = this.options;
    const args: (string | number)[] = [this.prefix, o.toleranceMs, o.retentionMs, o.windowMs, o.requireEpoch ? '1' : ''];
    for (const q of batch) for (const a of q.args) args.push(a);
    // Through a promise, so that even a synchronous throw rejects the legs instead of stranding them.
    Promise.resolve()
      .then(() => this.cmd.reconMatchOrPark(...args))
      .then(
        (raw) => {
          const results = JSON.parse(raw) as ({ replayed: number; outcome: Outcome } | { error: string })[];
          batch.forEach((q, i) => {
            const r = results[i];
            if (!r) q.reject(new Error(`matchOrPark returned ${results.length} results for ${batch.length} legs`));
            else if ('error' in r) q.reject(new ScriptError(`The match script could not apply leg ${String(q.args[0])}.`, { details: r.error }));
            else q.resolve({ replayed: r.replayed === 1, outcome: r.outcome });
          });
        },
        (e: unknown) => {
          for (const q of batch) q.reject(asScriptError('matchOrPark', e));
        },
      );
  }

  /** Retracts a chain leg orphaned by a deep reorg and re-opens its counterpart (idempotent). */
  async retract(legId: string): Promise<{ replayed: boolean; outcome: RetractionOutcome }> {
    const raw = await inScript('retract', () => this.cmd.reconRetract(this.prefix, legId, this.options.windowMs));
    const parsed = JSON.parse(raw) as { replayed: number; outcome: RetractionOutcome };
    return { replayed: parsed.replayed === 1, outcome: parsed.outcome };
  }

  /** Claims up to `limit` legs of `side` whose deadline has passed `watermark`; they are now expired. */
  async claimExpired(side: Side, watermark: number, limit: number, now = Date.now()): Promise<StoredLeg[]> {
    const claimed: StoredLeg[] = [];
    // One call looks at a bounded number of deadline entries (most belong to legs matched since);
    // go on while it says due buckets remain and the limit is not reached.
    for (;;) {
      const raw = await inScript('expire', () =>
        this.cmd.reconExpire(
          this.prefix,
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
      if (r.more !== 1 || claimed.length >= limit) return claimed;
    }
  }

  /**
   * An operator's decision on a proposal (atomic, at most once; a repeat returns the stored
   * decision with replayed = true). The caller writes `factsOfDecision` afterwards: the decision
   * is stored first so that a crash before the facts are durable is mended by deciding again.
   */
  async decideProposal(pid: string, bankLegId: string, chainLegId: string, decision: 'confirm' | 'reject'): Promise<{ replayed: boolean; outcome: ProposalDecision }> {
    const raw = await inScript('decideProposal', () => this.cmd.reconDecideProposal(this.prefix, pid, bankLegId, chainLegId, decision, this.options.windowMs));
    const parsed = JSON.parse(raw) as { replayed?: number; outcome: ProposalDecision };
    return { replayed: parsed.replayed === 1, outcome: parsed.outcome };
  }

  /**
   * The expiry rules of claimed legs whose window closed without a counterpart (no-op without such
   * rules): each leg a rule pairs gets its `pair` (and, paired as one mismatch, that discrepancy as
   * its `d`). Call before writing the legs' facts; repeated, it returns the same pairings.
   */
  async pairExpired(legs: StoredLeg[]): Promise<void> {
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
    if (todo.length > 0) await this.pairSingle(todo);
    await this.searchSplits(legs, rules);
  }

  private async pairSingle(todo: { leg: StoredLeg; probes: string }[]): Promise<void> {
    const args: (string | number)[] = [this.prefix, this.options.windowMs];
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
      for (const p of probes) {
        const raw = await inScript('openLegs', () => this.cmd.reconOpenLegs(this.prefix, l.id, l.t - p.windowMs, Math.min(l.t + p.windowMs, l.t + this.options.windowMs), p.maxLegs));
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
        const claimed = await inScript('claimSplit', () => this.cmd.reconClaimSplit(this.prefix, l.id, p.rule, p.confidence === 'confirmed' ? 'c' : 'p', ...found.parts.map((x) => x.id)));
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
    const raw = await inScript('reverseLeg', () => this.cmd.reconReverseLeg(this.prefix, legId, reversingEntryId));
    const parsed = JSON.parse(raw) as { replayed?: number; outcome: Outcome | { t: 'unknown' }; leg?: StoredLeg };
    return { replayed: parsed.replayed === 1, outcome: parsed.outcome, ...(parsed.leg && { leg: parsed.leg }) };
  }

  /** An operator matches two open legs by hand, or undoes a match (atomic against the stream; idempotent). */
  async manualMatch(op: 'match' | 'unmatch', bankLegId: string, chainLegId: string): Promise<{ replayed: boolean; outcome: ManualMatchOutcome }> {
    const raw = await inScript('manualMatch', () => this.cmd.reconManualMatch(this.prefix, op, bankLegId, chainLegId, this.options.windowMs));
    const parsed = JSON.parse(raw) as { replayed?: number; outcome: ManualMatchOutcome };
    return { replayed: parsed.replayed === 1, outcome: parsed.outcome };
  }

  /** Confirms that the discrepancies of these claimed legs are durable. */
  async ackClaimed(legIds: readonly string[]): Promise<void> {
    if (legIds.length > 0) await this.redis.zrem(`${this.prefix}claimed`, ...legIds.map(legHandle));
  }

  /** Raises a source's watermark (never lowers it). */
  async advanceWatermark(source: 'ledger' | 'chain', eventTime: number, now = Date.now()): Promise<void> {
    await inScript('advanceWatermark', () => this.cmd.reconAdvanceWatermark(this.prefix, source, eventTime, now));
  }

  /** Records that every event of `chainId` up to `blockNumber` is durable (monotonic). */
  async advanceChainBlock(chainId: number, blockNumber: bigint, now = Date.now()): Promise<void> {
    await inScript('advanceWatermark', () => this.cmd.reconAdvanceWatermark(this.prefix, `chain:${chainId}:block`, blockNumber.toString(), now));
  }

  /** The highest block of `chainId` whose events are all durable, or null before the first. */
  async chainBlock(chainId: number): Promise<bigint | null> {
    const v = await this.redis.hget(`${this.prefix}wm`, `chain:${chainId}:block`);
    return v === null ? null : BigInt(v);
  }

  async watermarks(): Promise<Watermarks> {
    const h = await this.redis.hgetall(`${this.prefix}wm`);
    const n = (k: string) => (h[k] === undefined ? -1 : Number(h[k]));
    return { ledger: n('ledger'), ledgerSeenAt: n('ledger:seen'), chain: n('chain'), chainSeenAt: n('chain:seen') };
  }

  /** Forgets legs whose retention has passed the watermark; returns how many. */
  async gc(watermark: number, limit = 1_000): Promise<number> {
    return inScript('gc', () => this.cmd.reconGc(this.prefix, watermark, limit, this.options.retentionMs));
  }

  /** Number of legs currently waiting for a counterpart, per side (an exact counter the scripts keep). */
  async parkedCount(): Promise<{ bank: number; chain: number }> {
    const [bank, chain] = await this.redis.hmget(`${this.prefix}n`, 'bank', 'chain');
    return { bank: Number(bank ?? 0), chain: Number(chain ?? 0) };
  }

  /** Whether Redis still remembers this leg (false once it has been forgotten after its retention). */
  async knows(legId: string): Promise<boolean> {
    const h = legHandle(legId);
    return (await this.redis.hexists(`${this.prefix}L:${h.slice(0, 2)}`, h)) === 1;
  }

  /** Bytes of the stored record of one leg (the bench's per-leg sample), or 0 when unknown. */
  async recordBytes(legId: string): Promise<number> {
    const h = legHandle(legId);
    return this.redis.hstrlen(`${this.prefix}L:${h.slice(0, 2)}`, h);
  }

  /** Writes legs rebuilt from the facts (flagged as rebuilt), with their indexes; returns how many. */
  async restore(legs: readonly RestoredLeg[]): Promise<number> {
    const o = this.options;
    const args: (string | number)[] = [this.prefix, o.windowMs, o.retentionMs];
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

  /** Deletes every key of this namespace (tests and `recon reset`). */
  async clear(): Promise<void> {
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${this.prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await this.redis.del(...keys);
    } while (cursor !== '0');
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
