import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { routedScripts } from '../state/routedScripts.js';
import type { AmlAlertRow } from '../domain/facts.js';
import { SchemaViolation } from '../lib/errors.js';
import { decodeEntry, encodeEntry, type AmlStateStore, type ApplyRequest, type ApplyResult, type CommitCandidate } from './stateStore.js';
import type { SubjectState, WindowEntry } from './types.js';
import { inScript } from '../state/scriptErrors.js';

const lua = (name: string) => readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');

interface AmlCommands {
  amlApply(...args: (string | number)[]): Promise<string>;
  amlCommit(...args: (string | number)[]): Promise<[number, string]>;
}

/**
 * AML window state in Redis, shared by every worker: keys `${namespace}:{aml}:…` (one hash tag,
 * one Cluster slot), updated by atomic Lua scripts that record the event ids they applied, so a
 * redelivered event changes nothing and several workers raise the alerts one would. Baseline
 * value sums are decimal strings summed exactly in Lua, so no count of amounts of any size
 * overflows them (an int64 HINCRBY did, and the event was redelivered forever).
 */
export class RedisStateStore implements AmlStateStore {
  readonly prefix: string;
  private readonly redis: Redis;
  private readonly cmd: AmlCommands;

  constructor(redis: Redis, namespace: string) {
    this.prefix = `${namespace}:{aml}:`;
    // Routed by their first argument, this prefix: on Redis Cluster the node of the {aml} slot runs them.
    this.cmd = routedScripts(redis, { amlApply: lua('amlApply'), amlCommit: lua('amlCommit') }) as unknown as AmlCommands;
    this.redis = redis;
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
    const raw = JSON.parse(await inScript('amlApply', () => this.cmd.amlApply(...args))) as
      | { s: 'done'; r: AmlAlertRow[] }
      | { s: 'open'; subjects: Record<string, { w: string[] | Record<string, never>; p: string | false; b: string[] | Record<string, never> }> | unknown[] };
    if (raw.s === 'done') return { status: 'done', alerts: raw.r };
    const subjects = new Map<string, SubjectState>();
    // cjson encodes an empty Lua table as {}.
    for (const [key, s] of Object.entries(Array.isArray(raw.subjects) ? {} : raw.subjects)) {
      const w = Array.isArray(s.w) ? s.w : [];
      const window: WindowEntry[] = [];
      for (let i = 0; i < w.length; i += 2) window.push(decodeEntry(w[i]!, Number(w[i + 1])));
      window.reverse();
      const b = Array.isArray(s.b) ? s.b : [];
      const buckets = new Map<string, { n: bigint; v: bigint }>();
      for (let i = 0; i < b.length; i += 3) buckets.set(b[i]!, { n: BigInt(b[i + 1]!), v: BigInt(b[i + 2]!) });
      subjects.set(key, { window, previousActivity: s.p === false ? null : Number(s.p), buckets });
    }
    return { status: 'open', subjects };
  }

  async readWindows(keys: readonly string[], from: number, to: number, maxEvents: number): Promise<Map<string, WindowEntry[]>> {
    const out = new Map<string, WindowEntry[]>();
    if (keys.length === 0) return out;
    const pipe = this.redis.pipeline();
    for (const k of keys) pipe.zrevrangebyscore(`${this.prefix}w:${k}`, to, from, 'WITHSCORES', 'LIMIT', 0, maxEvents);
    const res = (await pipe.exec()) ?? [];
    keys.forEach((k, idx) => {
      const [err, w] = res[idx] ?? [null, []];
      if (err) throw err;
      const list = w as string[];
      const entries: WindowEntry[] = [];
      for (let i = 0; i < list.length; i += 2) entries.push(decodeEntry(list[i]!, Number(list[i + 1])));
      out.set(k, entries.reverse());
    });
    return out;
  }

  async commit(eventId: string, candidates: readonly CommitCandidate[], ttlMs: number): Promise<{ alerts: AmlAlertRow[]; replayed: boolean }> {
    const args: (string | number)[] = [this.prefix, eventId, ttlMs, candidates.length];
    for (const c of candidates) args.push(`${c.ruleId}|${c.subjectKey}`, c.time, c.suppressMs, JSON.stringify(c.row));
    const [replayed, r] = await inScript('amlCommit', () => this.cmd.amlCommit(...args));
    return { alerts: JSON.parse(r) as AmlAlertRow[], replayed: replayed === 1 };
  }

  /** Deletes every AML key of this namespace (tests). */
  async clear(): Promise<void> {
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${this.prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await this.redis.del(...keys);
    } while (cursor !== '0');
  }
}
