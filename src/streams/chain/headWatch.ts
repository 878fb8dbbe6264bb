/**
 * The chain head as the leader sees it: when it last moved, whether it stalled (no new block for
 * `stallTimeoutMs`: logged, a `ChainStall` message on `<prefix>.<chainId>.stall` on and off, and
 * the `onHeadStatus` hook), and the poll loop's sleep, cut short by `stop()` and, with websocket
 * URLs, by a `newHeads` notification (whose content is never used).
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { encodeChainStall } from './chainEventCodec.js';
import { chainSubject } from './chainSubjects.js';
import { chainPartitionPrefixes } from '../partitions.js';
import { newHeads } from './newHeads.js';

export interface HeadStatus {
  chainId: number;
  /** Last head block seen, or null before the first poll. */
  head: bigint | null;
  /** Milliseconds since the head last moved (0 before the first poll). */
  headAgeMs: number;
  stalled: boolean;
}

export interface HeadWatchOptions {
  chainId: number;
  subjectPrefix: string;
  /** Partitions of the chain stream (default 1): the notice goes to each. */
  partitions?: number;
  stallTimeoutMs: number;
  wsUrls: readonly string[];
  rpcTimeoutMs: number;
  retry: { initialMs: number; maxMs: number };
  js: JetStreamClient;
  log: Logger;
  onHeadStatus?: ((s: HeadStatus) => void) | undefined;
  now?: () => number;
}

export interface HeadWatch {
  /** A head read by a poll. */
  observe(head: bigint): void;
  /** After each poll of the leader: stall detection and the status hook. */
  check(): void;
  /** Epoch ms since which the head has not moved, while stalled; else null. */
  stalledSinceMs(): number | null;
  /** Sleeps `ms`, cut short by `wake()` and, when `untilHead`, by an announced head. */
  sleep(ms: number, untilHead?: boolean): Promise<void>;
  wake(): void;
  /** A poll began: announcements so far are consumed. */
  pollStarted(): void;
  /** The websocket subscription follows leadership. */
  subscribe(on: boolean): void;
}

export function headWatch(o: HeadWatchOptions): HeadWatch {
  const now = o.now ?? Date.now;
  let lastHead: bigint | null = null;
  let lastHeadMoveAt = 0;
  let stalled = false;
  let wake: (() => void) | null = null;
  // A head was announced since the last poll began: the next idle sleep is skipped.
  let headAnnounced = false;
  let wakeOnHead = false;
  const heads =
    o.wsUrls.length > 0
      ? newHeads({
          urls: [...o.wsUrls],
          logger: o.log,
          retry: o.retry,
          timeoutMs: o.rpcTimeoutMs,
          onHead: () => {
            headAnnounced = true;
            if (wakeOnHead) wake?.();
          },
        })
      : null;

  async function publishStall(on: boolean, head: bigint, sinceMs: number, at: number): Promise<void> {
    try {
      // Every partition hears it (src/streams/partitions.ts).
      const data = encodeChainStall({ chainId: o.chainId, stalled: on, headNumber: head, sinceMs, observedAtMs: at });
      const msgID = `stall:${o.chainId}:${head}:${on ? 'on' : 'off'}`;
      await Promise.all(chainPartitionPrefixes(o.subjectPrefix, o.partitions ?? 1).map((prefix) => o.js.publish(chainSubject(prefix, o.chainId, 'stall'), data, { msgID })));
    } catch (err) {
      o.log.warn({ err }, 'could not publish the stall notice');
    }
  }

  return {
    observe(head) {
      const at = now();
      if (lastHead === null || head > lastHead) {
        if (stalled) {
          o.log.info({ head, stalledForMs: at - lastHeadMoveAt }, 'chain head moves again');
          void publishStall(false, head, lastHeadMoveAt, at);
        }
        stalled = false;
        lastHead = head;
        lastHeadMoveAt = at;
      }
    },
    check() {
      if (lastHead === null) return;
      const at = now();
      if (!stalled && at - lastHeadMoveAt >= o.stallTimeoutMs) {
        stalled = true;
        o.log.warn({ head: lastHead, sinceMs: lastHeadMoveAt, stallTimeoutMs: o.stallTimeoutMs }, 'chain head stalled: no new block');
        void publishStall(true, lastHead, lastHeadMoveAt, at);
      }
      o.onHeadStatus?.({ chainId: o.chainId, head: lastHead, headAgeMs: at - lastHeadMoveAt, stalled });
    },
    stalledSinceMs: () => (stalled ? lastHeadMoveAt : null),
    sleep: (ms, untilHead = false) =>
      new Promise<void>((resolve) => {
        if (untilHead && headAnnounced) return resolve();
        wakeOnHead = untilHead;
        const t = setTimeout(done, ms);
        function done() {
          clearTimeout(t);
          wake = null;
          wakeOnHead = false;
          resolve();
        }
        wake = done;
      }),
    wake: () => wake?.(),
    pollStarted() {
      headAnnounced = false;
    },
    subscribe(on) {
      if (on) heads?.start();
      else heads?.stop();
    },
  };
}
