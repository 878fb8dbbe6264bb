import { randomUUID } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureStream } from '../../src/streams/jetstreamSetup.js';
import { createDeadLetterSink, DEAD_LETTER_HEADERS } from '../../src/sinks/deadLetters.js';
import { describeFailure } from '../../src/lib/failureKind.js';
import type { DeadLetterRow } from '../../src/domain/facts.js';

const KEY = '0f1e2d3c4b5a69788796a5b4c3d2e1f0';

describe('dead letters never store a secret', () => {
  const id = randomUUID().slice(0, 8);
  const names = { in: `SECIN_${id}`, dl: `SECDL_${id}`, subject: `secin_${id}.x`, prefix: `secdl_${id}` };
  let nc: NatsConnection;
  let jsm: JetStreamManager;

  beforeAll(async () => {
    nc = await connect({ servers: '127.0.0.1:4222' });
    jsm = await jetstreamManager(nc);
    await ensureStream(jsm, { name: names.in, subjects: [names.subject] });
    await ensureStream(jsm, { name: names.dl, subjects: [`${names.prefix}.>`] });
  });
  afterAll(async () => {
    for (const s of [names.in, names.dl]) await jsm.streams.delete(s).catch(() => undefined);
    await nc.close();
  });

  it('describeFailure, which builds the reasons of poison messages, redacts too', () => {
    expect(describeFailure(new Error(`URL: https://mainnet.infura.io/v3/${KEY}`))).toBe('Error: URL: https://mainnet.infura.io/v3/***');
  });

  it('redacts an RPC key and a password quoted by the reason, in the header and in the fact', async () => {
    const js = jetstream(nc);
    await js.publish(names.subject, new TextEncoder().encode('payload'));
    const consumer = await js.consumers.get(names.in);
    const msg = await consumer.next({ expires: 5_000 });
    expect(msg).not.toBeNull();
    // A reason as a caller may build it, quoting an error's raw message (the sink redacts it itself).
    const reason = `enrichment failed: HTTP request failed.\n\nURL: https://mainnet.infura.io/v3/${KEY}\nDetails: redis://default:hunter2pw@redis:6379 refused`;
    const fact = await createDeadLetterSink({ js, subjectPrefix: names.prefix })({ msg: msg!, source: 'ledger', code: 'TEST', reason }, Date.now());
    msg!.ack();
    const row = fact.row as DeadLetterRow;
    expect(row.reason).toBe('enrichment failed: HTTP request failed.\n\nURL: https://mainnet.infura.io/v3/***\nDetails: redis://default:***@redis:6379 refused');
    const stored = await jsm.streams.getMessage(names.dl, { seq: 1 });
    const header = stored!.header.get(DEAD_LETTER_HEADERS.reason);
    expect(header).toContain('https://mainnet.infura.io/v3/***');
    for (const text of [row.reason, header, JSON.stringify(row)]) {
      expect(text).not.toContain(KEY);
      expect(text).not.toContain('hunter2pw');
    }
  });
});
