import type { JetStreamClient, PubAck } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/nats-core';
import { createLedgerCodec, type LedgerCodec, type LedgerPosting } from '../streams/ledgerCodec.js';

export interface PublishPostingOptions {
  /** Avro schema version to write (default the latest). */
  version?: number;
  /** Appended to the msgID of a deliberate redelivery, so JetStream's duplicate window keeps it. */
  msgIdSuffix?: string;
  codec?: LedgerCodec;
}

let defaultCodec: LedgerCodec | undefined;

/** JetStream message id of a posting: one per entry and status (PENDING then BOOKED are two messages). */
export function postingMsgId(posting: Pick<LedgerPosting, 'entryId' | 'status'>, suffix?: string): string {
  return `${posting.entryId}:${posting.status}${suffix ? `:${suffix}` : ''}`;
}

/**
 * Publishes one posting as core banking does: Avro-encoded with the codec, the `Recon-Schema`
 * header naming the writer's version, and msgID = entryId + status (+ suffix), so a producer's
 * retry is dropped by JetStream while a deliberate duplicate is not.
 */
export async function publishPosting(js: JetStreamClient, subject: string, posting: LedgerPosting, options: PublishPostingOptions = {}): Promise<PubAck> {
  const codec = options.codec ?? (defaultCodec ??= createLedgerCodec());
  const { bytes, headers } = codec.encode(posting, options.version);
  return publishRaw(js, subject, bytes, headers, postingMsgId(posting, options.msgIdSuffix));
}

/** Publishes bytes with headers and a msgID as-is (poison messages, replays). */
export async function publishRaw(js: JetStreamClient, subject: string, bytes: Uint8Array, headers: Record<string, string>, msgID: string): Promise<PubAck> {
  const h = natsHeaders();
  for (const [k, v] of Object.entries(headers)) h.set(k, v);
  return js.publish(subject, bytes, { msgID, headers: h });
}
