import { headers as natsHeaders } from '@nats-io/nats-core';
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { DeadLetterRow, Fact } from '../domain/facts.js';
import { redactText } from '../lib/redact.js';

export interface DeadLetterSinkOptions {
  js: JetStreamClient;
  /** Subjects are `${subjectPrefix}.${source}`; the DEADLETTER stream captures `${subjectPrefix}.>`. */
  subjectPrefix: string;
}

export interface DeadLetter {
  msg: JsMsg;
  source: string;
  code: string;
  reason: string;
}

/** Header names a dead letter carries besides the original message's own headers. */
export const DEAD_LETTER_HEADERS = {
  code: 'Recon-Dead-Letter-Code',
  reason: 'Recon-Dead-Letter-Reason',
  subject: 'Recon-Original-Subject',
  stream: 'Recon-Original-Stream',
  seq: 'Recon-Original-Seq',
} as const;

const deadLetterId = (m: JsMsg) => `${m.info.stream}:${m.seq}`;

/**
 * Publishes bad input, with its original bytes and headers and the reason, to the dead-letter
 * subject, and waits for JetStream to store it (a message id makes a re-publish harmless). Returns
 * the fact to write to ClickHouse; only after both is the original message acked.
 */
export function createDeadLetterSink(options: DeadLetterSinkOptions) {
  return async function deadLetter(d: DeadLetter, now: number): Promise<Fact> {
    // A reason may quote an error that quotes a URL (an RPC endpoint with its key): never stored.
    // Well-formed too: the dead_letters row must always insert, whatever the reason quotes.
    const reason = redactText(d.reason).toWellFormed();
    const h = natsHeaders();
    const original: Record<string, string[]> = {};
    if (d.msg.headers) {
      for (const [k, v] of d.msg.headers) {
        original[k] = v;
        for (const value of v) h.append(k, value);
      }
    }
    h.set(DEAD_LETTER_HEADERS.code, d.code);
    // Header values are single-line.
    h.set(DEAD_LETTER_HEADERS.reason, reason.replace(/[\r\n]+/g, ' ').slice(0, 2_000));
    h.set(DEAD_LETTER_HEADERS.subject, d.msg.subject);
    h.set(DEAD_LETTER_HEADERS.stream, d.msg.info.stream);
    h.set(DEAD_LETTER_HEADERS.seq, String(d.msg.seq));
    await options.js.publish(`${options.subjectPrefix}.${d.source}`, d.msg.data, {
      headers: h,
      msgID: `dl:${deadLetterId(d.msg)}`,
    });
    const row: DeadLetterRow = {
      dead_letter_id: deadLetterId(d.msg),
      source: d.source,
      subject: d.msg.subject,
      stream_seq: d.msg.seq,
      reason_code: d.code,
      reason,
      payload_base64: Buffer.from(d.msg.data).toString('base64'),
      headers: JSON.stringify(original),
      recorded_at: now,
    };
    return { table: 'dead_letters', row };
  };
}
