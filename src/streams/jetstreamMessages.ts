import { Observable } from 'rxjs';
import type { Consumer, ConsumerMessages, JsMsg } from '@nats-io/jetstream';

export interface JetstreamMessagesOptions {
  consumer: Consumer;
  /** Messages the client buffers ahead of processing; with max_ack_pending, the backpressure valve. */
  maxMessages: number;
  /** Called with the handle so a shutdown can stop pulling while in-flight work finishes. */
  onStart?: (messages: ConsumerMessages) => void;
}

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
      messages = await options.consumer.consume({ max_messages: options.maxMessages });
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
