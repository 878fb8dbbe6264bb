import type { JsMsg } from '@nats-io/jetstream';
import { factKey, type Fact } from '../domain/facts.js';
import { chainEventFact } from '../domain/factRows.js';
import { chainEventToLeg, minorUnitsKey, tokenKeyOf, type IdentityView } from '../domain/legs.js';
import { chainEventFingerprint, chainEventKey } from '../domain/entryFingerprint.js';
import { discrepancyEvent, factOfContentConflict, factsOfOutcome, factsOfRetraction } from '../domain/outcomeFacts.js';
import type { ChainEvent } from '../domain/types.js';
import { DecodeError, isPermanent } from '../lib/errors.js';
import { decodeChainEvents, decodeChainProgress, decodeChainRetraction, decodeChainStall } from '../streams/chain/chainEventCodec.js';
import { CHAIN_SUBJECT_KINDS, parseChainSubject } from '../streams/chain/chainSubjects.js';
import { orphanOrReject, timedMatchOrPark } from './legMatching.js';
import type { MessageStageContext, Processed } from './messageStage.js';

/** An orphan's amount in minor units of its token's currency, like every other discrepancy (if the token is unmapped, there is no currency to express it in). */
function orphanAmount(ids: IdentityView, ev: ChainEvent): { actual_amount: string; currency: string } | { actual_amount: '' } {
  const currency = ids.currencyOfToken(tokenKeyOf(ev.chainId, ev.token));
  return currency ? { actual_amount: minorUnitsKey(ev.value, ev.decimals, ids.exponentOf(currency)), currency } : { actual_amount: '' };
}

/**
 * The chain stage, by subject: progress (a confirmed block and its time, for the watermarks),
 * retraction (a reorg orphaned a block: its legs leave their matches), stall (logged), and events
 * (a block's events, each matched or parked in chain order and through AML, as if it came alone;
 * a rejected event dead-letters the message after the others' facts are durable).
 */
export async function chainMessage(ctx: MessageStageContext, msg: JsMsg, now: number): Promise<Processed> {
  const subject = parseChainSubject(msg.subject);
  if (!subject) throw new DecodeError(`unexpected subject ${msg.subject} on the chain stream (expected <prefix>.<chainId>.${CHAIN_SUBJECT_KINDS.join('|')})`);
  /** A message about another chain than its subject names is not what it claims to be. */
  const sameChain = (chainId: number) => {
    if (chainId !== subject.chainId) throw new DecodeError(`a ${subject.kind} message of chain ${chainId} on ${msg.subject}`);
  };
  switch (subject.kind) {
    case 'progress': {
      const p = decodeChainProgress(msg.data, now);
      sameChain(p.chainId);
      return { msg, source: 'chain', facts: [], suspects: [], chainTime: p.blockTime, chainBlock: { chainId: p.chainId, blockNumber: p.blockNumber }, outcome: 'progress' };
    }
    case 'retract': {
      // A reorg deeper than the confirmation depth orphaned a block: retract each of its events.
      const r = decodeChainRetraction(msg.data);
      sameChain(r.chainId);
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
    case 'stall': {
      const st = decodeChainStall(msg.data);
      sameChain(st.chainId);
      ctx.log.warn({ stall: st }, 'chain head stalled');
      return { msg, source: 'chain', facts: [], suspects: [], outcome: 'stall' };
    }
    case 'events':
      return chainEventsMessage(ctx, msg, now);
  }
}

/** A block's events (or one event, in the older format). */
async function chainEventsMessage(ctx: MessageStageContext, msg: JsMsg, now: number): Promise<Processed> {
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
  const matched = decisions.map((d, i) => (d.kind === 'leg' && seen[i]!.t !== 'conflict' ? timedMatchOrPark(ctx, d.leg, 'booked') : undefined));
  // Awaited one after the other below: a failure after an earlier throw must not go unhandled.
  for (const m of matched) m?.catch(() => undefined);
  for (const [i, ev] of events.entries()) {
    const check = seen[i]!;
    if (check.t === 'conflict') {
      const fact = factOfContentConflict({
        id: chainEventKey(ev),
        first: check.first,
        again: fingerprints[i]!,
        eventTime: ev.blockTime,
        now,
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
      evFacts.push(
        discrepancyEvent({
          id: `ORPHAN_CHAIN_EVENT:chain:${ev.eventId}`,
          kind: 'ORPHAN_CHAIN_EVENT',
          status: 'open',
          reason: decision.reason,
          fallback: {
            wallet: ev.kind === 'burn' ? ev.from : ev.to,
            token_key: `${ev.chainId}:${ev.token}`,
            chain_leg_id: `chain:${ev.eventId}`,
            flow: ev.kind === 'burn' ? 'withdrawal' : 'deposit',
            ...orphanAmount(ctx.identities, ev),
          },
          eventTime: ev.blockTime,
          now,
        }),
      );
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
    msg,
    source: 'chain',
    facts,
    outcome,
    suspects,
    ...(rejected.length > 0 && { deadLetter: { code: rejectCode, reason: `${rejected.length} of ${events.length} events rejected: ${rejected.join('; ')}` } }),
  };
}
