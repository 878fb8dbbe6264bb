import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { ensureConsumers, ensureStreams } from '../../src/streams/jetstreamSetup.js';
import { factLogLoaded } from '../../src/sinks/factLog/factLogLoaded.js';
import { isolatedNames, testSink } from '../support/harness.js';

/**
 * The demo and aml:report query ClickHouse once their inputs are acked; with the fact log (the
 * default) they first wait for the loader. Real JetStream: the fact log's stream and the loader's
 * consumer as the engine creates them; a fact message counts until the loader acks it.
 */
describe('factLogLoaded: the loader has nothing pending and nothing unacked', () => {
  const names = isolatedNames();
  const config = parseConfig({ namespace: names.namespace, nats: names.nats, sink: testSink(names, {}, 'log') });
  let nc: NatsConnection;
  let jsm: JetStreamManager;

  beforeAll(async () => {
    nc = await connect({ servers: '127.0.0.1:4222' });
    jsm = await jetstreamManager(nc);
    await ensureStreams(jsm, config);
    await ensureConsumers(jsm, config);
  });

  afterAll(async () => {
    for (const s of [names.nats.ledgerStream, names.nats.chainStream, names.nats.mappingStream, names.nats.deadLetterStream, config.sink.log.stream]) {
      await jsm.streams.delete(s).catch(() => undefined);
    }
    await nc.close();
  });

  it('is loaded at once when the log is empty, and with direct inserts', async () => {
    expect(await factLogLoaded(jsm, config, 0)).toBe(true);
    expect(await factLogLoaded(jsm, parseConfig({ sink: { mode: 'direct' } }), 0)).toBe(true);
  });

  it('waits while a fact message is pending, then while it is delivered and unacked, until the ack', async () => {
    const js = jetstream(nc);
    await js.publish(config.sink.log.subject, new TextEncoder().encode('{}'));
    expect(await factLogLoaded(jsm, config, 300, 50)).toBe(false);

    const consumer = await js.consumers.get(config.sink.log.stream, config.sink.log.consumerName);
    const m = await consumer.next({ expires: 2_000 });
    expect(m).not.toBeNull();
    expect(await factLogLoaded(jsm, config, 300, 50)).toBe(false);

    const loaded = factLogLoaded(jsm, config, 5_000, 50);
    await m!.ackAck();
    expect(await loaded).toBe(true);
  });
});
