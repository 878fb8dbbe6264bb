import { randomUUID } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, RetentionPolicy, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { factKey, type Fact, type LedgerEntryRow } from '../../src/domain/facts.js';
import { createMetrics, type Metrics } from '../../src/observability/metrics.js';
import { createFactWriter } from '../../src/sinks/clickhouse/factWriter.js';
import { queryRows } from '../../src/sinks/clickhouse/queries.js';
import { createDeadLetterSink } from '../../src/sinks/deadLetters.js';
import { factLogFlushed, startFactLoader, type FactLoader } from '../../src/sinks/factLog/factLoader.js';
import { createFactLogWriter } from '../../src/sinks/factLog/factLogWriter.js';
import { ensureDurableConsumer, ensureStream } from '../../src/streams/jetstreamSetup.js';
import { tempClickHouse, type TempClickHouse } from '../support/clickhouse.js';
import { waitFor } from '../support/waitFor.js';

const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

function entry(id: string, amount = 100n): Fact {
  const now = Date.now();
  const row: LedgerEntryRow = {
    entry_id: id,
    account_id: 'ACC-1',
    direction: 'credit',
    amount_minor: String(amount),
    currency: 'USD',
    exponent: 2,
    booking_time: now,
    value_time: now,
    status: 'booked',
    tx_type: 'deposit',
    end_to_end_id: `E2E-${id}`,
    remittance: '',
    tokenization_ref: '',
    schema_version: 1,
    stream_seq: 1,
    version: 2,
    recorded_at: now,
  };
  return { table: 'ledger_entries', row };
}

describe('fact log: facts durable in JetStream, loaded into ClickHouse in few inserts', () => {
  let ch: TempClickHouse;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let redis: Redis;
  const id = randomUUID().slice(0, 8);
  const names = { stream: `FACTS_${id}`, subject: `facts_${id}`, consumerName: 'fact-loader', dlPrefix: `dl_${id}`, dlStream: `DL_${id}` };
  const loaders: FactLoader[] = [];

  const loader = (holder: string, metrics: Metrics, leaseTtlMs = 1_500) => {
    const l = startFactLoader({
      js,
      jsm,
      stream: names.stream,
      consumerName: names.consumerName,
      clickhouse: createFactWriter(ch.client, ch.database, { log, retry: { attempts: 2 } }),
      deadLetter: createDeadLetterSink({ js, subjectPrefix: names.dlPrefix }),
      redis,
      leaseKey: `t${id}:{factlog}:lease`,
      holderId: holder,
      leaseTtlMs,
      loadEveryMs: 300,
      maxLoadMessages: 500,
      log,
      metrics,
    });
    loaders.push(l);
    return l;
  };
  const count = async (ids: string[]) =>
    Number((await queryRows<{ n: string }>(ch.client, `SELECT count() AS n FROM ${ch.database}.ledger_entries WHERE entry_id IN {ids:Array(String)}`, { ids }))[0]!.n);
  const inserts = async (m: Metrics) => (await m.clickhouseSeconds.get()).values.find((v) => v.metricName?.endsWith('_count') && v.labels.operation === 'load')?.value ?? 0;

  beforeAll(async () => {
    ch = await tempClickHouse();
    nc = await connect({ servers: '127.0.0.1:4222' });
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
    redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: false });
    await ensureStream(jsm, { name: names.stream, subjects: [names.subject], retention: RetentionPolicy.Workqueue });
    await ensureStream(jsm, { name: names.dlStream, subjects: [`${names.dlPrefix}.>`] });
    await ensureDurableConsumer(jsm, names.stream, { name: names.consumerName, maxAckPending: 2_000, ackWaitMs: 3_000 });
  }, 60_000);

  afterAll(async () => {
    for (const l of loaders) await l.stop();
    for (const s of [names.stream, names.dlStream]) await jsm.streams.delete(s).catch(() => undefined);
    await redis.quit();
    await nc.close();
    await ch.close();
  });

  it('loads many small worker batches in a few inserts, each fact once, suspects checked', async () => {
    const metrics = createMetrics();
    const writer = createFactLogWriter({ js, subject: names.subject, maxMessageBytes: 4_096 });
    const ids = Array.from({ length: 400 }, (_, i) => `fl-${id}-${i}`);
    // 200 worker batches of 2 facts, as 200 small worker batches would publish them.
    for (let i = 0; i < ids.length; i += 2) await writer.write([entry(ids[i]!), entry(ids[i + 1]!)]);
    loader('w1', metrics);
    await factLogFlushed(jsm, names, 30_000);
    expect(await count(ids)).toBe(400);
    const n = await inserts(metrics);
    // 200 messages, loaded at most every 300 ms: a handful of loads, not one per batch.
    expect(n).toBeGreaterThanOrEqual(1);
    expect(n).toBeLessThanOrEqual(5);
    expect((await jsm.streams.info(names.stream)).state.messages).toBe(0);

    // A redelivered input publishes the same facts again in a later batch, flagged as suspects:
    // the loader finds them stored (a load of their own, so the insert token differs).
    const again = [entry(ids[0]!), entry(ids[1]!), entry(ids[7]!), entry(`fl-${id}-new`)];
    await writer.write(again, { suspects: new Set(again.slice(0, 3).map(factKey)) });
    await factLogFlushed(jsm, names, 30_000);
    expect(await count([...ids, `fl-${id}-new`])).toBe(401);

    // A batch too large for one message is split and still loaded whole.
    const big = Array.from({ length: 300 }, (_, i) => `fl-${id}-big-${i}`);
    await writer.write(big.map((b) => entry(b)));
    await factLogFlushed(jsm, names, 30_000);
    expect(await count(big)).toBe(300);
  }, 60_000);

  it('loads version 1 messages of a worker from an earlier release beside version 2, each fact once', async () => {
    const metrics = createMetrics();
    const v1 = createFactLogWriter({ js, subject: names.subject, maxMessageBytes: 65_536, messageVersion: 1 });
    const v2 = createFactLogWriter({ js, subject: names.subject, maxMessageBytes: 65_536 });
    const ids = Array.from({ length: 6 }, (_, i) => `fl-${id}-mixed-${i}`);
    // An id with the separators of version 2 inside it, and an absent (Nullable) amount.
    ids.push(`fl-${id}-mixed\t"tab"\n`);
    await v1.write(ids.slice(0, 4).map((i) => entry(i)));
    // The same input redelivered to an upgraded worker: facts 2 and 3 again, flagged.
    const again = ids.slice(2).map((i) => entry(i));
    await v2.write(again, { suspects: new Set(again.slice(0, 2).map(factKey)) });
    loader('w-mixed', metrics);
    await factLogFlushed(jsm, names, 30_000);
    expect(await count(ids)).toBe(ids.length);
    const stored = await queryRows<{ entry_id: string; amount_minor: string; end_to_end_id: string }>(
      ch.client,
      `SELECT entry_id, toString(amount_minor) AS amount_minor, end_to_end_id FROM ${ch.database}.ledger_entries WHERE entry_id = {id:String}`,
      { id: ids[6]! },
    );
    expect(stored).toEqual([{ entry_id: ids[6], amount_minor: '100', end_to_end_id: `E2E-${ids[6]}` }]);
  }, 60_000);

  it('dead-letters an unreadable log message and goes on loading', async () => {
    const metrics = createMetrics();
    loader('w2', metrics);
    await js.publish(names.subject, new TextEncoder().encode('{"v":1,"facts":[{"table":"nope","row":{}}],"suspects":[]}'));
    const writer = createFactLogWriter({ js, subject: names.subject, maxMessageBytes: 65_536 });
    await writer.write([entry(`fl-${id}-after`)]);
    await factLogFlushed(jsm, names, 30_000);
    expect(await count([`fl-${id}-after`])).toBe(1);
    const dl = await jsm.streams.getMessage(names.dlStream, { last_by_subj: `${names.dlPrefix}.facts` });
    expect(dl?.header.get('Recon-Dead-Letter-Reason')).toMatch(/facts\[0\]\.table is not a fact table/);
  }, 60_000);

  it('one loader at a time: a standby takes over when the holder stops', async () => {
    for (const l of loaders.splice(0)) await l.stop();
    const m1 = createMetrics();
    const m2 = createMetrics();
    const a = loader('a', m1);
    await waitFor('a holds the lease', async () => a.active());
    const b = loader('b', m2);
    const writer = createFactLogWriter({ js, subject: names.subject, maxMessageBytes: 65_536 });
    await writer.write([entry(`fl-${id}-a`)]);
    await factLogFlushed(jsm, names, 30_000);
    expect(b.active()).toBe(false);
    expect((await m2.factLoadMessages.get()).values[0]?.value ?? 0).toBe(0);

    await a.stop();
    await waitFor('b takes the lease', async () => b.active(), 10_000);
    await writer.write([entry(`fl-${id}-b`)]);
    await factLogFlushed(jsm, names, 30_000);
    expect(await count([`fl-${id}-a`, `fl-${id}-b`])).toBe(2);
    expect((await m2.factLoadMessages.get()).values[0]!.value).toBeGreaterThanOrEqual(1);
  }, 60_000);
});
