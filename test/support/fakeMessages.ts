import type { JsMsg } from '@nats-io/jetstream';
import type { Processed } from '../../src/worker/messageStage.js';
import type { Fact } from '../../src/domain/facts.js';
import type { EntryFingerprints, FingerprintCheck } from '../../src/state/entryFingerprints.js';

/** What was done to a fake JetStream message, in order. */
export type MsgEvent = 'ack' | `nak:${number}` | 'working';

export interface FakeMsg extends JsMsg {
  events: MsgEvent[];
}

/**
 * A stand-in for a delivered JetStream message that records ack, nak and working (the operators
 * under test only read these fields and call these methods). `deliveryCount` > 1 marks a redelivery.
 */
export function fakeMsg(seq: number, o: { stream?: string; subject?: string; data?: Uint8Array; deliveryCount?: number } = {}): FakeMsg {
  const events: MsgEvent[] = [];
  const deliveryCount = o.deliveryCount ?? 1;
  const msg = {
    seq,
    subject: o.subject ?? 'ledger.test',
    data: o.data ?? new TextEncoder().encode(`message ${seq}`),
    headers: undefined,
    redelivered: deliveryCount > 1,
    info: { stream: o.stream ?? 'TEST', deliveryCount, timestampNanos: Date.now() * 1e6 },
    events,
    ack: () => {
      events.push('ack');
    },
    nak: (delay?: number) => {
      events.push(`nak:${delay ?? 0}`);
    },
    working: () => {
      events.push('working');
    },
  };
  return msg as unknown as FakeMsg;
}

/** A processed message carrying `facts` (no dead letter, no suspects). */
export function processed(msg: FakeMsg, facts: Fact[], over: Partial<Processed> = {}): Processed {
  return { msg, source: 'ledger', facts, suspects: [], corr: `${msg.info.stream}:${msg.seq}`, ...over };
}

/**
 * The content record of entry ids in memory, answering as the Redis one does (EntryFingerprints):
 * new, the same content again, or a conflict with the first content (`seenBefore` as given).
 */
export function memoryFingerprints(seenBefore: boolean): EntryFingerprints {
  const contents = new Map<string, string>();
  return {
    async check(id: string, fp: string): Promise<FingerprintCheck> {
      const first = contents.get(id);
      if (first === undefined) {
        contents.set(id, fp);
        return { t: 'new' };
      }
      return first === fp ? { t: 'same' } : { t: 'conflict', first, seenBefore };
    },
  } as unknown as EntryFingerprints;
}
