import { Observable } from 'rxjs';
import type { Consumer, ConsumerMessages, JsMsg } from '@nats-io/jetstream';

export interface JetstreamMessagesOptions {
  consumer: Consumer;
  /** Messages the client buffers ahead of processing; with max_ack_pending, the backpressure valve. */
  maxMessages: number;
  /**
   * How long one pull request waits (`nats.pullExpiresMs`, default 5 s; at least 1 s). The server's
   * idle heartbeats come at half of it, and two missed ones make the client pull again: after the
   * loss of the server leading the consumer, consuming resumes within about this long (the
   * library's 30 s default left a partition stalled for 30 s in the NATS cluster drill).
   */
  expiresMs?: number;
  /** Called with the handle so a shutdown can stop pulling while in-flight work finishes. */
  onStart?: (messages: ConsumerMessages) => void;
}

/** A pull request's life unless configured (`nats.pullExpiresMs`). */
export const DEFAULT_PULL_EXPIRES_MS = 5_000;

/**
 * Messages of a durable pull consumer as an Observable. Pulls are bounded: the client asks for
 * `maxMessages` at a time, and the server stops delivering once `max_ack_pending` messages are
 * unacked, so a slow sink slows the pull instead of growing a buffer. Unsubscribing stops the pull.
 *
 *   --m1--m2--m3--…   (completes when the consume is stopped)
 */
export function jetstreamMessages(options: JetstreamMessagesOptions): Observable<JsMsg> {
  return new Observable<JsMsg>((subscriber) => {
    let messages: ConsumerMessages | undefined;
    let stopped = false;
    (async () => {
      messages = await options.consumer.consume({ max_messages: options.maxMessages, expires: options.expiresMs ?? DEFAULT_PULL_EXPIRES_MS });
      options.onStart?.(messages);
      if (stopped) messages.stop();
      for await (const m of messages) {
        if (subscriber.closed) break;
        subscriber.next(m);
      }
      subscriber.complete();
    })().catch((e) => subscriber.error(e));
    return () => {
      stopped = true;
      messages?.stop();
    };
  });
}
