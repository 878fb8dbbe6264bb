import { DeliverPolicy, type JetStreamClient } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import type { AlertEvent } from './alertEvent.js';
import { silenceSchema, type Silence, type SilenceInput } from './alertsConfig.js';

/** True while the silence is in force and every field it names matches the alert. */
export function silenceMatches(s: Silence, a: Pick<AlertEvent, 'kind' | 'account' | 'wallet'>, now: number): boolean {
  if (s.startsAt && now < s.startsAt.getTime()) return false;
  if (now >= s.endsAt.getTime()) return false;
  const m = s.match;
  if (m.kind !== undefined && m.kind !== a.kind) return false;
  if (m.account !== undefined && m.account !== a.account) return false;
  if (m.wallet !== undefined && m.wallet !== a.wallet.toLowerCase()) return false;
  return true;
}

/**
 * The silences in force: from the configuration and the silence stream (a later silence with the
 * same id replaces it; `endsAt` in the past expires it). An expired silence can never match again,
 * so it is forgotten the first time a lookup sees it past its end: the registry holds the silences
 * in force and future ones, not the whole history of the stream.
 */
export class SilenceRegistry {
  private readonly byId = new Map<string, Silence>();
  constructor(initial: readonly Silence[] = []) {
    for (const s of initial) this.byId.set(s.id, s);
  }
  set(s: Silence): void {
    this.byId.set(s.id, s);
  }
  /** The silence that suppresses this alert now, if any. */
  match(a: Pick<AlertEvent, 'kind' | 'account' | 'wallet'>, now: number): Silence | undefined {
    this.forgetEnded(now);
    for (const s of this.byId.values()) if (silenceMatches(s, a, now)) return s;
    return undefined;
  }
  active(now: number): Silence[] {
    this.forgetEnded(now);
    return [...this.byId.values()].filter((s) => (!s.startsAt || s.startsAt.getTime() <= now) && now < s.endsAt.getTime());
  }
  /** Silences remembered (in force or not yet started). */
  get size(): number {
    return this.byId.size;
  }
  private forgetEnded(now: number): void {
    for (const [id, s] of this.byId) if (now >= s.endsAt.getTime()) this.byId.delete(id);
  }
}

/**
 * Publishes a silence to the silence stream (every notifier replays it at start and follows it):
 * who and why are mandatory; publishing the same id again with an earlier `endsAt` lifts it.
 */
export async function publishSilence(js: JetStreamClient, subject: string, input: SilenceInput): Promise<Silence> {
  const s = silenceSchema.parse(input);
  await js.publish(subject, new TextEncoder().encode(JSON.stringify(s)));
  return s;
}

/** Replays and follows the silence stream into the registry; `caughtUp` resolves once the silences present at start are applied. */
export async function followSilences(o: { js: JetStreamClient; stream: string; registry: SilenceRegistry; log: Logger }): Promise<{ caughtUp: Promise<void>; stop(): void }> {
  const info = await (await o.js.streams.get(o.stream)).info();
  const lastAtStart = info.state.last_seq;
  const consumer = await o.js.consumers.get(o.stream, { deliver_policy: DeliverPolicy.All });
  const messages = await consumer.consume();
  let caught!: () => void;
  const caughtUp = new Promise<void>((r) => (caught = r));
  if (info.state.messages === 0) caught();
  (async () => {
    for await (const m of messages) {
      try {
        const s = silenceSchema.parse(JSON.parse(new TextDecoder().decode(m.data)));
        o.registry.set(s);
        o.log.info({ silence: s.id, match: s.match, endsAt: s.endsAt.toISOString(), createdBy: s.createdBy, comment: s.comment }, 'silence recorded');
      } catch (e) {
        o.log.warn({ seq: m.seq, err: (e as Error).message }, 'invalid silence skipped');
      }
      if (m.seq >= lastAtStart) caught();
    }
  })().catch((e) => o.log.error({ err: e }, 'silence stream stopped'));
  return { caughtUp, stop: () => messages.stop() };
}
