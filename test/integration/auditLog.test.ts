import { randomUUID } from 'node:crypto';
import { jetstream, jetstreamManager, RetentionPolicy } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chainRecord, type AuditRecord } from '../../src/cases/auditChain.js';
import { AuditLog, type AuditEntry } from '../../src/cases/auditLog.js';
import { auditMain } from '../../src/cli/audit.js';
import { parseConfig } from '../../src/config/load.js';
import { SinkUnavailable } from '../../src/lib/errors.js';
import { createFactWriter, type FactWriter } from '../../src/sinks/clickhouse/factWriter.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { createDeadLetterSink } from '../../src/sinks/deadLetters.js';
import { factLogFlushed, startFactLoader, type FactLoader } from '../../src/sinks/factLog/factLoader.js';
import { createFactLogWriter } from '../../src/sinks/factLog/factLogWriter.js';
import { ensureDurableConsumer, ensureStream } from '../../src/streams/jetstreamSetup.js';
import { tempClickHouse, type TempClickHouse } from '../support/clickhouse.js';

const entry = (i: number, actor = 'alice'): AuditEntry => ({
  at: 1_760_000_000_000 + i,
  actor,
  action: 'case.comment',
  subject: `C-${i % 4}`,
  content: { text: `note ${i}`, amountMinor: BigInt(i) * 1_000n },
});

/** The audit trail on real Redis and ClickHouse (chdb), each test on a chain of its own. */
describe('audit log', () => {
  let ch: TempClickHouse;
  const clients: Redis[] = [];
  let namespace: string;
  let writer: FactWriter;
  const redis = () => {
    const r = new Redis('redis://127.0.0.1:6379');
    clients.push(r);
    return r;
  };
  const log = (o: { writer?: FactWriter; database?: string } = {}) =>
    new AuditLog({ redis: redis(), clickhouse: ch.client, database: o.database ?? ch.database, writer: o.writer ?? writer, namespace });
  const sql = async (q: string) => {
    await ch.client.command({ query: q, clickhouse_settings: { mutations_sync: '2' } });
  };

  beforeAll(async () => {
    ch = await tempClickHouse();
    writer = createFactWriter(ch.client, ch.database);
  });
  beforeEach(async () => {
    namespace = `audit-${randomUUID().slice(0, 8)}`;
    // One table for the file: each test starts from an empty trail.
    await sql(`TRUNCATE TABLE ${ch.database}.audit_log`);
  });
  afterAll(async () => {
    for (const r of clients) r.disconnect();
    await ch?.close();
  });

  it('chains appended records, makes them durable, and verifies the whole trail and a period', async () => {
    const a = log();
    const recs = await a.append([entry(1), entry(2), entry(3)]);
    await a.append([entry(4), entry(5)]);
    expect(recs.map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(await a.head()).toMatchObject({ seq: 5 });
    expect(await a.verify()).toMatchObject({ ok: true, records: 5, head: { seq: 5 } });
    expect(await a.verify({ fromSeq: 3, toSeq: 4 })).toMatchObject({ ok: true, records: 2, head: { seq: 4 } });
  });

  it('forms one chain without gaps or forks from two writers appending at once', async () => {
    const [a, b] = [log(), log()];
    await Promise.all([
      (async () => {
        for (let i = 0; i < 40; i++) await a.append([entry(i, 'alice')]);
      })(),
      (async () => {
        for (let i = 0; i < 40; i++) await b.append([entry(100 + i, 'bob')]);
      })(),
    ]);
    const v = await a.verify();
    expect(v).toMatchObject({ ok: true, records: 80, head: { seq: 80 } });
    const actors = new Set<string>();
    for await (const page of a.records()) for (const r of page) actors.add(r.actor);
    expect([...actors].sort()).toEqual(['alice', 'bob']);
  });

  it('names an edited, a deleted and a reordered record in ClickHouse', async () => {
    const a = log();
    await a.append(Array.from({ length: 8 }, (_, i) => entry(i + 1)));
    // Edited: the stored content of record 3 changed in place.
    await sql(`ALTER TABLE ${ch.database}.audit_log UPDATE content = replace(content, 'note 3', 'note 33') WHERE seq = 3`);
    expect(await a.verify()).toMatchObject({ ok: false, seq: 3, problem: 'edited' });
    // Periods after the edit still verify (the anchor, record 3's stored hash, was not touched).
    expect(await a.verify({ fromSeq: 4 })).toMatchObject({ ok: true, records: 5 });
    await sql(`ALTER TABLE ${ch.database}.audit_log UPDATE content = replace(content, 'note 33', 'note 3') WHERE seq = 3`);
    expect(await a.verify()).toMatchObject({ ok: true });
    // Reordered: records 5 and 6 swap places in the chain, each row otherwise intact (ClickHouse
    // cannot update a key column, so the rows are deleted and inserted again with swapped seqs).
    const rows = await ch.client
      .query({ query: `SELECT * FROM ${ch.database}.audit_log FINAL WHERE seq IN (5, 6) ORDER BY seq`, format: 'JSONEachRow' })
      .then((r) => r.json<Record<string, unknown>>());
    await sql(`ALTER TABLE ${ch.database}.audit_log DELETE WHERE seq IN (5, 6)`);
    await ch.client.insert({
      table: `${ch.database}.audit_log`,
      values: [
        { ...rows[1], seq: 5 },
        { ...rows[0], seq: 6 },
      ],
      format: 'JSONEachRow',
    });
    expect(await a.verify()).toMatchObject({ ok: false, seq: 5, problem: 'edited' });
    // Deleted: record 2 gone.
    await sql(`ALTER TABLE ${ch.database}.audit_log DELETE WHERE seq = 2`);
    expect(await a.verify()).toMatchObject({ ok: false, seq: 2, problem: 'missing' });
  });

  it('keeps a record chained but not yet durable, and writes it once the sink is back', async () => {
    const failing: FactWriter = {
      write: async () => {
        throw new SinkUnavailable('ClickHouse unavailable');
      },
    };
    await log().append([entry(1)]);
    await expect(log({ writer: failing }).append([entry(2)])).rejects.toThrow(/unavailable/);
    const a = log();
    expect(await a.head()).toMatchObject({ seq: 2 });
    expect(await a.verify()).toMatchObject({ ok: true, records: 1 });
    expect(await a.flushPending()).toBe(1);
    expect(await a.flushPending()).toBe(0);
    await a.append([entry(3)]);
    expect(await a.verify()).toMatchObject({ ok: true, records: 3, head: { seq: 3 } });
  });

  it('recon audit head and verify: exit 0 on an intact trail, 1 naming the record, 1 on a rewrite past an exported head', async () => {
    const a = log();
    await a.append(Array.from({ length: 6 }, (_, i) => entry(i + 1)));
    const config = parseConfig({ namespace, clickhouse: { database: ch.database, dataDir: ch.dir } });
    const lines: string[] = [];
    const cli = (...argv: string[]) => auditMain(argv, config, { clickhouse: ch.client, out: (l) => lines.push(l), now: () => Date.UTC(2026, 11, 5) });
    expect(await cli('head')).toBe(0);
    const head = JSON.parse(lines.pop()!) as { seq: number; hash: string; at: string };
    expect(head).toMatchObject({ seq: 6, at: '2026-12-05T00:00:00.000Z' });
    expect(await cli('verify', '--from', '2', '--to', '5')).toBe(0);
    expect(JSON.parse(lines.pop()!)).toMatchObject({ ok: true, records: 4 });
    expect(await cli('verify', '--from', 'two')).toBe(2);
    // Someone rewrites record 4 and re-chains everything after it, consistently.
    const rows = [];
    let prev: AuditRecord | null = null;
    for await (const page of a.records()) {
      for (const r of page) {
        const next: AuditRecord = r.seq < 4 ? r : chainRecord(prev, { at: r.at, actor: r.seq === 4 ? 'mallory' : r.actor, action: r.action, subject: r.subject, content: JSON.parse(r.content) });
        rows.push({
          seq: next.seq,
          at: next.at,
          actor: next.actor,
          action: next.action,
          subject: next.subject,
          content: next.content,
          prev_hash: next.prevHash,
          hash: next.hash,
          recorded_at: Date.now(),
        });
        prev = next;
      }
    }
    await sql(`TRUNCATE TABLE ${ch.database}.audit_log`);
    await ch.client.insert({ table: `${ch.database}.audit_log`, values: rows, format: 'JSONEachRow' });
    expect(await cli('verify')).toBe(0); // the chain alone cannot tell
    const heads = join(mkdtempSync(join(tmpdir(), 'heads-')), 'heads.jsonl');
    writeFileSync(heads, `${JSON.stringify(head)}\n`);
    expect(await cli('verify', '--heads', heads)).toBe(1);
    expect(JSON.parse(lines.pop()!)).toMatchObject({ ok: false, seq: 6, problem: 'rewritten' });
  });

  it('with the fact log, takes the head back only once the log is loaded: a record still in it is never chained over', async () => {
    const nc = await connect({ servers: '127.0.0.1:4222' });
    const jsm = await jetstreamManager(nc);
    const id = randomUUID().slice(0, 8);
    const l = { stream: `AFACTS_${id}`, subject: `afacts_${id}`, consumerName: 'fact-loader' };
    await ensureStream(jsm, { name: l.stream, subjects: [l.subject], retention: RetentionPolicy.Workqueue });
    await ensureDurableConsumer(jsm, l.stream, { name: l.consumerName, maxAckPending: 1_000, ackWaitMs: 30_000 });
    const r = redis();
    let loader: FactLoader | undefined;
    try {
      const a = new AuditLog({
        redis: redis(),
        clickhouse: ch.client,
        database: ch.database,
        writer: createFactLogWriter({ js: jetstream(nc), subject: l.subject, maxMessageBytes: 65_536 }),
        namespace,
        factsLoaded: () => factLogFlushed(jsm, l, 20_000),
      });
      // Two records durable in the fact log, none in ClickHouse yet; then Redis loses the head.
      await a.append([entry(1), entry(2)]);
      await r.del(`${namespace}:{audit}:head`);
      const restored = a.restoreHead();
      // The loader comes later (ClickHouse was down, or its worker was restarting).
      await new Promise((done) => setTimeout(done, 500));
      loader = startFactLoader({
        js: jetstream(nc),
        jsm,
        stream: l.stream,
        consumerName: l.consumerName,
        clickhouse: createFactWriter(ch.client, ch.database),
        deadLetter: createDeadLetterSink({ js: jetstream(nc), subjectPrefix: `adl_${id}` }),
        redis: r,
        leaseKey: `${namespace}:{factlog}:lease`,
        holderId: 'test',
        leaseTtlMs: 3_000,
        loadEveryMs: 100,
        maxLoadMessages: 100,
        log: pino({ level: 'silent' }),
        metrics: createMetrics(),
      });
      expect(await restored).toMatchObject({ seq: 2 });
      await a.append([entry(3)]);
      await factLogFlushed(jsm, l, 20_000);
      expect(await a.verify()).toMatchObject({ ok: true, records: 3, head: { seq: 3 } });
    } finally {
      await loader?.stop();
      await jsm.streams.delete(l.stream).catch(() => undefined);
      await nc.close();
    }
  });

  it('takes the head back from the last durable record when Redis lost it, and chains on', async () => {
    const a = log();
    await a.append([entry(1), entry(2)]);
    const r = redis();
    await r.del(`${namespace}:{audit}:head`);
    expect(await a.head()).toBeNull();
    expect(await a.restoreHead()).toMatchObject({ seq: 2 });
    await a.append([entry(3)]);
    expect(await a.verify()).toMatchObject({ ok: true, records: 3 });
  });
});
