import { readFileSync } from 'node:fs';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Redis } from 'ioredis';
import type { AuditLogRow } from '../domain/facts.js';
import type { FactWriter } from '../sinks/clickhouse/factWriter.js';
import { queryRows } from '../sinks/clickhouse/queries.js';
import { chainRecord, verifyChain, type AuditRecord, type ChainVerdict } from './auditChain.js';
import { inScript } from '../state/scriptErrors.js';

/** The columns of a stored record as the chain hashed them (times as epoch ms, not formatted). */
const COLUMNS = 'seq, toUnixTimestamp64Milli(at) AS at, actor, action, subject, content, prev_hash, hash';

const APPEND_LUA = readFileSync(new URL('./lua/auditAppend.lua', import.meta.url), 'utf8');

export interface AuditEntry {
  at: number;
  actor: string;
  action: string;
  subject: string;
  content: unknown;
}

export interface AuditLogOptions {
  redis: Redis;
  clickhouse: ClickHouseClient;
  database: string;
  /** The durable writer: a record counts once it is durable (in ClickHouse, or in the fact log). */
  writer: FactWriter;
  namespace: string;
  now?: () => number;
  /**
   * Resolves once every fact durable so far is in ClickHouse (`sink.mode: log`: the fact log
   * loaded). `restoreHead` waits for it: a record still in the log is not the last one ClickHouse
   * holds, and chaining on from an older head would give the next records its seq, which the
   * loader then drops as duplicates.
   */
  factsLoaded?: () => Promise<void>;
}

type Head = { seq: number; hash: string };
type AppendCommand = {
  reconAuditAppend(head: string, pending: string, once: string, onSeq: number, seq: number, hash: string, record: string, onceKey: string, onceTtlSeconds: number): Promise<[number, string?]>;
};

/**
 * How long a once-key is remembered. Without a scope, for ever (rare events: an SLA breach). With
 * one, in a bucket per day of `at` (a time the entry always carries, whoever records it again)
 * that expires `forMs` after its last write: enough for redeliveries and restarts, without a
 * key per status change kept for ever.
 */
export interface OnceScope {
  at: number;
  forMs: number;
}

const DAY_MS = 86_400_000;

const rowOf = (r: AuditRecord, now: number): AuditLogRow => ({
  seq: r.seq,
  at: r.at,
  actor: r.actor,
  action: r.action,
  subject: r.subject,
  content: r.content,
  prev_hash: r.prevHash,
  hash: r.hash,
  recorded_at: now,
});
const recordOf = (r: AuditLogRow): AuditRecord => ({
  seq: Number(r.seq),
  at: Number(r.at),
  actor: r.actor,
  action: r.action,
  subject: r.subject,
  content: r.content,
  prevHash: r.prev_hash,
  hash: r.hash,
});

/**
 * The audit trail's store. Appending chains the record onto the head held in Redis by
 * compare-and-set (one chain however many writers), keeps it in a pending list, writes it to
 * ClickHouse (`audit_log`), and only then resolves and drops it from pending. A crash between the
 * two leaves it pending: `flushPending()` (at start) writes it again, idempotently by seq. If Redis
 * lost the head, `restoreHead()` takes it from the last durable record, once the fact log (when
 * facts go through it) is loaded into ClickHouse.
 */
export class AuditLog {
  /** Redis keys of the chain's head and pending list (a case store updates them in the same script). */
  readonly headKey: string;
  readonly pendingKey: string;
  private readonly onceKey: string;
  private readonly now: () => number;

  constructor(private readonly o: AuditLogOptions) {
    this.headKey = `${o.namespace}:{audit}:head`;
    this.pendingKey = `${o.namespace}:{audit}:pending`;
    this.now = o.now ?? Date.now;
    this.onceKey = `${o.namespace}:{audit}:once`;
    if (!('reconAuditAppend' in o.redis)) o.redis.defineCommand('reconAuditAppend', { numberOfKeys: 3, lua: APPEND_LUA });
  }

  /**
   * Chains `entries` in order and makes them durable; resolves with the records as chained. An
   * entry with a `once` key already chained under that key is skipped (not in the result).
   */
  async append(entries: readonly (AuditEntry & { once?: string; onceScope?: OnceScope })[]): Promise<AuditRecord[]> {
    const out: AuditRecord[] = [];
    for (const e of entries) {
      const r = await this.chainOne(e, e.once ?? '', e.onceScope);
      if (r) out.push(r);
    }
    await this.persist(out);
    return out;
  }

  /** Makes records chained (and pending) durable in ClickHouse, then drops them from pending. */
  async persist(records: readonly AuditRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.o.writer.write(
      records.map((r) => ({ table: 'audit_log', row: rowOf(r, this.now()) })),
      { suspects: new Set(records.map((r) => `audit_log:${r.seq}`)) },
    );
    await this.dropPending(records);
  }

  private async chainOne(e: AuditEntry, once: string, scope: OnceScope | undefined): Promise<AuditRecord | null> {
    let head = await this.head();
    const { at, actor, action, subject, content } = e;
    const onceHash = scope ? `${this.onceKey}:${Math.floor(scope.at / DAY_MS)}` : this.onceKey;
    const onceTtl = scope ? Math.ceil(scope.forMs / 1_000) : 0;
    for (let attempt = 0; attempt < 1_000; attempt++) {
      const r = chainRecord(head, { at, actor, action, subject, content });
      const [ok, moved] = await inScript('auditAppend', () =>
        (this.o.redis as unknown as AppendCommand).reconAuditAppend(this.headKey, this.pendingKey, onceHash, head?.seq ?? 0, r.seq, r.hash, JSON.stringify(r), once, onceTtl),
      );
      if (ok === 1) return r;
      if (ok === 2) return null;
      head = moved ? (JSON.parse(moved) as Head) : null;
    }
    throw new Error('audit: the chain head kept moving for 1,000 attempts');
  }

  private async dropPending(records: readonly AuditRecord[]): Promise<void> {
    if (records.length === 0) return;
    const p = this.o.redis.pipeline();
    for (const r of records) p.lrem(this.pendingKey, 1, JSON.stringify(r));
    await p.exec();
  }

  /** The last chained record's seq and hash (null for an empty chain). */
  async head(): Promise<Head | null> {
    const raw = await this.o.redis.get(this.headKey);
    return raw ? (JSON.parse(raw) as Head) : null;
  }

  /** Writes records chained but not yet durable (a crash after the compare-and-set). */
  async flushPending(): Promise<number> {
    const pending = (await this.o.redis.lrange(this.pendingKey, 0, -1)).map((s) => JSON.parse(s) as AuditRecord);
    await this.persist(pending);
    return pending.length;
  }

  /** After Redis lost its memory: the head is the last durable record (or nothing). */
  async restoreHead(): Promise<Head | null> {
    await this.o.factsLoaded?.();
    const head = await this.lastDurable();
    if (!head) return null;
    await this.o.redis.set(this.headKey, JSON.stringify(head), 'NX');
    return this.head();
  }

  /** The last record ClickHouse holds (the head worth exporting: every record up to it is durable). */
  async lastDurable(): Promise<Head | null> {
    const [last] = await queryRows<AuditLogRow>(this.o.clickhouse, `SELECT ${COLUMNS} FROM ${this.o.database}.audit_log FINAL ORDER BY seq DESC LIMIT 1`);
    return last ? { seq: Number(last.seq), hash: last.hash } : null;
  }

  /** Records `fromSeq..toSeq` as stored, in seq order, a page at a time. */
  async *records(fromSeq = 1, toSeq = Number.MAX_SAFE_INTEGER, pageSize = 10_000): AsyncGenerator<AuditRecord[]> {
    let from = fromSeq;
    for (;;) {
      const rows = await queryRows<AuditLogRow>(
        this.o.clickhouse,
        `SELECT ${COLUMNS} FROM ${this.o.database}.audit_log FINAL WHERE seq >= {from:UInt64} AND seq <= {to:UInt64} ORDER BY seq LIMIT {n:UInt32}`,
        { from, to: toSeq, n: pageSize },
      );
      if (rows.length === 0) return;
      yield rows.map(recordOf);
      if (rows.length < pageSize) return;
      from = Number(rows.at(-1)!.seq) + 1;
    }
  }

  /**
   * Verifies the stored chain over `fromSeq..toSeq` (the record before `fromSeq` anchors it),
   * streaming a page at a time, against head hashes exported earlier when given.
   */
  async verify(o: { fromSeq?: number; toSeq?: number; exportedHeads?: readonly Head[] } = {}): Promise<ChainVerdict> {
    const fromSeq = o.fromSeq ?? 1;
    let after: Head | null = null;
    if (fromSeq > 1) {
      const [prev] = await queryRows<AuditLogRow>(this.o.clickhouse, `SELECT ${COLUMNS} FROM ${this.o.database}.audit_log FINAL WHERE seq = {s:UInt64}`, { s: fromSeq - 1 });
      if (!prev) return { ok: false, seq: fromSeq - 1, problem: 'missing', detail: `record ${fromSeq - 1}, which anchors the period, is missing` };
      after = { seq: Number(prev.seq), hash: prev.hash };
    }
    let records = 0;
    for await (const page of this.records(fromSeq, o.toSeq)) {
      const v = verifyChain(page, after, o.exportedHeads ?? []);
      if (!v.ok) return v;
      records += v.records;
      after = v.head;
    }
    return { ok: true, records, head: after };
  }
}
