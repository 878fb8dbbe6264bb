/**
 * The message that carries one statement's balances and check findings from the camt ingester to
 * the workers, on the ledger stream after the statement's postings (JSON, header
 * `Recon-Schema: camt-statement/1`), and the facts a worker makes of it: one `statement_balances`
 * row per balance and one discrepancy event per finding. Ids are deterministic, so a redelivery or
 * a re-ingested statement writes the same facts.
 */
import { z } from 'zod';
import type { Fact } from '../domain/facts.js';
import { discrepancyEvent } from '../domain/outcomeFacts.js';
import { DecodeError } from '../lib/errors.js';
import type { StatementSummary } from './camtIngest.js';
import { sequenceOf, type StatementFinding } from './statementChecks.js';

/** `Recon-Schema` value of a statement message. */
export const STATEMENT_SCHEMA = 'camt-statement/1';

const int = z.string().regex(/^-?\d{1,40}$/);
const messageSchema = z.object({
  accountId: z.string().min(1).max(128),
  statementAccount: z.string().max(128),
  messageType: z.string().max(64),
  statementId: z.string().min(1).max(128),
  messageId: z.string().max(128),
  sequence: int,
  balances: z.array(z.object({ type: z.string().max(35), amountMinor: int, currency: z.string().length(3), exponent: z.number().int().min(0).max(4), time: z.number().int() })).max(1_000),
  findings: z
    .array(
      z.object({
        id: z.string().max(512),
        kind: z.enum(['STATEMENT_BALANCE_MISMATCH', 'STATEMENT_SEQUENCE_GAP', 'STATEMENT_OVERLAP']),
        status: z.enum(['open', 'resolved']),
        reason: z.string().max(2_000),
        accountId: z.string().max(128),
        currency: z.string().max(3),
        expected: z.string().max(64),
        actual: z.string().max(64),
        eventTime: z.number().int(),
      }),
    )
    .max(100),
});
export type StatementMessage = z.infer<typeof messageSchema>;

/** The message of a statement and its findings, with its JetStream message id (content-derived). */
export function statementMessage(s: StatementSummary, findings: readonly StatementFinding[]): StatementMessage {
  const h = s.header;
  return {
    accountId: s.accountId,
    statementAccount: h.account,
    messageType: `${h.family}.001.${String(h.version).padStart(2, '0')}`,
    statementId: h.reportId,
    messageId: h.messageId,
    sequence: (sequenceOf(h) ?? -1n).toString(),
    balances: s.balances.map((b) => ({ type: b.type, amountMinor: b.amountMinor.toString(), currency: b.currency, exponent: b.exponent, time: b.time })),
    findings: [...findings],
  };
}

/** Reads a statement message; `DecodeError` when it is not one. */
export function decodeStatementMessage(bytes: Uint8Array): StatementMessage {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (cause) {
    throw new DecodeError(`Statement message (${bytes.byteLength} bytes) is not UTF-8 JSON.`, { cause });
  }
  const r = messageSchema.safeParse(json);
  if (!r.success)
    throw new DecodeError(`Statement message is not a ${STATEMENT_SCHEMA} message.`, {
      details: r.error.issues
        .slice(0, 3)
        .map((i) => `${i.path.join('.')}: ${i.message}`)
        .join('; '),
    });
  return r.data;
}

/** The facts of a statement message, recorded at `now`. */
export function statementFacts(m: StatementMessage, now: number): Fact[] {
  const facts: Fact[] = m.balances.map((b) => ({
    table: 'statement_balances',
    row: {
      balance_id: `${m.accountId}:${m.messageType}:${m.statementId}:${b.type}:${b.time}`,
      account_id: m.accountId,
      statement_account: m.statementAccount,
      message_type: m.messageType,
      statement_id: m.statementId,
      message_id: m.messageId,
      balance_type: b.type,
      amount_minor: b.amountMinor,
      currency: b.currency,
      exponent: b.exponent,
      balance_time: b.time,
      sequence: m.sequence,
      recorded_at: now,
    },
  }));
  for (const f of m.findings) {
    facts.push(
      discrepancyEvent({
        id: f.id,
        kind: f.kind,
        status: f.status,
        reason: f.reason,
        fallback: { account_id: f.accountId, currency: f.currency, expected_amount: f.expected, actual_amount: f.actual },
        eventTime: f.eventTime,
        now,
      }),
    );
  }
  return facts;
}

/** `Recon-Schema` of the record of a camt message the ingester refused, for the workers to store. */
export const CAMT_DEAD_LETTER_SCHEMA = 'camt-deadletter/1';

/** Bytes of a refused message kept in its `dead_letters` row (the DEADLETTER stream keeps up to 1 MiB). */
export const CAMT_DEAD_LETTER_ROW_BYTES = 64 * 1024;

const deadLetterSchema = z.object({
  id: z.string().min(1).max(256),
  code: z.string().min(1).max(64),
  reason: z.string().max(2_000),
  source: z.string().max(512),
  payloadBase64: z.string().max(Math.ceil((CAMT_DEAD_LETTER_ROW_BYTES * 4) / 3) + 4),
  truncated: z.boolean(),
});
export type CamtDeadLetterMessage = z.infer<typeof deadLetterSchema>;

/** The `dead_letters` fact of a refused camt message (the same id however often it is refused). */
export function camtDeadLetterFact(bytes: Uint8Array, now: number): Fact {
  let m: CamtDeadLetterMessage;
  try {
    m = deadLetterSchema.parse(JSON.parse(Buffer.from(bytes).toString('utf8')));
  } catch (e) {
    throw new DecodeError(`not a camt dead-letter record: ${e instanceof Error ? e.message : String(e)}`);
  }
  return {
    table: 'dead_letters',
    row: {
      dead_letter_id: `camt:${m.id}`,
      source: 'camt',
      subject: m.source,
      stream_seq: 0,
      reason_code: m.code,
      reason: m.reason,
      payload_base64: m.payloadBase64,
      headers: JSON.stringify({ 'Recon-Payload-Truncated': String(m.truncated) }),
      recorded_at: now,
    },
  };
}
