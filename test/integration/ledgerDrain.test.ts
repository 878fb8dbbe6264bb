import { randomUUID } from 'node:crypto';
import { AckPolicy, jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { factKey, type Fact } from '../../src/domain/facts.js';
import type { Leg } from '../../src/domain/types.js';
import { startLedgerDrain } from '../../src/jobs/ledgerDrain.js';
import { startSweeper } from '../../src/jobs/sweeper.js';
import type { FactWriter } from '../../src/sinks/clickhouse/factWriter.js';
import { MatchStore } from '../../src/state/matchStore.js';

const T0 = 1_700_000_000_000;
const WINDOW = 3_000;
const mint: Leg = {
  legId: 'chain:mint-1',
  side: 'chain',
  flow: 'deposit',
  accountId: 'acc-1',
  wallet: '0x1111111111111111111111111111111111111111',
  currency: 'USD',
  tokenKey: '0x2222222222222222222222222222222222222222',
  amountKey: '100',
  amountNative: '1000000000000000000',
  eventTime: T0,
  reference: 'TOK-1',
  fingerprint: 'fp-mint-1',
};

/**
 * A mint waits for its posting while the bank feed is silent: its window may follow the wall
 * clock only once a worker found the ledger consumer drained, not while a posting sits in it
 * undelivered or unacknowledged (a stalled delivery closed such a window and raised a false
 * MISSING_BANK_CREDIT). Real JetStream consumer, real Redis, the sweeper on an injected clock.
 */
describe('ledger drain: a silent bank feed is idle only when nothing waits in its consumer', () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let redis: Redis;
  let store: MatchStore;
  const stream = `LEDGER_DRAIN_${randomUUID().slice(0, 8)}`;
  const subject = `${stream.toLowerCase()}.postings`;

  beforeAll(async () => {
    nc = await connect({ servers: '127.0.0.1:4222' });
    jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [subject] });
    await jsm.consumers.add(stream, { durable_name: 'recon', ack_policy: AckPolicy.Explicit });
    redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
    store = new MatchStore(redis, { namespace: `drain-${randomUUID()}`, windowMs: WINDOW, toleranceMs: WINDOW + 1_000, retentionMs: 3_600_000, claimVisibilityMs: 30_000 });
  });

  afterAll(async () => {
    await store?.clear();
    redis?.disconnect();
    await jsm?.streams.delete(stream).catch(() => undefined);
    await nc?.close();
  });

  it('holds the mint open while a posting is pending or unacked, and closes its window once the consumer is drained', async () => {
    let clock = T0;
    const stored = new Map<string, Fact>();
    const writer = {
      async write(facts: readonly Fact[]) {
        for (const f of facts) stored.set(factKey(f), f);
        return { inserted: facts.length, skippedDuplicates: 0 };
      },
    } as unknown as FactWriter;
    const log = pino({ level: 'silent' });
    const sweeper = startSweeper({ store, writer, log, allowedLatenessMs: 1_000, ledgerIdleMs: 2_000, retentionMs: 3_600_000, intervalMs: 3_600_000, now: () => clock });
    const drain = startLedgerDrain({
      jsm,
      store,
      partitions: [{ partition: 0, ledgerStream: stream, ledgerSubjects: [subject], chainStream: 'unused', chainSubjectPrefix: 'unused' }],
      consumerName: 'recon',
      everyMs: 3_600_000,
      log,
      now: () => clock,
    });

    // The bank feed was last seen long before; the mint parks.
    await store.advanceWatermark('ledger', T0 - 60_000, T0 - 60_000);
    expect((await store.matchOrPark(mint, 'booked')).outcome.t).toBe('parked');

    // A posting is in the stream, not yet delivered: not drained, the window stays open.
    await jetstream(nc).publish(subject, new Uint8Array([1]));
    clock = T0 + 10_000;
    expect(await drain.checkOnce()).toEqual([]);
    expect(await sweeper.sweepOnce()).toBe(0);

    // Delivered but not acknowledged: still not drained.
    const consumer = await jetstream(nc).consumers.get(stream, 'recon');
    const msg = await consumer.next({ expires: 5_000 });
    expect(msg).not.toBeNull();
    expect(await drain.checkOnce()).toEqual([]);
    expect(await sweeper.sweepOnce()).toBe(0);
    expect(stored.size).toBe(0);

    // Acknowledged: drained; silent for longer than ledgerIdleMs, so the window follows the wall clock.
    expect(await msg!.ackAck()).toBe(true);
    expect(await drain.checkOnce()).toEqual([0]);
    expect(await sweeper.sweepOnce()).toBe(1);
    expect([...stored.values()].map((f) => (f.row as { kind: string }).kind)).toEqual(['MISSING_BANK_CREDIT']);

    // A drained mark older than ledgerIdleMs no longer counts.
    await store.matchOrPark({ ...mint, legId: 'chain:mint-2', fingerprint: 'fp-mint-2', eventTime: T0 + 9_000 }, 'booked');
    clock = T0 + 20_000;
    expect(await sweeper.sweepOnce()).toBe(0);
    expect(await drain.checkOnce()).toEqual([0]);
    expect(await sweeper.sweepOnce()).toBe(1);
    await drain.stop();
    await sweeper.stop();
  });

  it('marks the consumer drained as of before it asked, not when the answer came back', async () => {
    let clock = T0 + 100_000;
    // The consumer-info answer takes 700 ms to come back: a posting may have arrived meanwhile.
    const slowJsm = {
      consumers: {
        info: async (stream: string, name: string) => {
          const ci = await jsm.consumers.info(stream, name);
          clock += 700;
          return ci;
        },
      },
    } as unknown as JetStreamManager;
    const drain = startLedgerDrain({
      jsm: slowJsm,
      store,
      partitions: [{ partition: 0, ledgerStream: stream, ledgerSubjects: [subject], chainStream: 'unused', chainSubjectPrefix: 'unused' }],
      consumerName: 'recon',
      everyMs: 3_600_000,
      log: pino({ level: 'silent' }),
      now: () => clock,
    });
    expect(await drain.checkOnce()).toEqual([0]);
    expect((await store.watermarks()).ledgerPartitions[0]!.drainedAt).toBe(T0 + 100_000);
    await drain.stop();
  });
});
