import { filter, pipe, type OperatorFunction } from 'rxjs';
import type { JsMsg } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import type { Fact } from '../domain/facts.js';
import { chainEventFact, ledgerEntryFact } from '../domain/factRows.js';
import { factKey } from '../domain/facts.js';
import { chainEventToLeg, ledgerEntryToLeg, minorUnitsKey, tokenKeyOf, type IdentityView, type LegDecision } from '../domain/legs.js';
import { chainEventFingerprint, chainEventKey, ledgerEntryFingerprint, ledgerEntryKey } from '../domain/entryFingerprint.js';
import { discrepancyEvent, factOfContentConflict, factsOfOutcome, factsOfRetraction } from '../domain/outcomeFacts.js';
import type { ChainEvent, LedgerEntry } from '../domain/types.js';
import { DecodeError, PoisonMessage, UnmappedIdentity, isPermanent, type ReconError } from '../lib/errors.js';
import { describeFailure, failureKind } from '../lib/failureKind.js';
import { PoisonEvidence, type PoisonEvidenceOptions } from '../pipeline/poisonEvidence.js';
import { correlationId } from '../lib/logger.js';
import { mapAsync } from './mapAsync.js';
import type { Metrics } from '../sinks/metrics.js';
import type { MatchStore } from '../state/matchStore.js';
import type { EntryFingerprints } from '../state/entryFingerprints.js';
import type { AmlEngine } from '../aml/engine.js';
import { decodeChainEvents, decodeChainProgress, decodeChainRetraction, decodeChainStall } from '../streams/chain/chainEventCodec.js';

/** What one JetStream message became: facts to make durable before it is acked. */
export interface Processed {
  msg: JsMsg;
  source: 'ledger' | 'chain';
  facts: Fact[];
  /** factKeys of facts that may already be durable (a redelivery or a replay Redis recognised). */
  suspects: string[];
  /** Set when the message is bad input: it is dead-lettered with this reason, then acked. */
  deadLetter?: { code: string; reason: string };
  /** Event-time watermark candidates this message carries. */
  ledgerTime?: number;
  chainTime?: number;
  /** Confirmed block a chain progress message vouches for (all its events precede it in the stream). */
  chainBlock?: { chainId: number; blockNumber: bigint };
  /** Outcome label for metrics and the demo summary (match, parked, mismatch, …). */
  outcome?: string;
  /** Correlation id (`stream:seq`) carried into every log line about this message, up to its ack. */
  corr?: string;
}

export interface ProcessMessageContext {
  ledgerCodec: { decode(bytes: Uint8Array, headers: { get(name: string): string | undefined }): LedgerEntry };
  identities: IdentityView;
  store: MatchStore;
  /** The content first seen under each entry id and chain event id: a re-used id with other content is a DUPLICATE. */
  fingerprints: EntryFingerprints;
  unmappedPolicy: 'discrepancy' | 'reject';
  log: Logger;
  now?: () => number;
  /** Redis latency and transient failures are observed here when given. */
  metrics?: Metrics;
  /** AML rules: every entry and chain event also goes through them; alerts are facts of the same message. */
  aml?: AmlEngine;
  /** Decides retry against dead letter for a message that keeps failing (default: DEFAULT_POISON_POLICY). */
  poison?: PoisonEvidence;
}

/** Five deliveries, redelivered after 1 s doubling to 30 s; a minute of evidence. */
export const DEFAULT_POISON_POLICY: PoisonEvidenceOptions = { maxDeliveries: 5, minDelayMs: 1_000, maxDelayMs: 30_000, windowMs: 60_000 };

const emptyHeaders = { get: () => undefined };

/** An orphan's amount in minor units of its token's currency, like every other discrepancy (if the token is unmapped, there is no currency to express it in). */
function orphanAmount(ids: IdentityView, ev: ChainEvent): { actual_amount: string; currency: string } | { actual_amount: '' } {
  const currency = ids.currencyOfToken(tokenKeyOf(ev.chainId, ev.token));
  return currency ? { actual_amount: minorUnitsKey(ev.value, ev.decimals, ids.exponentOf(currency)), currency } : { actual_amount: '' };
}

/**
 * Turns one message into its facts: decode and validate, normalise to a leg, match-or-park it in
 * Redis, and derive the facts of the outcome. Bad input becomes a dead letter, never an error;
 * a transient failure (Redis down) naks the message for redelivery and emits nothing.
 *
 *   --m1--m2--m3-->   becomes   --p1--p3-->   (m2 failed transiently: nak'd, redelivered later)
 */
export function processMessage(ctx: ProcessMessageContext, concurrency = 1_024): OperatorFunction<{ msg: JsMsg; source: 'ledger' | 'chain' }, Processed> {
  const now = ctx.now ?? Date.now;
  const evidence = ctx.poison ?? new PoisonEvidence(DEFAULT_POISON_POLICY);
  return pipe(mapAsync(async ({ msg, source }: { msg: JsMsg; source: 'ledger' | 'chain' }): Promise<Processed | null> => {
    const corr = correlationId(msg, source);
    // Every line about the message, here and in the sink, carries `corr`: a child logger, made on
    // first use (most messages log nothing at the default level, and a child costs microseconds).
    let child: Logger | undefined;
    const mctx: ProcessMessageContext = { ...ctx, get log() { return (child ??= ctx.log.child({ corr })); } };
    const log = () => mctx.log;
    try {
      const p = source === 'ledger' ? await processLedger(mctx, msg, now()) : await processChain(mctx, msg, now());
      if (ctx.log.isLevelEnabled('debug')) log().debug({ subject: msg.subject, outcome: p.outcome, facts: p.facts.length, redelivered: msg.redelivered }, 'message processed');
      evidence.succeeded(corr, now());
      return { ...p, corr };
    } catch (e) {
      const kind = failureKind(e);
      if (kind === 'bad-input') {
        const bad = e as ReconError;
        log().warn({ subject: msg.subject, seq: msg.seq, code: bad.code, err: bad.shortMessage }, 'dead-lettering bad input');
        return { msg, source, corr, facts: [], suspects: [], deadLetter: { code: bad.code, reason: describeFailure(bad, 4_000) } } satisfies Processed;
      }
      const deliveries = deliveryCount(msg);
      const verdict = evidence.failed(corr, kind, deliveries, now());
      if (verdict.action === 'dead-letter') {
        const poison = new PoisonMessage(`Message ${corr} ${verdict.reason}; last error (${kind}): ${describeFailure(e)}`, { cause: e });
        log().error({ subject: msg.subject, seq: msg.seq, deliveries, kind, err: e }, 'dead-lettering a poison message');
        ctx.metrics?.poisonMessages.inc({ source, kind });
        return { msg, source, corr, facts: [], suspects: [], deadLetter: { code: poison.code, reason: poison.shortMessage } } satisfies Processed;
      }
      log().error({ subject: msg.subject, seq: msg.seq, deliveries, kind, retryInMs: verdict.delayMs, err: e },
        kind === 'dependency' ? 'a dependency failed while processing a message; it will be redelivered' : 'unanticipated failure processing a message; it will be redelivered up to the delivery limit');
      ctx.metrics?.transientFailures.inc({ source });
      msg.nak(verdict.delayMs);
      return null;
    }
  }, concurrency), filter((p): p is Processed => p !== null));
}

/** How many times JetStream has delivered this message, this time included (1 when unknown). */
function deliveryCount(msg: JsMsg): number {
  try {
    return msg.info.deliveryCount;
  } catch {
    return 1;
  }
}

/** The labelled histogram child, looked up once per metrics registry (a label lookup per leg shows). */
const matchOrParkTimers = new WeakMap<Metrics, ReturnType<Metrics['redisSeconds']['labels']>>();
function matchOrParkTimer(m: Metrics): ReturnType<Metrics['redisSeconds']['labels']> {
  let t = matchOrParkTimers.get(m);
  if (!t) matchOrParkTimers.set(m, (t = m.redisSeconds.labels({ operation: 'matchOrPark' })));
  return t;
}

/** `store.matchOrPark`, its Redis round trip observed as `recon_redis_duration_seconds{operation="matchOrPark"}`. */
async function timedMatchOrPark(ctx: ProcessMessageContext, ...args: Parameters<MatchStore['matchOrPark']>): ReturnType<MatchStore['matchOrPark']> {
  const end = ctx.metrics && matchOrParkTimer(ctx.metrics).startTimer();
  try {
    return await ctx.store.matchOrPark(...args);
  } finally {
    end?.();
  }
}

function orphanOrReject(ctx: ProcessMessageContext, decision: Extract<LegDecision, { kind: 'orphan' }>, what: string): void {
  if (ctx.unmappedPolicy === 'reject') throw new UnmappedIdentity(`${what}: ${decision.reason}`);
}

async function processLedger(ctx: ProcessMessageContext, msg: JsMsg, now: number): Promise<Processed> {
  const entry = ctx.ledgerCodec.decode(msg.data, msg.headers ?? emptyHeaders);
  // Every entry, leg or not (fees, transfers, orphans), first proves its id carries the content
  // first seen under it; another content is a DUPLICATE and nothing else (no entry fact, no
  // matching, no AML): the first content stands.
  const fingerprint = ledgerEntryFingerprint(entry);
  const seen = await ctx.fingerprints.check(ledgerEntryKey(entry), fingerprint);
  if (seen.t === 'conflict') {
    const facts = [factOfContentConflict({
      id: ledgerEntryKey(entry), first: seen.first, again: fingerprint, eventTime: entry.bookingTime, now,
      says: `${entry.txType} ${entry.direction} of ${entry.amountMinor} minor units of ${entry.currency} on account ${entry.accountId}`,
      fields: { account_id: entry.accountId, currency: entry.currency, expected_amount: entry.amountMinor.toString() },
    })];
    return { msg, source: 'ledger', facts, outcome: 'conflict', suspects: seen.seenBefore || msg.redelivered ? facts.map(factKey) : [] };
  }
  const facts: Fact[] = [ledgerEntryFact(entry, msg.seq, now)];
  const decision = ledgerEntryToLeg(entry, ctx.identities);
  let replayed = false;
  let outcome: string = decision.kind;
  if (decision.kind === 'orphan') {
    orphanOrReject(ctx, decision, `ledger entry ${entry.entryId}`);
    facts.push(discrepancyEvent({
      id: `ORPHAN_LEDGER_ENTRY:bank:${entry.entryId}`, kind: 'ORPHAN_LEDGER_ENTRY', status: 'open', reason: decision.reason,
      fallback: { account_id: entry.accountId, currency: entry.currency, bank_leg_id: `bank:${entry.entryId}`, expected_amount: entry.amountMinor.toString() },
      eventTime: entry.bookingTime, now,
    }));
  } else if (decision.kind === 'leg') {
    const r = await timedMatchOrPark(ctx, decision.leg, entry.status);
    replayed = r.replayed;
    outcome = r.outcome.t;
    // Conflicting content under a known id is evidence for the DUPLICATE, never a new version of the entry.
    if (r.outcome.t === 'conflict') facts.length = 0;
    facts.push(...factsOfOutcome(decision.leg, r.outcome, now));
  }
  if (ctx.aml) {
    const a = await ctx.aml.onLedgerEntry(entry);
    replayed ||= a.replayed;
    facts.push(...ctx.aml.facts(a));
  }
  return {
    msg, source: 'ledger', facts, outcome,
    suspects: replayed || msg.redelivered ? facts.map(factKey) : [],
    ledgerTime: entry.bookingTime,
  };
}

async function processChain(ctx: ProcessMessageContext, msg: JsMsg, now: number): Promise<Processed> {
  if (msg.subject.endsWith('.progress')) {
    const p = decodeChainProgress(msg.data, now);
    return { msg, source: 'chain', facts: [], suspects: [], chainTime: p.blockTime, chainBlock: { chainId: p.chainId, blockNumber: p.blockNumber }, outcome: 'progress' };
  }
  if (msg.subject.endsWith('.retract')) {
    // A reorg deeper than the confirmation depth orphaned a block: retract each of its events.
    const r = decodeChainRetraction(msg.data);
    const facts: Fact[] = [];
    let replayed = false;
    for (const eventId of r.eventIds) {
      const res = await ctx.store.retract(`chain:${eventId}`);
      replayed ||= res.replayed;
      facts.push(...factsOfRetraction({ eventId, chainId: r.chainId, blockNumber: r.blockNumber, blockHash: r.blockHash }, res.outcome, now));
    }
    ctx.log.warn({ chainId: r.chainId, block: r.blockNumber.toString(), blockHash: r.blockHash, events: r.eventIds.length }, 'retracted the events of an orphaned block');
    return { msg, source: 'chain', facts, outcome: 'retraction', suspects: replayed || msg.redelivered ? facts.map(factKey) : [] };
  }
  if (msg.subject.endsWith('.stall')) {
    const s = decodeChainStall(msg.data);
    ctx.log.warn({ stall: s }, 'chain head stalled');
    return { msg, source: 'chain', facts: [], suspects: [], outcome: 'stall' };
  }
  if (!msg.subject.endsWith('.events')) throw new DecodeError(`unexpected subject ${msg.subject} on the chain stream`);
  // One message carries a block's events (or one event, in the older format), in chain order:
  // each goes through matching and AML in turn, exactly as if it had come alone.
  const events = decodeChainEvents(msg.data, now);
  const facts: Fact[] = [];
  const suspects: string[] = [];
  const outcomes = new Set<string>();
  const rejected: string[] = [];
  let rejectCode = '';
  // Every event first proves its id carries the content first seen under it (all in one
  // pipelined round trip); an event re-using an id with other content is a DUPLICATE only.
  const fingerprints = events.map(chainEventFingerprint);
  const seen = await Promise.all(events.map((ev, i) => ctx.fingerprints.check(chainEventKey(ev), fingerprints[i]!)));
  // Every event's leg goes to the match store at once, in chain order (the store applies them in
  // call order, in one Redis round trip); their facts are then derived one event after the other.
  const decisions = events.map((ev) => chainEventToLeg(ev, ctx.identities));
  const matched = decisions.map((d, i) => d.kind === 'leg' && seen[i]!.t !== 'conflict' ? timedMatchOrPark(ctx, d.leg, 'booked') : undefined);
  // Awaited one after the other below: a failure after an earlier throw must not go unhandled.
  for (const m of matched) m?.catch(() => undefined);
  for (const [i, ev] of events.entries()) {
    const check = seen[i]!;
    if (check.t === 'conflict') {
      const fact = factOfContentConflict({
        id: chainEventKey(ev), first: check.first, again: fingerprints[i]!, eventTime: ev.blockTime, now,
        says: `${ev.kind} of ${ev.value} base units of ${ev.token} from ${ev.from} to ${ev.to}`,
        fields: { token_key: tokenKeyOf(ev.chainId, ev.token), wallet: ev.kind === 'burn' ? ev.from : ev.to, ...orphanAmount(ctx.identities, ev) },
      });
      facts.push(fact);
      if (check.seenBefore || msg.redelivered) suspects.push(factKey(fact));
      outcomes.add('conflict');
      continue;
    }
    const evFacts: Fact[] = [chainEventFact(ev, now)];
    const decision = decisions[i]!;
    let replayed = false;
    let outcome: string = decision.kind;
    if (decision.kind === 'orphan') {
      try {
        orphanOrReject(ctx, decision, `chain event ${ev.eventId}`);
      } catch (e) {
        // A rejected event alone is bad input: the block's other events still count. A message of
        // one event is dead-lettered as before; in a batch the message is dead-lettered with the
        // reasons of its rejected events, after the facts of the others are durable.
        if (events.length === 1 || !isPermanent(e)) throw e;
        rejectCode = e.code;
        rejected.push(e.shortMessage);
        continue;
      }
      evFacts.push(discrepancyEvent({
        id: `ORPHAN_CHAIN_EVENT:chain:${ev.eventId}`, kind: 'ORPHAN_CHAIN_EVENT', status: 'open', reason: decision.reason,
        fallback: {
          wallet: ev.kind === 'burn' ? ev.from : ev.to, token_key: `${ev.chainId}:${ev.token}`,
          chain_leg_id: `chain:${ev.eventId}`, flow: ev.kind === 'burn' ? 'withdrawal' : 'deposit', ...orphanAmount(ctx.identities, ev),
        },
        eventTime: ev.blockTime, now,
      }));
    } else if (decision.kind === 'leg') {
      const r = await matched[i]!;
      replayed = r.replayed;
      outcome = r.outcome.t;
      if (r.outcome.t === 'conflict') evFacts.length = 0;
      evFacts.push(...factsOfOutcome(decision.leg, r.outcome, now));
    }
    if (ctx.aml) {
      const a = await ctx.aml.onChainEvent(ev);
      replayed ||= a.replayed;
      evFacts.push(...ctx.aml.facts(a));
    }
    facts.push(...evFacts);
    if (replayed || msg.redelivered) suspects.push(...evFacts.map(factKey));
    outcomes.add(outcome);
  }
  // One outcome label per message: the events' common outcome, or `mixed`.
  const outcome = outcomes.size === 1 ? [...outcomes][0]! : outcomes.size === 0 ? 'rejected' : 'mixed';
  return {
    msg, source: 'chain', facts, outcome, suspects,
    ...(rejected.length > 0 && { deadLetter: { code: rejectCode, reason: `${rejected.length} of ${events.length} events rejected: ${rejected.join('; ')}` } }),
  };
}

