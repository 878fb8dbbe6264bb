/**
 * Whole-or-nothing ingestion of one camt message: the message is parsed and validated whole first
 * (XML, optional XSD, mapping, the codec's business rules on every posting, the account of every
 * statement) while its encoded postings go to a spool file, and only then are they published to
 * the ledger stream as Avro, each with a message id derived from the posting's id, status and
 * content (a repeat is dropped by JetStream, a changed entry reaches the worker as a DUPLICATE).
 * Any failure before publishing dead-letters the message with its reason and publishes nothing; a
 * failure while publishing (NATS down) is transient and thrown, and a retry re-publishes harmlessly.
 */
import { createHash } from 'node:crypto';
import { headers as natsHeaders } from '@nats-io/nats-core';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { Config } from '../config/schema.js';
import { ledgerEntryFingerprint } from '../domain/entryFingerprint.js';
import { amountLimitsOf } from '../domain/inputBounds.js';
import { isPermanent, type ReconError, SchemaViolation } from '../lib/errors.js';
import { redactText } from '../lib/redact.js';
import { createLedgerCodec, type LedgerCodec, type LedgerPosting } from '../streams/ledgerCodec.js';
import { createPostingSpool } from './postingSpool.js';
import { camtMappingOptions } from './camtConfig.js';
import type { StatementBalance, StatementHeader } from './camtMapping.js';
import { walkCamt, type CamtWalkOptions } from './camtWalk.js';
import { balanceCheck, sequenceCheck, sequenceOf } from './statementChecks.js';
import { CAMT_DEAD_LETTER_ROW_BYTES, CAMT_DEAD_LETTER_SCHEMA, STATEMENT_SCHEMA, statementMessage, type CamtDeadLetterMessage } from './statementMessage.js';
import type { StatementSequences } from './statementSequence.js';
import { validateCamtXsd } from './xsdValidation.js';
import { ledgerPublishSubject } from '../streams/partitions.js';

/** A camt message that can be read more than once (a file, a buffer). */
export interface CamtInput {
  /** File path or subject, for messages and dead letters. */
  name: string;
  /** Its size in bytes, when known before reading (refused above `camt.maxMessageBytes`). */
  size?: number;
  open(): AsyncIterable<Uint8Array | string>;
}

/** What one statement (report, notification) of a message said. */
export interface StatementSummary {
  header: StatementHeader;
  accountId: string;
  balances: StatementBalance[];
  /** Net of the booked entries, signed minor units. */
  bookedNetMinor: bigint;
  entries: number;
  postings: number;
}

export type CamtIngestResult =
  | { ok: true; name: string; sha256: string; statements: StatementSummary[]; postings: number; published: number; duplicates: number }
  | { ok: false; name: string; sha256: string | null; code: string; reason: string };

export interface CamtIngestDeps {
  js: JetStreamClient;
  config: Config;
  codec?: LedgerCodec;
  /** Statement sequence numbers seen so far (Redis); without it, no gap or overlap check. */
  sequences?: StatementSequences;
  /** Postings published concurrently (waiting for their acks), default 512. */
  inflight?: number;
}

/** Header naming the camt message a posting or dead letter came from. */
export const CAMT_SOURCE_HEADER = 'Recon-Camt-Source';
/** Largest part of a refused message kept in its dead letter (NATS max payload is 1 MiB by default). */
const DEAD_LETTER_MAX_BYTES = 900 * 1024;

async function* hashing(source: AsyncIterable<Uint8Array | string>, hash: ReturnType<typeof createHash>, limit: number, name: string, keep?: Uint8Array[]): AsyncGenerator<Uint8Array> {
  let total = 0;
  for await (const chunk of source) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    total += bytes.byteLength;
    if (total > limit) throw new SchemaViolation(`${name}: larger than camt.maxMessageBytes (${limit} bytes).`);
    hash.update(bytes);
    keep?.push(bytes);
    yield bytes;
  }
}

/** The account resolver of the configuration: `camt.accounts`, then mapped accounts, then (if allowed) any. */
export function camtAccountResolver(config: Config): (account: string) => string | undefined {
  const known = new Set(config.accounts.map((a) => a.accountId));
  return (account) => config.camt.accounts[account] ?? (known.has(account) || config.camt.acceptUnlistedAccounts ? account : undefined);
}

/**
 * Ingests one camt message (see the module comment). Returns what was published, or the dead
 * letter's code and reason when the message was refused; throws only transient errors.
 */
export async function ingestCamt(input: CamtInput, deps: CamtIngestDeps): Promise<CamtIngestResult> {
  const { config, js } = deps;
  const camt = config.camt;
  const codec = deps.codec ?? createLedgerCodec({ amountLimits: amountLimitsOf(config.limits.maxAmountMinor) });
  const walkOptions: CamtWalkOptions = { name: input.name, mapping: camtMappingOptions(camt), resolveAccount: camtAccountResolver(config) };
  const statements: StatementSummary[] = [];
  let postings = 0;
  let sha256: string | null = null;
  const kept: Uint8Array[] | undefined = camt.xsdValidation ? [] : undefined;

  // Pass 1: everything is read and validated; nothing leaves the process. The encoded postings
  // go to a spool file, so the publishing pass neither parses the XML again nor holds them.
  const spool = await createPostingSpool();
  try {
    return await validateThenPublish();
  } finally {
    await spool.dispose();
  }

  async function validateThenPublish(): Promise<CamtIngestResult> {
    try {
      if (input.size !== undefined && input.size > camt.maxMessageBytes) throw new SchemaViolation(`${input.name}: ${input.size} bytes, larger than camt.maxMessageBytes (${camt.maxMessageBytes}).`);
      const hash = createHash('sha256');
      for await (const it of walkCamt(hashing(input.open(), hash, camt.maxMessageBytes, input.name, kept), walkOptions)) {
        if (it.t === 'statement') statements.push({ header: it.header, accountId: it.accountId, balances: [], bookedNetMinor: 0n, entries: 0, postings: 0 });
        else if (it.t === 'balance') statements[statements.length - 1]!.balances.push(it.balance);
        else if (it.t === 'posting') {
          // The worker's own decoder is the judge: what it would dead-letter is refused here, whole.
          const enc = codec.encode(it.posting);
          const entry = codec.decode(enc.bytes, enc.headers);
          // One message id per posting, status and content: a repeat is dropped by JetStream, a
          // pending entry booked later or an entry changed since gets through.
          const msgID = `${entry.entryId}:${entry.status.toUpperCase()}:${ledgerEntryFingerprint(entry)}`;
          const subject = ledgerPublishSubject(deps.config.nats, camt.ledgerSubject, entry.accountId);
          await spool.append({ msgID, source: it.posting.details.source ?? input.name, subject, bytes: enc.bytes });
          postings++;
        } else {
          const s = statements[statements.length - 1]!;
          s.bookedNetMinor = it.bookedNetMinor;
          s.entries = it.entries;
          s.postings = it.postings;
        }
      }
      sha256 = hash.digest('hex');
      await spool.finish();
      if (kept) {
        const first = statements[0]!.header;
        await validateCamtXsd(Buffer.concat(kept), first, camt.xsdDir, input.name);
      }
    } catch (e) {
      if (!isPermanent(e)) throw e;
      return deadLetter(input, deps, e, sha256, kept);
    }

    // Pass 2: publish from the spool. The message ids make a retry after a failure here harmless.
    const schemaHeader = codec.encode(EMPTY_POSTING).headers;
    let published = 0;
    let duplicates = 0;
    // A counting semaphore bounds the publishes awaiting their ack.
    const limit = deps.inflight ?? 512;
    let inflight = 0;
    let wake: (() => void) | undefined;
    const settled = () => {
      inflight--;
      const w = wake;
      wake = undefined;
      w?.();
    };
    const room = async (max: number) => {
      while (inflight > max) await new Promise<void>((r) => (wake = r));
    };
    let failure: unknown;
    for await (const p of spool.read()) {
      const h = natsHeaders();
      for (const [k, v] of Object.entries(schemaHeader)) h.set(k, v);
      h.set(CAMT_SOURCE_HEADER, p.source);
      inflight++;
      js.publish(p.subject, p.bytes, { msgID: p.msgID, headers: h }).then(
        (ack) => {
          if (ack.duplicate) duplicates++;
          else published++;
          settled();
        },
        (e: unknown) => {
          failure ??= e;
          settled();
        },
      );
      await room(limit - 1);
      if (failure) break;
    }
    await room(0);
    if (failure) throw failure;
    // Then each statement's balances and findings, after its postings: a worker sees them in order.
    for (const s of statements) await publishStatement(s, camt.ledgerSubject, deps);
    return { ok: true, name: input.name, sha256: sha256!, statements, postings, published, duplicates };
  }
}

/** Any valid posting: encoding it gives the `Recon-Schema` header of the codec's latest version. */
const EMPTY_POSTING: LedgerPosting = {
  entryId: 'x',
  accountId: 'x',
  direction: 'credit',
  amountMinor: 1n,
  currency: 'USD',
  bookingTime: 0,
  valueTime: 0,
  status: 'booked',
  txType: 'deposit',
  endToEndId: null,
  remittance: null,
  tokenizationRef: null,
};

async function deadLetter(input: CamtInput, deps: CamtIngestDeps, e: ReconError, sha256: string | null, kept: Uint8Array[] | undefined): Promise<CamtIngestResult> {
  const reason = redactText(e.message).toWellFormed();
  const code = e.code;
  let payload: Uint8Array = new Uint8Array(0);
  let truncated = false;
  try {
    const chunks: Uint8Array[] = kept && kept.length > 0 ? kept : [];
    let size = chunks.reduce((n, c) => n + c.byteLength, 0);
    if (size === 0) {
      for await (const c of input.open()) {
        const b = typeof c === 'string' ? Buffer.from(c) : c;
        chunks.push(b);
        size += b.byteLength;
        if (size > DEAD_LETTER_MAX_BYTES) break;
      }
    }
    const all = Buffer.concat(chunks);
    truncated = all.byteLength > DEAD_LETTER_MAX_BYTES;
    payload = truncated ? all.subarray(0, DEAD_LETTER_MAX_BYTES) : all;
  } catch {
    // The input cannot be read again: the dead letter carries the reason only.
  }
  const h = natsHeaders();
  h.set('Recon-Dead-Letter-Code', code);
  h.set('Recon-Dead-Letter-Reason', reason.replace(/[\r\n]+/g, ' ').slice(0, 2_000));
  h.set(CAMT_SOURCE_HEADER, input.name.slice(0, 512));
  if (truncated) h.set('Recon-Payload-Truncated', 'true');
  const id = sha256 ?? createHash('sha256').update(payload).digest('hex');
  await deps.js.publish(`${deps.config.nats.deadLetterSubjectPrefix}.camt`, payload, { headers: h, msgID: `dl:camt:${id}:${code}` });
  // And its record on the ledger stream, for the workers to store in `dead_letters` like every
  // other dead letter (the ingester has no ClickHouse of its own).
  const kept2 = payload.subarray(0, CAMT_DEAD_LETTER_ROW_BYTES);
  const record: CamtDeadLetterMessage = {
    id: `${id}:${code}`,
    code,
    reason: reason.slice(0, 2_000),
    source: input.name.slice(0, 512),
    payloadBase64: Buffer.from(kept2).toString('base64'),
    truncated: truncated || kept2.byteLength < payload.byteLength,
  };
  const dh = natsHeaders();
  dh.set('Recon-Schema', CAMT_DEAD_LETTER_SCHEMA);
  const recordSubject = ledgerPublishSubject(deps.config.nats, `${deps.config.camt.ledgerSubject}.${STATEMENT_SUBJECT_SUFFIX}`, id);
  await deps.js.publish(recordSubject, Buffer.from(JSON.stringify(record)), { headers: dh, msgID: `camt-dl:${id}:${code}` });
  return { ok: false, name: input.name, sha256, code, reason };
}

/** Subject suffix of statement messages, under `camt.ledgerSubject`. */
export const STATEMENT_SUBJECT_SUFFIX = 'statement';

/**
 * Checks a statement (balances; sequence and period against its neighbours when `sequences` is
 * given), publishes its balances and findings for the workers, then records its sequence number.
 */
async function publishStatement(s: StatementSummary, subject: string, deps: CamtIngestDeps): Promise<void> {
  const seq = sequenceOf(s.header);
  // Neighbours read, findings published and the number recorded as one piece per account and family.
  if (deps.sequences && seq !== null) return deps.sequences.exclusive(s.accountId, s.header.family, () => publishStatementAlone(s, subject, deps));
  return publishStatementAlone(s, subject, deps);
}

async function publishStatementAlone(s: StatementSummary, subject: string, deps: CamtIngestDeps): Promise<void> {
  const h = s.header;
  const currency = h.accountCurrency ?? s.balances[0]?.currency ?? '';
  const findings = balanceCheck(s);
  const seq = sequenceOf(h);
  if (deps.sequences && seq !== null) {
    const n = await deps.sequences.neighbours(s.accountId, h.family, seq);
    findings.push(...sequenceCheck({ header: h, accountId: s.accountId, currency, ...n }));
  }
  const m = statementMessage(s, findings);
  // A notification without balances and without findings has nothing for the workers to record.
  if (m.balances.length === 0 && m.findings.length === 0) {
    if (deps.sequences && seq !== null) await deps.sequences.record(s.accountId, h.family, { seq, reportId: h.reportId, from: h.from, to: h.to });
    return;
  }
  const bytes = Buffer.from(JSON.stringify(m));
  const hdr = natsHeaders();
  hdr.set('Recon-Schema', STATEMENT_SCHEMA);
  hdr.set(CAMT_SOURCE_HEADER, `${m.messageType}:${h.reportId}`);
  const digest = createHash('sha256').update(bytes).digest('hex').slice(0, 16);
  await deps.js.publish(ledgerPublishSubject(deps.config.nats, `${subject}.${STATEMENT_SUBJECT_SUFFIX}`, s.accountId), bytes, {
    headers: hdr,
    msgID: `camt-stmt:${s.accountId}:${m.messageType}:${h.reportId}:${digest}`,
  });
  if (deps.sequences && seq !== null) await deps.sequences.record(s.accountId, h.family, { seq, reportId: h.reportId, from: h.from, to: h.to });
}
