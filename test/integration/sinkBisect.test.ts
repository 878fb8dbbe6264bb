import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { firstValueFrom, of, toArray } from 'rxjs';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fact } from '../../src/domain/facts.js';
import { ackAfterDurable } from '../../src/worker/ackAfterDurable.js';
import { createFactWriter } from '../../src/sinks/clickhouse/factWriter.js';
import { countFacts, queryRows } from '../../src/sinks/clickhouse/queries.js';
import { createDeadLetterSink } from '../../src/sinks/deadLetters.js';
import { ensureStream } from '../../src/streams/jetstreamSetup.js';
import { tempClickHouse, type TempClickHouse } from '../support/clickhouse.js';
import { fakeMsg, processed } from '../support/fakeMessages.js';

const T = Date.UTC(2026, 0, 2);
function entry(id: string, remittance = 'ref'): Fact {
  return {
    table: 'ledger_entries',
    row: {
      entry_id: id,
      account_id: 'ACC-1',
      direction: 'credit',
      amount_minor: '100',
      currency: 'USD',
      exponent: 2,
      booking_time: T,
      value_time: T,
      status: 'booked',
      tx_type: 'deposit',
      end_to_end_id: '',
      remittance,
      tokenization_ref: '',
      schema_version: 2,
      stream_seq: 1,
      version: 2,
      recorded_at: T,
    },
  };
}

/**
 * The bisect against a real refusal: embedded ClickHouse refuses a JSON string holding a lone UTF-16
 * surrogate (code 25, CANNOT_PARSE_ESCAPE_SEQUENCE) for good. The batch carrying it is bisected; the
 * offending message is dead-lettered (DEADLETTER stream and dead_letters table) with the server's
 * reason, the other messages' facts are stored once and every message is acked.
 */
describe('sink bisect (embedded ClickHouse, NATS)', () => {
  let ch: TempClickHouse;
  let nc: NatsConnection;
  const id = Math.random().toString(36).slice(2, 8);
  beforeAll(async () => {
    ch = await tempClickHouse();
    nc = await connect({ servers: '127.0.0.1:4222' });
    await ensureStream(await jetstreamManager(nc), { name: `DL_BISECT_${id}`, subjects: [`dlb_${id}.>`] });
  });
  afterAll(async () => {
    await (await jetstreamManager(nc)).streams.delete(`DL_BISECT_${id}`).catch(() => undefined);
    await nc.close();
    await ch.close();
  });

  it('dead-letters the message whose facts ClickHouse refuses, writes and acks the rest', async () => {
    const js = jetstream(nc);
    const writer = createFactWriter(ch.client, ch.database);
    const msgs = Array.from({ length: 12 }, (_, i) => fakeMsg(i + 1, { stream: `LEDGER_${id}` }));
    const batch = msgs.map((m, i) => processed(m, [entry(`${id}-E-${i}`, i === 7 ? 'lone \ud800 surrogate' : 'ref')]));
    const [report] = await firstValueFrom(
      of(batch).pipe(
        ackAfterDurable({
          writer,
          log: pino({ level: 'silent' }),
          stopping: () => false,
          maxBackoffMs: 10,
          deadLetter: createDeadLetterSink({ js, subjectPrefix: `dlb_${id}` }),
          advanceWatermarks: async () => undefined,
        }),
        toArray(),
      ),
    );

    expect(msgs.map((m) => m.events.join())).toEqual(Array(12).fill('ack'));
    expect(report).toMatchObject({ messages: 12, deadLetters: 1 });
    expect(await countFacts(ch.client, ch.database, 'ledger_entries', { final: false })).toBe(11);
    const dl = await queryRows<{ dead_letter_id: string; reason_code: string; reason: string }>(ch.client, `SELECT dead_letter_id, reason_code, reason FROM ${ch.database}.dead_letters`);
    expect(dl).toHaveLength(1);
    expect(dl[0]).toMatchObject({ dead_letter_id: `LEDGER_${id}:8`, reason_code: 'SINK_REJECTED' });
    expect(dl[0]!.reason).toMatch(/server code 25.*surrogate/i);
    const info = await (await jetstreamManager(nc)).streams.info(`DL_BISECT_${id}`);
    expect(info.state.messages).toBe(1);
  });
});
