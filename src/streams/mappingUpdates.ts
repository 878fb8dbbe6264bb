import { z } from 'zod';
import { isAddress } from 'viem';
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { DeliverPolicy } from '@nats-io/jetstream';
import { SEGMENT_PATTERN, type IdentityChange, type IdentityMap } from '../domain/identityMap.js';
import { SchemaViolation } from '../lib/errors.js';
import { identifierProblem } from '../domain/inputBounds.js';

/** Longest account identifier accepted (an IBAN is at most 34 characters; internal ids are shorter). */
export { MAX_IDENTIFIER_LENGTH as MAX_ACCOUNT_ID_LENGTH } from '../domain/inputBounds.js';
/** Most wallets one account may list in one update. */
export const MAX_WALLETS_PER_ACCOUNT = 1_000;

/** The same identifier rule as every other input (src/domain/inputBounds.ts), so any account a posting names can be mapped. */
const identifier = z.string().superRefine((v, ctx) => {
  const problem = identifierProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** A 20-byte hex address; mixed case must carry a valid EIP-55 checksum (a typo is caught, not mapped). */
const wallet = z.string().superRefine((v, ctx) => {
  if (!/^0x[0-9a-fA-F]{40}$/.test(v)) ctx.addIssue({ code: 'custom', message: 'must be a 0x-prefixed 20-byte hex address' });
  else if (!isAddress(v, { strict: true })) ctx.addIssue({ code: 'custom', message: 'fails its EIP-55 checksum (mixed case)' });
});

/**
 * A mapping update the bank publishes: the full set of wallets of one account (empty unmaps it)
 * and, optionally, the customer's peer segment for the AML segment rules (absent: `default`).
 */
export const mappingUpdateSchema = z.object({
  accountId: identifier,
  wallets: z.array(wallet).max(MAX_WALLETS_PER_ACCOUNT),
  segment: z.string().regex(SEGMENT_PATTERN, 'must be lower-case letters, digits, . _ - (at most 64)').optional(),
});
export type MappingUpdate = z.infer<typeof mappingUpdateSchema>;

/**
 * Parses one mapping message, or throws `SchemaViolation` whose message names the field
 * (`payload`, `accountId`, `wallets`, `wallets[3]`) and what is wrong with it.
 */
export function parseMappingUpdate(data: Uint8Array): MappingUpdate {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch (e) {
    throw new SchemaViolation(`payload: not UTF-8 JSON (${(e as Error).message})`);
  }
  const r = mappingUpdateSchema.safeParse(json);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const field = issue.path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), '');
  throw new SchemaViolation(`${field || 'payload'}: ${issue.message}`);
}

/** Where and when an update was published: its MAPPINGS stream sequence and publish time. */
export interface MappingUpdateMeta {
  seq: number;
  /** Epoch ms of the JetStream publish (the same on every worker). */
  publishedAt: number;
  /** False while replaying the updates present at start, true for updates that arrive after. */
  live: boolean;
}

export interface MappingUpdatesOptions {
  js: JetStreamClient;
  stream: string;
  identities: IdentityMap;
  log: Logger;
  /** Called for an update that does not parse, with the reason (it is skipped, never applied). */
  onInvalid?: (reason: string, msg: JsMsg) => void;
  /** Called with the wallets an applied update linked, moved or unlinked (never with an empty list). */
  onChanges?: (changes: readonly IdentityChange[], meta: MappingUpdateMeta) => void;
}

export interface MappingFollower {
  /** Resolves once the updates present at start are applied. */
  caughtUp: Promise<void>;
  /** Null while following; why not once the subscription ended or failed (readiness reports it). */
  failure(): string | null;
  stop(): void;
}

/**
 * Applies the bank's identity mapping updates to the in-memory map: every worker reads the whole
 * MAPPINGS stream with an ordered consumer, so all workers see the same mappings and a restart
 * rebuilds them. Resolves `caughtUp` once the updates present at start are applied.
 *
 * The ordered consumer re-creates itself when its consumer is lost (a NATS restart): meanwhile
 * `failure()` says it is stalled. If the stream itself is gone, or the subscription ends other than
 * by `stop()`, the follower stops and `failure()` keeps saying why until the worker restarts: a
 * worker must not go on matching with mappings that silently stopped moving.
 */
export async function followMappingUpdates(o: MappingUpdatesOptions): Promise<MappingFollower> {
  const info = await (await o.js.streams.get(o.stream)).info();
  const lastAtStart = info.state.last_seq;
  const consumer = await o.js.consumers.get(o.stream, { deliver_policy: DeliverPolicy.All });
  // Pulls that expire every 10 s (heartbeats every 5 s): a lost stream or consumer is noticed and
  // retried within seconds instead of the default 30 s, for one idle pull request per 10 s.
  const messages = await consumer.consume({ expires: 10_000 });
  let resolveCaughtUp!: () => void;
  const caughtUp = new Promise<void>((r) => (resolveCaughtUp = r));
  if (lastAtStart === 0 || info.state.messages === 0) resolveCaughtUp();
  let stopped = false;
  let ended: string | null = null;
  let stalled: string | null = null;
  (async () => {
    for await (const s of messages.status()) {
      if (s.type === 'stream_not_found') {
        // A re-created stream is another history (sequences start again): following it from the
        // old cursor would skip its first updates. Stop; a restart replays the new history.
        ended = `mapping updates stopped: stream ${o.stream} not found (deleted?); restart the worker to rebuild the identity map`;
        o.log.error({ stream: o.stream }, ended);
        messages.stop();
      } else if (s.type === 'consumer_not_found' || s.type === 'consumer_deleted') {
        if (stalled === null) o.log.warn({ stream: o.stream, status: s.type }, 'mapping updates stalled: re-creating the ordered consumer');
        stalled = `mapping updates stalled: ${s.type.replace('_', ' ')}`;
      } else if (s.type === 'ordered_consumer_recreated' && stalled !== null) {
        o.log.info({ stream: o.stream }, 'mapping updates resumed');
        stalled = null;
      }
    }
  })().catch(() => undefined);
  (async () => {
    for await (const m of messages) {
      stalled = null;
      try {
        const update = parseMappingUpdate(m.data);
        const changes = o.identities.setAccount(update);
        if (changes.length > 0) o.onChanges?.(changes, { seq: m.seq, publishedAt: Number(m.timestampNanos / 1_000_000n), live: m.seq > lastAtStart });
      } catch (e) {
        const reason = `invalid mapping update at seq ${m.seq}: ${(e as Error).message}`;
        o.log.warn({ seq: m.seq }, reason);
        o.onInvalid?.(reason, m);
      }
      if (m.seq >= lastAtStart) resolveCaughtUp();
    }
    const closed = await messages.closed();
    if (!stopped && ended === null) throw closed instanceof Error ? closed : new Error('subscription ended');
  })().catch((e) => {
    ended = `mapping updates stopped: ${(e as Error).message}`;
    o.log.error({ err: e, stream: o.stream }, ended);
  });
  return {
    caughtUp,
    failure: () => ended ?? stalled,
    stop: () => {
      stopped = true;
      messages.stop();
    },
  };
}
