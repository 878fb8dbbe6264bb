import type { JetStreamClient } from '@nats-io/jetstream';
import { SinkRejected, SinkUnavailable } from '../../lib/errors.js';
import type { FactWriter } from '../clickhouse/factWriter.js';
import { encodeFactLog, type FactLogVersion } from './factLogMessage.js';

export interface FactLogWriterOptions {
  js: JetStreamClient;
  /** Subject of the fact log stream. */
  subject: string;
  /** A batch is split into messages of about this many bytes at most. */
  maxMessageBytes: number;
  /** How long one publish may wait for its stream acknowledgement. */
  timeoutMs?: number;
  /** Message format written (factLogMessage.ts); 2 unless a loader of an older release still runs. */
  messageVersion?: FactLogVersion;
}

/**
 * A FactWriter whose "durable" is the fact log: a write resolves once every message of the batch
 * is acknowledged by JetStream (stored, and on a clustered stream replicated to a quorum), so the
 * inputs that produced the facts may be acked; the fact loader (factLoader.ts) then inserts them
 * into ClickHouse in few large inserts. Facts that may be stored already (`suspects`) travel
 * flagged, and the loader looks them up before inserting. A message the server refuses for good
 * (too large for its max_payload) rejects as SinkRejected; anything else as SinkUnavailable.
 */
export function createFactLogWriter(o: FactLogWriterOptions): FactWriter {
  return {
    async write(facts, options = {}) {
      if (facts.length === 0) return { inserted: 0, skippedDuplicates: 0 };
      const messages = encodeFactLog(facts, options.suspects, o.maxMessageBytes, o.messageVersion ?? 2);
      await Promise.all(
        messages.map(async (m) => {
          try {
            await o.js.publish(o.subject, m.data, { msgID: m.id, timeout: o.timeoutMs ?? 10_000 });
          } catch (e) {
            const message = e instanceof Error ? e.message : String(e);
            if (/max.?payload|maximum payload/i.test(message)) {
              throw new SinkRejected('the fact log refused a message larger than its max_payload', { serverCode: 'MAX_PAYLOAD', details: `${m.data.byteLength} bytes, ${m.facts} facts`, cause: e });
            }
            throw new SinkUnavailable(`fact log publish failed: ${message}`, { details: message, cause: e });
          }
        }),
      );
      return { inserted: facts.length, skippedDuplicates: 0 };
    },
  };
}
