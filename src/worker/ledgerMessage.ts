import type { JsMsg } from '@nats-io/jetstream';
import { factKey, type Fact } from '../domain/facts.js';
import { ledgerEntryFact } from '../domain/factRows.js';
import { ledgerEntryToLeg } from '../domain/legs.js';
import { ledgerEntryFingerprint, ledgerEntryKey } from '../domain/entryFingerprint.js';
import { discrepancyEvent, factOfContentConflict, factsOfOutcome, legOfStored } from '../domain/outcomeFacts.js';
import { reversalLookupOf } from '../domain/reversalLink.js';
import { orphanOrReject, timedMatchOrPark } from './legMatching.js';
import type { MessageStageContext, Processed } from './messageStage.js';
import { CAMT_DEAD_LETTER_SCHEMA, camtDeadLetterFact, decodeStatementMessage, STATEMENT_SCHEMA, statementFacts } from '../iso20022/statementMessage.js';

const emptyHeaders = { get: () => undefined };

/**
 * The ledger stage: one posting decoded and validated, its content proven against the first seen
 * under its id, matched or parked in Redis as a leg (orphans become discrepancies), through AML,
 * and turned into the facts to make durable before the message is acked.
 */
export async function ledgerMessage(ctx: MessageStageContext, msg: JsMsg, now: number): Promise<Processed> {
  // A bank statement's balances and check findings (ISO 20022 camt ingestion): facts only.
  // A camt message the ingester refused: its dead letter, stored like any other.
  if (msg.headers?.get('Recon-Schema') === CAMT_DEAD_LETTER_SCHEMA) {
    const facts = [camtDeadLetterFact(msg.data, now)];
    return { msg, source: 'ledger', facts, outcome: 'camt-dead-letter', suspects: facts.map(factKey) };
  }
  if (msg.headers?.get('Recon-Schema') === STATEMENT_SCHEMA) {
    const facts = statementFacts(decodeStatementMessage(msg.data), now);
    return { msg, source: 'ledger', facts, outcome: 'statement', suspects: msg.redelivered ? facts.map(factKey) : [] };
  }
  const entry = ctx.ledgerCodec.decode(msg.data, msg.headers ?? emptyHeaders);
  // Every entry, leg or not (fees, transfers, orphans), first proves its id carries the content
  // first seen under it; another content is a DUPLICATE and nothing else (no entry fact, no
  // matching, no AML): the first content stands.
  const fingerprint = ledgerEntryFingerprint(entry);
  const seen = await ctx.fingerprints.check(ledgerEntryKey(entry), fingerprint);
  if (seen.t === 'conflict') {
    const facts = [
      factOfContentConflict({
        id: ledgerEntryKey(entry),
        first: seen.first,
        again: fingerprint,
        eventTime: entry.bookingTime,
        now,
        says: `${entry.txType} ${entry.direction} of ${entry.amountMinor} minor units of ${entry.currency} on account ${entry.accountId}`,
        fields: { account_id: entry.accountId, currency: entry.currency, expected_amount: entry.amountMinor.toString() },
      }),
    ];
    return { msg, source: 'ledger', facts, outcome: 'conflict', suspects: seen.seenBefore || msg.redelivered ? facts.map(factKey) : [] };
  }
  const facts: Fact[] = [ledgerEntryFact(entry, msg.seq, now)];
  const decision = ledgerEntryToLeg(entry, ctx.identities);
  let replayed = false;
  let outcome: string = decision.kind;
  if (decision.kind === 'orphan') {
    orphanOrReject(ctx, decision, `ledger entry ${entry.entryId}`);
    facts.push(
      discrepancyEvent({
        id: `ORPHAN_LEDGER_ENTRY:bank:${entry.entryId}`,
        kind: 'ORPHAN_LEDGER_ENTRY',
        status: 'open',
        reason: decision.reason,
        fallback: { account_id: entry.accountId, currency: entry.currency, bank_leg_id: `bank:${entry.entryId}`, expected_amount: entry.amountMinor.toString() },
        eventTime: entry.bookingTime,
        now,
      }),
    );
  } else if (decision.kind === 'unmatched' && ctx.findReversed) {
    const look = reversalLookupOf(entry);
    if (look && entry.status === 'booked') {
      // The durable facts first; then what this worker processed lately (not in ClickHouse yet).
      const original = (await ctx.findReversed(look)) ?? (await ctx.recentEntries?.find(look)) ?? null;
      const r = original ? await ctx.store.reverseLeg(`bank:${original}`, entry.entryId) : null;
      if (r && r.outcome.t !== 'unknown' && r.leg) {
        replayed = r.replayed;
        outcome = `reverses:${r.outcome.t}`;
        facts.push(...factsOfOutcome(legOfStored(r.leg), r.outcome, now));
      } else if (!original) {
        facts.push(
          discrepancyEvent({
            id: `ORPHAN_LEDGER_ENTRY:bank:${entry.entryId}`,
            kind: 'ORPHAN_LEDGER_ENTRY',
            status: 'open',
            reason: `reversal ${entry.entryId} names no known ${look.reverses} of ${entry.amountMinor} minor units of ${entry.currency} on ${entry.accountId} (end-to-end id ${look.ids.join(', ') || '-'}, reference ${look.reference ?? '-'})`,
            fallback: { account_id: entry.accountId, currency: entry.currency, bank_leg_id: `bank:${entry.entryId}`, expected_amount: entry.amountMinor.toString() },
            eventTime: entry.bookingTime,
            now,
          }),
        );
      }
    }
  } else if (decision.kind === 'leg') {
    const matched = timedMatchOrPark(ctx, decision.leg, entry.status);
    ctx.recentEntries?.add(entry, matched);
    const r = await matched;
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
    msg,
    source: 'ledger',
    facts,
    outcome,
    suspects: replayed || msg.redelivered ? facts.map(factKey) : [],
    ledgerTime: entry.bookingTime,
  };
}
