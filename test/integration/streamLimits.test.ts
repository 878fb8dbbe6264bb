import { connect, type NatsConnection } from '@nats-io/transport-node';
import { DiscardPolicy, jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureAlertOutbox } from '../../src/alerts/alertStreams.js';
import { parseConfig } from '../../src/config/load.js';
import { ensureStreams } from '../../src/streams/jetstreamSetup.js';
import { isolatedNames, testSink } from '../support/harness.js';

const DAY = 86_400_000;

/** Every stream the engine creates carries its configured retention, on the real JetStream server. */
describe('stream retention limits', () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const names = isolatedNames();
  const alertsStream = `ALERTS_${names.namespace}`;
  const all = [names.nats.ledgerStream, names.nats.chainStream, names.nats.mappingStream, names.nats.deadLetterStream, alertsStream];

  beforeAll(async () => {
    nc = await connect({ servers: ['127.0.0.1:4222'] });
    jsm = await jetstreamManager(nc);
  });
  afterAll(async () => {
    for (const s of all) await jsm.streams.delete(s).catch(() => undefined);
    await nc.close();
  });

  it('creates each stream with the default limits: input kept 90 days and never dropped unread, mappings never aged, dead letters 400 days', async () => {
    const config = parseConfig({ namespace: names.namespace, nats: names.nats, sink: testSink(names, {}), alerts: { stream: alertsStream, subjectPrefix: `alerts_${names.namespace}` } });
    await ensureStreams(jsm, config);
    await ensureAlertOutbox(jsm, config.alerts);
    const cfg = async (s: string) => (await jsm.streams.info(s)).config;
    expect(await cfg(names.nats.ledgerStream)).toMatchObject({ max_age: nanos(90 * DAY), max_bytes: -1, discard: DiscardPolicy.New });
    expect(await cfg(names.nats.chainStream)).toMatchObject({ max_age: nanos(90 * DAY), discard: DiscardPolicy.New });
    expect(await cfg(names.nats.mappingStream)).toMatchObject({ max_age: 0, max_msgs: 10_000_000, max_msgs_per_subject: -1, discard: DiscardPolicy.New });
    expect(await cfg(names.nats.deadLetterStream)).toMatchObject({ max_age: nanos(400 * DAY), max_msgs: 10_000_000, discard: DiscardPolicy.Old });
    expect(await cfg(alertsStream)).toMatchObject({ max_age: nanos(30 * DAY), discard: DiscardPolicy.New });
  });

  it('applies changed limits to existing streams, and a full ledger refuses a publish instead of dropping unread postings', async () => {
    const config = parseConfig({
      namespace: names.namespace,
      sink: testSink(names, {}),
      nats: { ...names.nats, limits: { ledger: { maxMsgs: 1_000, maxBytes: 2 ** 20 }, deadLetter: { maxAgeMs: 30 * DAY, maxMsgs: 1_000 } } },
    });
    await ensureStreams(jsm, config);
    const ledger = (await jsm.streams.info(names.nats.ledgerStream)).config;
    expect(ledger).toMatchObject({ max_msgs: 1_000, max_bytes: 2 ** 20, max_age: nanos(90 * DAY), discard: DiscardPolicy.New });
    expect((await jsm.streams.info(names.nats.deadLetterStream)).config).toMatchObject({ max_age: nanos(30 * DAY), max_msgs: 1_000 });

    const js = jetstream(nc);
    const subject = names.ledgerSubject;
    await Promise.all(Array.from({ length: 1_000 }, (_, i) => js.publish(subject, `p${i}`)));
    await expect(js.publish(subject, 'one too many')).rejects.toThrow(/maximum messages exceeded/i);
    const state = (await jsm.streams.info(names.nats.ledgerStream)).state;
    expect(state.messages).toBe(1_000);
    expect(state.first_seq).toBe(1);
  });

  it('refuses at start a ledger retention shorter than the time a leg stays matchable, naming the field', () => {
    expect(() => parseConfig({ nats: { limits: { ledger: { maxAgeMs: DAY } } }, matching: { lateRetentionMs: 7 * DAY } })).toThrow(/nats\.limits\.ledger\.maxAgeMs.*lateRetentionMs/s);
    expect(() => parseConfig({ nats: { limits: { chain: { maxBytes: 10 } } } })).toThrow(/nats\.limits\.chain\.maxBytes.*1 MiB/s);
    expect(() => parseConfig({ alerts: { streamLimits: { maxAgeMs: 3_600_000 }, duplicateWindowMs: 2 * 3_600_000 } })).toThrow(/alerts\.streamLimits\.maxAgeMs/);
    expect(() => parseConfig({ aml: { enabled: true, stateTtlMs: 30 * DAY } })).toThrow(/aml\.stateTtlMs.*nats\.limits\.ledger\.maxAgeMs/s);
    expect(() => parseConfig({ aml: { enabled: true }, nats: { limits: { chain: { maxAgeMs: 0 } } } })).toThrow(/aml\.stateTtlMs.*unlimited/s);
    expect(parseConfig({ aml: { enabled: true } }).aml.stateTtlMs).toBe(400 * DAY);
  });
});
