import { z } from 'zod';
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { DeliverPolicy } from '@nats-io/jetstream';
import type { IdentityMap } from '../domain/identityMap.js';

/** A mapping update the bank publishes: the full set of wallets of one account (empty unmaps it). */
export const mappingUpdateSchema = z.object({
  accountId: z.string().min(1),
  wallets: z.array(z.string().regex(/^0x[0-9a-fA-F]{40}$/)),
});
export type MappingUpdate = z.infer<typeof mappingUpdateSchema>;

export interface MappingUpdatesOptions {
  js: JetStreamClient;
  stream: string;
  identities: IdentityMap;
  log: Logger;
  /** Called for an update that does not parse, with the reason (it is skipped, never applied). */
  onInvalid?: (reason: string, msg: JsMsg) => void;
}

/**
 * Applies the bank's identity mapping updates to the in-memory map: every worker reads the whole
 * MAPPINGS stream with an ordered consumer, so all workers see the same mappings and a restart
 * rebuilds them. Resolves `caughtUp` once the updates present at start are applied.
 */
export async function followMappingUpdates(o: MappingUpdatesOptions): Promise<{ caughtUp: Promise<void>; stop(): void }> {
  const info = await (await o.js.streams.get(o.stream)).info();
  const lastAtStart = info.state.last_seq;
  const consumer = await o.js.consumers.get(o.stream, { deliver_policy: DeliverPolicy.All });
  const messages = await consumer.consume();
  let resolveCaughtUp!: () => void;
  const caughtUp = new Promise<void>((r) => (resolveCaughtUp = r));
  if (lastAtStart === 0 || info.state.messages === 0) resolveCaughtUp();
  (async () => {
    for await (const m of messages) {
      try {
        const update = mappingUpdateSchema.parse(JSON.parse(new TextDecoder().decode(m.data)));
        o.identities.setAccount(update);
      } catch (e) {
        const reason = `invalid mapping update at seq ${m.seq}: ${(e as Error).message}`;
        o.log.warn({ seq: m.seq }, reason);
        o.onInvalid?.(reason, m);
      }
      if (m.seq >= lastAtStart) resolveCaughtUp();
    }
  })().catch((e) => o.log.error({ err: e }, 'mapping updates stopped'));
  return { caughtUp, stop: () => messages.stop() };
}
