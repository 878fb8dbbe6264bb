import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { factKey, type Fact } from '../../src/domain/facts.js';
import type { Leg } from '../../src/domain/types.js';
import { SinkUnavailable } from '../../src/lib/errors.js';
import { startSweeper } from '../../src/jobs/sweeper.js';
import type { FactWriter } from '../../src/sinks/clickhouse/factWriter.js';
import { MatchStore } from '../../src/state/matchStore.js';

const T0 = 1_700_000_000_000;
const WINDOW = 60_000;
const WALLET = '0x1111111111111111111111111111111111111111';
const credit = (n: string): Leg => ({
  legId: `bank:${n}`,
  side: 'bank',
  flow: 'deposit',
  accountId: 'acc-1',
  wallet: WALLET,
  currency: 'USD',
  tokenKey: '',
  amountKey: '12345',
  amountNative: '12345',
  eventTime: T0,
  reference: null,
  fingerprint: `fp-${n}`,
});

const opened: { redis: Redis; store: MatchStore }[] = [];
afterEach(async () => {
  for (const { redis, store } of opened.splice(0)) {
    await store.clear();
    redis.disconnect();
  }
});

/** A writer that keeps facts by key and can be made to fail like ClickHouse being down. */
function memoryWriter() {
  const stored = new Map<string, Fact>();
  const w = {
    stored,
    down: false,
    async write(facts: readonly Fact[]) {
      if (w.down) throw new SinkUnavailable('ClickHouse unavailable: insert failed after 6 attempts');
      for (const f of facts) stored.set(factKey(f), f);
      return { inserted: facts.length, skippedDuplicates: 0 };
    },
  };
  return w;
}

/**
 * The sweeper against a real match store, on an injected clock: windows close on event-time
 * watermarks, never on a sleep, and a discrepancy whose write failed is raised again, once.
 */
describe('sweeper (real Redis, injected clock)', () => {
  function setup() {
    const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
    const store = new MatchStore(redis, { namespace: `sw-${randomUUID()}`, windowMs: WINDOW, toleranceMs: WINDOW + 5_000, retentionMs: 3_600_000, claimVisibilityMs: 30_000 });
    opened.push({ redis, store });
    const writer = memoryWriter();
    let clock = T0;
    const sweeper = startSweeper({
      store,
      writer: writer as unknown as FactWriter,
      log: pino({ level: 'silent' }),
      allowedLatenessMs: 5_000,
      ledgerIdleMs: 3_600_000,
      retentionMs: 3_600_000,
      intervalMs: 3_600_000,
      now: () => clock,
    });
    return {
      store,
      writer,
      sweeper,
      advance: (ms: number) => {
        clock += ms;
        return clock;
      },
      at: () => clock,
    };
  }

  it('opens MISSING_MINT for a parked credit once the chain watermark passes its deadline, not before', async () => {
    const { store, writer, sweeper, at } = setup();
    await store.matchOrPark(credit('e1'), 'booked');
    await store.advanceWatermark('chain', T0 + WINDOW - 1, at());
    expect(await sweeper.sweepOnce()).toBe(0);
    expect(writer.stored.size).toBe(0);
    await store.advanceWatermark('chain', T0 + WINDOW + 1, at());
    expect(await sweeper.sweepOnce()).toBe(1);
    expect([...writer.stored.values()].map((f) => f.row as { kind: string; status: string })).toMatchObject([{ kind: 'MISSING_MINT', status: 'open' }]);
    expect(await sweeper.sweepOnce()).toBe(0);
    await sweeper.stop();
  });

  it('hands a claim whose write failed out again after its visibility timeout, and the same discrepancy id is written', async () => {
    const { store, writer, sweeper, advance, at } = setup();
    await store.matchOrPark(credit('e2'), 'booked');
    await store.advanceWatermark('chain', T0 + WINDOW + 1, at());
    writer.down = true;
    await expect(sweeper.sweepOnce()).rejects.toBeInstanceOf(SinkUnavailable);
    writer.down = false;
    expect(await sweeper.sweepOnce()).toBe(0); // still claimed by the failed sweep
    advance(30_001);
    expect(await sweeper.sweepOnce()).toBe(1);
    expect([...writer.stored.keys()]).toHaveLength(1);
    expect([...writer.stored.keys()][0]).toMatch(/MISSING_MINT:bank:e2/);
    await sweeper.stop();
  });
});
