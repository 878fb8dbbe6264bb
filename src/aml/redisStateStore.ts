import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { routedScripts } from '../state/routedScripts.js';
import { scanKeys } from '../state/shardLayout.js';
import type { AmlAlertRow } from '../domain/facts.js';
import { SchemaViolation } from '../lib/errors.js';
import { decodeEntry, encodeEntry, type AmlStateStore, type ApplyRequest, type ApplyResult, type CommitCandidate } from './stateStore.js';
import type { SubjectState, WindowEntry } from './types.js';
import { inScript } from '../state/scriptErrors.js';
import { amlShardOf, amlWindowPrefixes } from '../domain/stateShards.js';

const lua = (name: string) => readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');

interface AmlCommands {
  amlApply(...args: (string | number)[]): Promise<string>;
  amlCommit(...args: (string | number)[]): Promise<[number, string]>;
  amlWindows(...args: (string | number)[]): Promise<string>;
}

/**
 * AML window state in Redis, shared by every worker: keys `${namespace}:{aml}:…` (one hash tag,
 * one Cluster slot), updated by atomic Lua scripts that record the event ids they applied, so a
 * redelivered event changes nothing and several workers raise the alerts one would. Baseline
 * value sums are decimal strings summed exactly in Lua, so no count of amounts of any size
 * overflows them (an int64 HINCRBY did, and the event was redelivered forever).
 *
 * With `shards` > 1 (`redis.shards`) the windows — the rolling transfer graph, the bulk of the
 * state and what the pattern searches read — live in per-shard hash tags instead
 * (docs/architecture.md#aml-state-and-shards): the `{aml}` script applies the event's day
 * activity and baselines once (its event record) and returns them, then each shard holding some
 * of its subjects adds and reads their windows (amlWindows.lua, idempotent per entry). Reads
 * across shards are not one snapshot; see there why the rules do not need one.
 */
export class RedisStateStore implements AmlStateStore {
  readonly prefix: string;
  private readonly redis: Redis;
  private readonly cmd: AmlCommands;
  private readonly shards: number;
  private readonly windowPrefixes: string[];

  constructor(redis: Redis, namespace: string, shards = 1) {
    this.prefix = `${namespace}:{aml}:`;
    this.shards = Math.max(1, shards);
    this.windowPrefixes = amlWindowPrefixes(namespace, this.shards);
    // Routed by their first argument, a prefix: on Redis Cluster the node of its slot runs them.
    this.cmd = routedScripts(redis, { amlApply: lua('amlApply'), amlCommit: lua('amlCommit'), amlWindows: lua('amlWindows') }) as unknown as AmlCommands;
    this.redis = redis;
  }

  /** The key prefix of a subject's window. */
  windowPrefixOf(subjectKey: string): string {
    return this.windowPrefixes[amlShardOf(subjectKey, this.shards)]!;
  }

  async apply(req: ApplyRequest): Promise<ApplyResult> {
    const args: (string | number)[] = [this.prefix, req.eventId, req.time, req.readFrom, req.readTo, req.maxEvents, req.retentionMs, req.activityRetentionMs, req.ttlMs, req.buckets.length];
    for (const b of req.buckets) args.push(b.bucketMs, b.from, b.to);
    args.push(req.movements.length);
    for (const m of req.movements) {
      // The script sums amounts as decimal strings of digits (exact, unbounded): a sign has no place there.
      if (m.entry.amount < 0n) throw new SchemaViolation(`AML movement of ${m.entry.eventId}: field amount is negative (${m.entry.amount})`);
    }
    for (const m of req.movements) args.push(m.subjectKey, encodeEntry(m.entry), m.entry.dir, m.entry.amount.toString(), m.entry.time);
    const sharded = this.shards > 1;
    args.push(sharded ? 0 : 1);
    const raw = JSON.parse(await inScript('amlApply', () => this.cmd.amlApply(...args))) as
      | { s: 'done'; r: AmlAlertRow[] }
      | { s: 'open'; subjects: Record<string, { w: string[] | Record<string, never>; p: string | false; b: string[] | Record<string, never> }> | unknown[] };
    if (raw.s === 'done') return { status: 'done', alerts: raw.r };
    const subjects = new Map<string, SubjectState>();
    // cjson encodes an empty Lua table as {}.
    for (const [key, s] of Object.entries(Array.isArray(raw.subjects) ? {} : raw.subjects)) {
      const window = decodeWindow(Array.isArray(s.w) ? s.w : []);
      const b = Array.isArray(s.b) ? s.b : [];
      const buckets = new Map<string, { n: bigint; v: bigint }>();
      for (let i = 0; i < b.length; i += 3) buckets.set(b[i]!, { n: BigInt(b[i + 1]!), v: BigInt(b[i + 2]!) });
      subjects.set(key, { window, previousActivity: s.p === false ? null : Number(s.p), buckets });
    }
    if (sharded) for (const [key, window] of await this.applyWindows(req)) subjects.get(key)!.window = window;
    return { status: 'open', subjects };
  }

  /** Adds the event's movements to their windows, shard by shard (in parallel), and reads them back. */
  private async applyWindows(req: ApplyRequest): Promise<Map<string, WindowEntry[]>> {
    const byShard = new Map<string, ApplyRequest['movements']>();
    for (const m of req.movements) {
      const p = this.windowPrefixOf(m.subjectKey);
      const list = byShard.get(p);
      if (list) list.push(m);
      else byShard.set(p, [m]);
    }
    const out = new Map<string, WindowEntry[]>();
    await Promise.all(
      [...byShard].map(async ([prefix, ms]) => {
        const args: (string | number)[] = [prefix, req.time, req.readFrom, req.readTo, req.maxEvents, req.retentionMs, req.ttlMs, ms.length];
        for (const m of ms) args.push(m.subjectKey, encodeEntry(m.entry), m.entry.time);
        const raw = JSON.parse(await inScript('amlWindows', () => this.cmd.amlWindows(...args))) as Record<string, string[] | Record<string, never>>;
        for (const [key, w] of Object.entries(raw)) out.set(key, decodeWindow(Array.isArray(w) ? w : []));
      }),
    );
    return out;
  }

  /**
   * Windows of these subjects, one pipeline per shard (a cluster pipeline stays in one slot), the
   * shards in parallel: not one snapshot across shards (see the class comment).
   */
  async readWindows(keys: readonly string[], from: number, to: number, maxEvents: number): Promise<Map<string, WindowEntry[]>> {
    const out = new Map<string, WindowEntry[]>();
    if (keys.length === 0) return out;
    const byShard = new Map<string, string[]>();
    for (const k of keys) {
      const p = this.windowPrefixOf(k);
      const list = byShard.get(p);
      if (list) list.push(k);
      else byShard.set(p, [k]);
    }
    await Promise.all(
      [...byShard].map(async ([prefix, ks]) => {
        const pipe = this.redis.pipeline();
        for (const k of ks) pipe.zrevrangebyscore(`${prefix}w:${k}`, to, from, 'WITHSCORES', 'LIMIT', 0, maxEvents);
        const res = (await pipe.exec()) ?? [];
        ks.forEach((k, idx) => {
          const [err, w] = res[idx] ?? [null, []];
          if (err) throw err;
          out.set(k, decodeWindow(w as string[]));
        });
      }),
    );
    // In the order asked.
    return new Map(keys.map((k) => [k, out.get(k)!]));
  }

  async commit(eventId: string, candidates: readonly CommitCandidate[], ttlMs: number): Promise<{ alerts: AmlAlertRow[]; replayed: boolean }> {
    const args: (string | number)[] = [this.prefix, eventId, ttlMs, candidates.length];
    for (const c of candidates) args.push(`${c.ruleId}|${c.subjectKey}`, c.time, c.suppressMs, JSON.stringify(c.row));
    const [replayed, r] = await inScript('amlCommit', () => this.cmd.amlCommit(...args));
    return { alerts: JSON.parse(r) as AmlAlertRow[], replayed: replayed === 1 };
  }

  /** Deletes every AML key of this namespace, windows of every shard included (tests). */
  async clear(): Promise<void> {
    for (const prefix of new Set([this.prefix, ...this.windowPrefixes])) {
      for await (const keys of scanKeys(this.redis, `${prefix}*`)) for (const k of keys) await this.redis.del(k);
    }
  }
}

/** A window as ZREVRANGEBYSCORE … WITHSCORES returns it (latest first), in time order. */
function decodeWindow(list: readonly string[]): WindowEntry[] {
  const entries: WindowEntry[] = [];
  for (let i = 0; i < list.length; i += 2) entries.push(decodeEntry(list[i]!, Number(list[i + 1])));
  return entries.reverse();
}
