import type { JetStreamManager } from '@nats-io/jetstream';
import type { Config } from '../../config/schema.js';

/**
 * Waits until the fact loader has put every durable fact into ClickHouse: the loader's consumer
 * has nothing pending and nothing unacked (it acks a load once its inserts returned). Resolves
 * true at once with `sink.mode: direct`, false if `timeoutMs` passes first. For a tool that
 * queries ClickHouse right after its inputs were acked (the demo's report, aml:report).
 */
export async function factLogLoaded(jsm: JetStreamManager, config: Config, timeoutMs: number, pollMs = 250): Promise<boolean> {
  if (config.sink.mode !== 'log') return true;
  const l = config.sink.log;
  const until = Date.now() + timeoutMs;
  for (;;) {
    const c = await jsm.consumers.info(l.stream, l.consumerName);
    if (c.num_pending + c.num_ack_pending === 0) return true;
    if (Date.now() >= until) return false;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
