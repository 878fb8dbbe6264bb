/**
 * camt XML carried on a JetStream subject (`camt.inputSubject`, stream `camt.inputStream`): one
 * message is one camt document, ingested whole or dead-lettered, and acked only after its
 * postings are durable in the ledger stream (or its dead letter is stored). A transient failure
 * naks the message for redelivery.
 */
import { AckPolicy, DeliverPolicy, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import { ensureStream } from '../streams/jetstreamSetup.js';
import { ingestCamt, type CamtIngestDeps, type CamtIngestResult } from './camtIngest.js';

export interface CamtSubjectOptions extends CamtIngestDeps {
  jsm: JetStreamManager;
  log?: Logger;
  /** Called after each message is settled (acked), with what became of it. */
  onResult?: (r: CamtIngestResult, msg: JsMsg) => void;
}

/** Creates the camt input stream and its durable consumer (idempotent). */
export async function ensureCamtInput(jsm: JetStreamManager, o: CamtIngestDeps['config']): Promise<void> {
  const c = o.camt;
  await ensureStream(jsm, { name: c.inputStream, subjects: [c.inputSubject], num_replicas: o.nats.replicas, max_msg_size: -1 });
  try {
    await jsm.consumers.info(c.inputStream, c.inputConsumer);
  } catch (e) {
    if (!/not found/i.test(String((e as Error).message))) throw e;
    await jsm.consumers.add(c.inputStream, { durable_name: c.inputConsumer, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, ack_wait: nanos(o.nats.ackWaitMs), max_ack_pending: 4 });
  }
}

/** Ingests one camt message of the subject, then acks it; naks it on a transient failure. */
export async function camtSubjectMessage(msg: JsMsg, o: CamtSubjectOptions): Promise<CamtIngestResult | undefined> {
  const name = `${msg.subject}#${msg.seq}`;
  try {
    const data = msg.data;
    const r = await ingestCamt(
      {
        name,
        size: data.byteLength,
        open: async function* () {
          yield data;
        },
      },
      o,
    );
    await msg.ackAck();
    o.onResult?.(r, msg);
    return r;
  } catch (e) {
    o.log?.warn({ err: e, message: name }, 'camt: transient failure, message will be redelivered');
    msg.nak(o.config.nats.redeliveryDelayMs.min);
    return undefined;
  }
}

/**
 * Consumes the camt input subject one message at a time until `signal` aborts. Resolves when the
 * consumer has stopped.
 */
export async function consumeCamtSubject(o: CamtSubjectOptions & { js: JetStreamClient; signal: AbortSignal }): Promise<void> {
  await ensureCamtInput(o.jsm, o.config);
  const consumer = await o.js.consumers.get(o.config.camt.inputStream, o.config.camt.inputConsumer);
  const messages = await consumer.consume({ max_messages: 1 });
  o.signal.addEventListener('abort', () => void messages.close(), { once: true });
  for await (const msg of messages) {
    await camtSubjectMessage(msg, o);
    if (o.signal.aborted) break;
  }
}
