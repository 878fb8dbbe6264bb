/**
 * Avro codec for bank ledger postings. Every version of the schema lives in
 * `config/schemas/ledger-posting.v<N>.avsc`; the writer's version travels in the message header
 * `Recon-Schema: ledger-posting/<N>`, and decoding resolves the writer's schema to the latest one,
 * so older messages read with the defaults of fields added since (see config/schemas/README.md).
 *
 * Decoding fails in two ways, both permanent (dead-letter): `DecodeError` when the bytes are not
 * a posting of the version the header names, `SchemaViolation` when they are but the posting
 * breaks a business rule.
 */
import { isUtf8 } from 'node:buffer';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import type { Schema, Type } from 'avsc';
import { currencyExponent } from '../domain/currencies.js';
import { amountProblem, DEFAULT_AMOUNT_LIMITS, EARLIEST_POSTING_MS, identifierProblem, preview, textProblem, timestampProblem, type AmountLimits } from '../domain/inputBounds.js';
import type { Direction, LedgerEntry, PostingDetails, PostingStatus, TxType } from '../domain/types.js';
import { ConfigError, DecodeError, SchemaViolation } from '../lib/errors.js';

/** Header carrying the writer's schema version, as `ledger-posting/<N>`. */
export const SCHEMA_HEADER = 'Recon-Schema';
/** Subject part of the `Recon-Schema` header value. */
export const SCHEMA_SUBJECT = 'ledger-posting';

/** Resolved relative to this file, so the codec loads the same schemas from any cwd. */
const DEFAULT_SCHEMA_DIR = fileURLToPath(new URL('../../config/schemas/', import.meta.url));

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** What a producer encodes: a `LedgerEntry` without the fields the decoder derives. */
export interface LedgerPosting {
  entryId: string;
  accountId: string;
  direction: Direction;
  /** Integer minor units; any int64, so tests can encode invalid amounts too. */
  amountMinor: bigint;
  currency: string;
  /** Epoch milliseconds. */
  bookingTime: number;
  valueTime: number;
  status: PostingStatus;
  txType: TxType;
  endToEndId: string | null;
  remittance: string | null;
  /** Only from v2 on; must be null when encoding v1. */
  tokenizationRef: string | null;
  /** Only from v2 on (the schema default is 'core'); must be absent when encoding v1. */
  channel?: string;
  /** Only from v3 on (every field nullable); must be absent or all null when encoding v1/v2. */
  details?: PostingDetails;
}

/** The v3 detail fields, in schema order: each is a nullable string of `PostingDetails`. */
export const DETAIL_FIELDS = [
  'valueDate',
  'bookingDate',
  'groupId',
  'instructionId',
  'transactionId',
  'accountServicerRef',
  'entryRef',
  'transactionCode',
  'counterparty',
  'counterpartyAccount',
  'reversalOf',
  'source',
] as const satisfies readonly (keyof PostingDetails)[];

/** Message headers: a NATS `MsgHdrs` (anything with `get`) or a plain record. */
export type LedgerHeaders = { get(name: string): string | undefined } | Record<string, string>;

export interface LedgerCodecOptions {
  /** Folder holding `ledger-posting.v<N>.avsc`; defaults to the repository's config/schemas. */
  schemaDir?: string;
  /** Clock for the "not in the future" check, epoch ms; defaults to Date.now. */
  now?: () => number;
  /** Plausibility bound of one amount per currency (config `limits.maxAmountMinor`); default 10^15 minor units. */
  amountLimits?: AmountLimits;
}

export interface LedgerCodec {
  /** Highest schema version found: what `decode` resolves to and `encode` writes by default. */
  latestVersion: number;
  /**
   * Encodes with schema `version` (default latest) and returns the headers to publish with it.
   * No business validation, so tests can produce bad postings; throws `SchemaViolation` only when
   * the posting does not fit the schema (including a field the version lacks, e.g. a
   * tokenizationRef in v1), `ConfigError` for an unknown version.
   */
  encode(posting: LedgerPosting, version?: number): { bytes: Uint8Array; headers: Record<string, string> };
  /**
   * Reads `bytes` with the writer schema named by the `Recon-Schema` header, resolves it to the
   * latest version and validates it: `DecodeError` or `SchemaViolation` otherwise.
   */
  decode(bytes: Uint8Array, headers: LedgerHeaders): LedgerEntry;
}

/**
 * Avro `long` as bigint, so amounts and timestamps read the full int64 range exactly. avsc's own
 * long zig-zags through a double: above 2^52 it reads a different number (-8640000000000001 came
 * back as +8640000000000000), so every long, `timestamp-millis` ones included, is this type
 * (registry entry for the bare name, type hook for `{ "type": "long", … }`).
 */
const bigintLong = avro.types.LongType.__with({
  fromBuffer: (buf: Buffer) => buf.readBigInt64LE(),
  toBuffer: (n: bigint) => {
    const buf = Buffer.alloc(8);
    buf.writeBigInt64LE(n);
    return buf;
  },
  fromJSON: (x: number | string | bigint) => BigInt(x),
  toJSON: (n: bigint) => (n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString()),
  isValid: (n: unknown) => typeof n === 'bigint' && n >= INT64_MIN && n <= INT64_MAX,
  compare: (a: bigint, b: bigint) => (a === b ? 0 : a < b ? -1 : 1),
});

/**
 * A string field whose bytes are not UTF-8. avsc decodes strings leniently (each bad sequence
 * becomes U+FFFD, a different string); the strict string type below keeps the bytes instead, so
 * validation dead-letters the posting naming the field.
 */
class InvalidUtf8 {
  constructor(readonly bytes: Buffer) {}
}

interface AvscTap {
  buf: Buffer;
  pos: number;
  readString(): string | undefined;
}

/**
 * Avro `string` that never changes the text: valid UTF-8 reads as avsc reads it, anything else as
 * `InvalidUtf8`. The bytes are only checked when the lenient text holds U+FFFD, so the common
 * case costs one `indexOf`.
 */
class StrictStringType extends avro.types.StringType {
  _read(tap: AvscTap): string | InvalidUtf8 | undefined {
    const start = tap.pos;
    const text = tap.readString();
    if (text === undefined || text.indexOf('\uFFFD') < 0) return text;
    let first = start; // skip the zig-zag varint length
    while ((tap.buf[first]! & 0x80) !== 0) first++;
    const bytes = tap.buf.subarray(first + 1, tap.pos);
    return isUtf8(bytes) ? text : new InvalidUtf8(Buffer.from(bytes));
  }
}
const strictString = new StrictStringType();

/** The shape avsc reads with the latest schema (v3 today); v1/v2 messages read the v3 defaults. */
interface AvroPosting extends Partial<Record<(typeof DETAIL_FIELDS)[number], string | null>> {
  entryId: string;
  accountId: string;
  direction: string;
  amountMinor: bigint;
  currency: string;
  bookingTime: number | bigint;
  valueTime: number | bigint;
  status: string;
  txType: string;
  endToEndId: string | null;
  remittance: string | null;
  tokenizationRef?: string | null;
}

const DIRECTIONS: Readonly<Record<string, Direction>> = { CREDIT: 'credit', DEBIT: 'debit' };
const STATUSES: Readonly<Record<string, PostingStatus>> = {
  BOOKED: 'booked',
  PENDING: 'pending',
  REVERSED: 'reversed',
};
const TX_TYPES: Readonly<Record<string, TxType>> = {
  DEPOSIT: 'deposit',
  WITHDRAWAL: 'withdrawal',
  TRANSFER: 'transfer',
  FEE: 'fee',
  REVERSAL: 'reversal',
};

function loadSchemas(dir: string): Map<number, Type> {
  let files: string[];
  try {
    files = readdirSync(dir);
  } catch (cause) {
    throw new ConfigError(`Cannot read the Avro schema folder ${dir}.`, { cause });
  }
  const types = new Map<number, Type>();
  for (const file of files) {
    const m = /^ledger-posting\.v(\d+)\.avsc$/.exec(file);
    if (!m) continue;
    const version = Number(m[1]);
    try {
      const schema = JSON.parse(readFileSync(`${dir}/${file}`, 'utf8')) as Schema;
      // A fresh registry per file: each version declares the same named types (bank.ledger.Posting).
      types.set(
        version,
        avro.Type.forSchema(schema, {
          registry: { long: bigintLong, string: strictString },
          typeHook: (s) => (typeof s === 'object' && s !== null && !Array.isArray(s) && (s as { type?: unknown }).type === 'long' ? bigintLong : undefined),
        }),
      );
    } catch (cause) {
      throw new ConfigError(`Avro schema ${dir}/${file} is not a valid schema.`, { cause });
    }
  }
  if (types.size === 0) {
    throw new ConfigError(`No ledger-posting.v<N>.avsc schema found in ${dir}.`);
  }
  return types;
}

function readHeader(headers: LedgerHeaders, name: string): string | undefined {
  if (typeof headers.get === 'function') {
    // NATS MsgHdrs returns '' for a missing header.
    return (headers as { get(name: string): string | undefined }).get(name) || undefined;
  }
  const record = headers as Record<string, string>;
  if (Object.hasOwn(record, name)) return record[name];
  const lower = name.toLowerCase();
  const key = Object.keys(record).find((k) => k.toLowerCase() === lower);
  return key === undefined ? undefined : record[key];
}

/** `{ details }` when a v3 posting carries any detail, else nothing (v1/v2 entries stay as they were). */
function detailsOf(p: AvroPosting): { details?: PostingDetails } {
  if (DETAIL_FIELDS.every((f) => (p[f] ?? null) === null)) return {};
  return { details: Object.fromEntries(DETAIL_FIELDS.map((f) => [f, p[f] ?? null])) as unknown as PostingDetails };
}

function toEpochMs(value: number | bigint): number {
  return typeof value === 'bigint' ? Number(value) : value;
}

/** An epoch-ms number as the bigint Avro long; a non-integer stays as it is, for avsc to refuse. */
function epochMsLong(t: number): bigint | number {
  return Number.isInteger(t) ? BigInt(t) : t;
}

/** The string fields of a posting and the rule each keeps (src/domain/inputBounds.ts). */
const STRING_FIELDS = [
  ['entryId', 'identifier'],
  ['accountId', 'identifier'],
  ['endToEndId', 'identifier'],
  ['tokenizationRef', 'identifier'],
  ['remittance', 'text'],
] as const;

/**
 * Builds the codec from the schema folder, failing fast (`ConfigError`) when a schema is invalid
 * or cannot be resolved to the latest version.
 */
export function createLedgerCodec(options: LedgerCodecOptions = {}): LedgerCodec {
  const schemaDir = options.schemaDir ?? DEFAULT_SCHEMA_DIR;
  const now = options.now ?? Date.now;
  const amountLimits = options.amountLimits ?? DEFAULT_AMOUNT_LIMITS;
  const types = loadSchemas(schemaDir);
  const known = [...types.keys()].sort((a, b) => a - b);
  const latestVersion = known[known.length - 1]!;
  const reader = types.get(latestVersion)!;
  const resolvers = new Map<number, ReturnType<Type['createResolver']>>();
  for (const [version, writer] of types) {
    if (version === latestVersion) continue;
    try {
      resolvers.set(version, reader.createResolver(writer));
    } catch (cause) {
      throw new ConfigError(`Schema ledger-posting/${version} cannot be read as ledger-posting/${latestVersion}: a schema change broke the evolution rules.`, { cause });
    }
  }
  const knownList = known.map((v) => `${SCHEMA_SUBJECT}/${v}`).join(', ');
  /** Field names per schema version, for encode's check that no data is dropped. */
  const fieldNames = new Map<number, Set<string>>();

  function writerVersion(headers: LedgerHeaders): number {
    const value = readHeader(headers, SCHEMA_HEADER);
    if (value === undefined) {
      throw new DecodeError(`Ledger message has no ${SCHEMA_HEADER} header, so its schema version is unknown.`, {
        details: `The producer must send '${SCHEMA_HEADER}: ${SCHEMA_SUBJECT}/<version>' (known: ${knownList}).`,
      });
    }
    const m = new RegExp(`^${SCHEMA_SUBJECT}/(\\d+)$`).exec(value.trim());
    if (!m) {
      throw new DecodeError(`Ledger message has ${SCHEMA_HEADER} header '${value}', expected '${SCHEMA_SUBJECT}/<version>'.`);
    }
    const version = Number(m[1]);
    if (!types.has(version)) {
      throw new DecodeError(`Ledger message was written with schema ${SCHEMA_SUBJECT}/${version}, which this engine does not know (known: ${knownList}).`, {
        details: 'Deploy the new schema file to config/schemas, or fix the producer.',
      });
    }
    return version;
  }

  function readPosting(bytes: Uint8Array, version: number): AvroPosting {
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const what = `Ledger message (${buf.length} bytes, header ${SCHEMA_SUBJECT}/${version})`;
    const resolver = resolvers.get(version);
    let result: { value: unknown; offset: number };
    try {
      result = resolver ? reader.decode(buf, 0, resolver) : reader.decode(buf, 0);
    } catch (cause) {
      throw new DecodeError(`${what} is not a valid ${SCHEMA_SUBJECT}/${version} Avro record.`, {
        details: cause instanceof Error ? cause.message : String(cause),
        cause,
      });
    }
    if (result.offset < 0) {
      throw new DecodeError(`${what} ends before a complete ${SCHEMA_SUBJECT}/${version} record: truncated, or not that schema.`);
    }
    if (result.offset < buf.length) {
      throw new DecodeError(`${what} has ${buf.length - result.offset} trailing byte(s) after the posting: written with another schema than its header says, or corrupted.`);
    }
    return result.value as AvroPosting;
  }

  /**
   * Business validation at the door: every string field bounded and well-formed, amount positive
   * and plausible for its currency, times plausible. Every message is built from previews of the
   * input, so neither a 10,000-character id nor an absurd time can make formatting it throw.
   */
  function validate(p: AvroPosting, version: number): LedgerEntry {
    for (const field of ['entryId', 'accountId', 'currency', 'endToEndId', 'remittance', 'tokenizationRef', ...DETAIL_FIELDS] as const) {
      const value: unknown = p[field];
      if (value instanceof InvalidUtf8) {
        throw new DecodeError(
          `Ledger posting (schema ${SCHEMA_SUBJECT}/${version}): ${field} is not valid UTF-8 (${value.bytes.length} bytes, ${value.bytes.subarray(0, 24).toString('hex')}${value.bytes.length > 24 ? '…' : ''}).`,
          { details: 'A string that cannot be decoded exactly is refused, never replaced by another text.' },
        );
      }
    }
    const idOk = identifierProblem(p.entryId) === undefined;
    const id = idOk ? `Posting ${p.entryId}` : `Posting ${preview(p.entryId)}`;
    const violation = (message: string, cause?: unknown) =>
      new SchemaViolation(`${id}: ${message}`, {
        details: `account ${preview(p.accountId)}, ${p.txType} ${p.direction} ${p.amountMinor} ${preview(p.currency)}, schema ${SCHEMA_SUBJECT}/${version}`,
        cause,
      });

    for (const [field, rule] of STRING_FIELDS) {
      const value = p[field] ?? null;
      if (value === null && field !== 'entryId' && field !== 'accountId') continue;
      if ((field === 'entryId' || field === 'accountId') && value !== null && value.trim() === '') throw violation(`${field} is empty.`);
      const problem = rule === 'identifier' ? identifierProblem(value) : textProblem(value);
      if (problem) throw violation(`${field} ${problem} (${preview(value ?? '')}).`);
    }
    let exponent: number;
    try {
      exponent = currencyExponent(p.currency);
    } catch (cause) {
      throw violation(`currency ${p.currency.length <= 8 ? `'${p.currency}'` : preview(p.currency)} is not an ISO 4217 code this engine knows.`, cause);
    }
    const amount = amountProblem(p.amountMinor, p.currency, amountLimits);
    if (amount) throw violation(`amount ${amount}.`);
    const current = now();
    for (const name of ['bookingTime', 'valueTime'] as const) {
      const problem = timestampProblem(p[name], { earliestMs: EARLIEST_POSTING_MS, nowMs: current });
      if (problem) throw violation(`${name} ${problem}.`);
    }
    for (const field of DETAIL_FIELDS) {
      const value = p[field] ?? null;
      const problem = value === null ? undefined : textProblem(value);
      if (problem) throw violation(`${field} ${problem} (${preview(value ?? '')}).`);
    }
    const bookingTime = toEpochMs(p.bookingTime);
    const valueTime = toEpochMs(p.valueTime);
    const direction = DIRECTIONS[p.direction];
    const status = STATUSES[p.status];
    const txType = TX_TYPES[p.txType];
    if (!direction || !status || !txType) {
      throw violation(`enum value outside the domain (direction ${p.direction}, status ${p.status}, txType ${p.txType}).`);
    }
    if (txType === 'deposit' && direction === 'debit') throw violation('a DEPOSIT must be a CREDIT, got a DEBIT.');
    if (txType === 'withdrawal' && direction === 'credit') throw violation('a WITHDRAWAL must be a DEBIT, got a CREDIT.');

    return {
      entryId: p.entryId,
      accountId: p.accountId,
      direction,
      amountMinor: p.amountMinor,
      currency: p.currency,
      exponent,
      bookingTime,
      valueTime,
      status,
      txType,
      endToEndId: p.endToEndId,
      remittance: p.remittance,
      tokenizationRef: p.tokenizationRef ?? null,
      schemaVersion: version,
      ...detailsOf(p),
    };
  }

  return {
    latestVersion,

    encode(posting, version = latestVersion) {
      const type = types.get(version);
      if (!type) {
        throw new ConfigError(`Cannot encode with schema ${SCHEMA_SUBJECT}/${version}: not known (known: ${knownList}).`);
      }
      let fields = fieldNames.get(version);
      if (!fields) {
        fields = new Set((type as unknown as { fields: { name: string }[] }).fields.map((f) => f.name));
        fieldNames.set(version, fields);
      }
      const record: Record<string, unknown> = {
        entryId: posting.entryId,
        accountId: posting.accountId,
        direction: posting.direction.toUpperCase(),
        amountMinor: posting.amountMinor,
        currency: posting.currency,
        bookingTime: epochMsLong(posting.bookingTime),
        valueTime: epochMsLong(posting.valueTime),
        status: posting.status.toUpperCase(),
        txType: posting.txType.toUpperCase(),
        endToEndId: posting.endToEndId,
        remittance: posting.remittance,
        tokenizationRef: posting.tokenizationRef,
        channel: posting.channel ?? 'core',
      };
      for (const f of DETAIL_FIELDS) record[f] = posting.details?.[f] ?? null;
      // Refuse to drop data silently: a field the writer schema lacks must be empty.
      for (const [name, value] of Object.entries(record)) {
        const unset = value === null || (name === 'channel' && posting.channel === undefined);
        if (!fields.has(name) && !unset) {
          throw new SchemaViolation(`Posting ${posting.entryId}: field ${name} does not exist in ${SCHEMA_SUBJECT}/${version}; encode with a later version.`);
        }
        if (!fields.has(name)) delete record[name];
      }
      let bytes: Buffer;
      try {
        bytes = type.toBuffer(record);
      } catch (cause) {
        const bad: string[] = [];
        type.isValid(record, { errorHook: (path) => bad.push(path.join('.')) });
        throw new SchemaViolation(`Posting ${posting.entryId} cannot be encoded as ${SCHEMA_SUBJECT}/${version}.`, {
          details: bad.length > 0 ? `Invalid field(s): ${bad.join(', ')}` : undefined,
          cause,
        });
      }
      return { bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), headers: { [SCHEMA_HEADER]: `${SCHEMA_SUBJECT}/${version}` } };
    },

    decode(bytes, headers) {
      const version = writerVersion(headers);
      return validate(readPosting(bytes, version), version);
    },
  };
}
