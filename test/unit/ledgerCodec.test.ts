import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { DecodeError, SchemaViolation } from '../../src/lib/errors.js';
import { amountLimitsOf, HARD_MAX_AMOUNT_MINOR } from '../../src/domain/inputBounds.js';
import { createLedgerCodec, SCHEMA_HEADER, type LedgerPosting } from '../../src/streams/ledgerCodec.js';

const NOW = Date.UTC(2025, 5, 1, 12);
const DAY = 24 * 60 * 60 * 1000;
const codec = createLedgerCodec({ now: () => NOW });

function posting(overrides: Partial<LedgerPosting> = {}): LedgerPosting {
  return {
    entryId: 'E-1001',
    accountId: 'ACC-42',
    direction: 'credit',
    amountMinor: 123_456n,
    currency: 'USD',
    bookingTime: NOW - 60_000,
    valueTime: NOW - 30_000,
    status: 'booked',
    txType: 'deposit',
    endToEndId: 'E2E-7',
    remittance: 'invoice 17',
    tokenizationRef: 'TOK-9',
    ...overrides,
  };
}

function roundTrip(p: LedgerPosting, version?: number) {
  const { bytes, headers } = codec.encode(p, version);
  return codec.decode(bytes, headers);
}

function decodeError(fn: () => unknown): DecodeError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DecodeError);
    return e as DecodeError;
  }
  throw new Error('expected a DecodeError');
}

function violation(fn: () => unknown): SchemaViolation {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SchemaViolation);
    return e as SchemaViolation;
  }
  throw new Error('expected a SchemaViolation');
}

describe('ledgerCodec: schemas and versions', () => {
  it('loads the schemas from config/schemas whatever the cwd is', () => {
    const cwd = process.cwd();
    try {
      process.chdir(tmpdir());
      expect(createLedgerCodec().latestVersion).toBe(3);
    } finally {
      process.chdir(cwd);
    }
  });

  it('writes the version in the Recon-Schema header', () => {
    expect(SCHEMA_HEADER).toBe('Recon-Schema');
    expect(codec.encode(posting()).headers).toEqual({ 'Recon-Schema': 'ledger-posting/3' });
    expect(codec.encode(posting(), 2).headers).toEqual({ 'Recon-Schema': 'ledger-posting/2' });
    expect(codec.encode(posting({ tokenizationRef: null }), 1).headers).toEqual({ 'Recon-Schema': 'ledger-posting/1' });
  });

  it('round-trips a v2 posting into the domain LedgerEntry with lower-case enums, exponent and schemaVersion', () => {
    expect(roundTrip(posting(), 2)).toEqual({
      entryId: 'E-1001',
      accountId: 'ACC-42',
      direction: 'credit',
      amountMinor: 123_456n,
      currency: 'USD',
      exponent: 2,
      bookingTime: NOW - 60_000,
      valueTime: NOW - 30_000,
      status: 'booked',
      txType: 'deposit',
      endToEndId: 'E2E-7',
      remittance: 'invoice 17',
      tokenizationRef: 'TOK-9',
      schemaVersion: 2,
    });
  });

  it('reads a v1 message with the v2 reader, defaulting tokenizationRef to null', () => {
    const entry = roundTrip(posting({ tokenizationRef: null, endToEndId: null, remittance: null }), 1);
    expect(entry.tokenizationRef).toBeNull();
    expect(entry.endToEndId).toBeNull();
    expect(entry.schemaVersion).toBe(1);
    expect(entry.amountMinor).toBe(123_456n);
  });

  it('round-trips amounts beyond 2^53 exactly, and reads 2^63-1 exactly into the violation of the amount bound', () => {
    // The door now bounds amounts (default 10^15, at most 10^18 minor units: see inputBounds.ts);
    // the Avro long still reads the whole int64 range exactly, as the violation's text shows.
    const wide = createLedgerCodec({ now: () => NOW, amountLimits: amountLimitsOf({ default: HARD_MAX_AMOUNT_MINOR }) });
    const wideTrip = (p: LedgerPosting, version?: number) => {
      const { bytes, headers } = wide.encode(p, version);
      return wide.decode(bytes, headers);
    };
    expect(wideTrip(posting({ amountMinor: HARD_MAX_AMOUNT_MINOR })).amountMinor).toBe(10n ** 18n);
    expect(wideTrip(posting({ amountMinor: HARD_MAX_AMOUNT_MINOR, tokenizationRef: null }), 1).amountMinor).toBe(10n ** 18n);
    expect(wideTrip(posting({ amountMinor: 2n ** 53n + 1n })).amountMinor).toBe(2n ** 53n + 1n);
    const max = 2n ** 63n - 1n;
    expect(violation(() => wideTrip(posting({ amountMinor: max }))).shortMessage).toMatch(/amount is 9223372036854775807 minor units, above/);
  });

  it('decodes timestamps as epoch-millisecond numbers', () => {
    const entry = roundTrip(posting());
    expect(typeof entry.bookingTime).toBe('number');
    expect(typeof entry.valueTime).toBe('number');
  });

  it('maps every enum symbol to its domain value', () => {
    expect(roundTrip(posting({ txType: 'withdrawal', direction: 'debit', status: 'pending' }))).toMatchObject({
      txType: 'withdrawal',
      direction: 'debit',
      status: 'pending',
    });
    for (const txType of ['transfer', 'fee', 'reversal'] as const) {
      expect(roundTrip(posting({ txType, direction: 'debit', status: 'reversed' }))).toMatchObject({ txType, status: 'reversed' });
    }
  });

  it('fills exponent from the currency (JPY 0, BHD 3)', () => {
    expect(roundTrip(posting({ currency: 'JPY' })).exponent).toBe(0);
    expect(roundTrip(posting({ currency: 'BHD' })).exponent).toBe(3);
  });

  it('reads the header from a NATS-style headers object with get(), treating "" as missing', () => {
    const { bytes, headers } = codec.encode(posting(), 2);
    const natsLike = { get: (name: string) => (name === SCHEMA_HEADER ? headers[SCHEMA_HEADER] : '') };
    expect(codec.decode(bytes, natsLike).schemaVersion).toBe(2);
    expect(() => codec.decode(bytes, { get: () => '' })).toThrow(DecodeError);
  });

  it('reads the header case-insensitively from a plain record', () => {
    const { bytes } = codec.encode(posting(), 2);
    expect(codec.decode(bytes, { 'recon-schema': 'ledger-posting/2' }).schemaVersion).toBe(2);
  });

  it('round-trips the v3 details of an ISO 20022 posting, and reads v1/v2 without details', () => {
    const details = {
      valueDate: '2024-05-03',
      bookingDate: '2024-05-02T10:00:00+02:00',
      groupId: 'camt-g',
      instructionId: 'I-1',
      transactionId: 'T-1',
      accountServicerRef: 'SVC-1',
      entryRef: null,
      transactionCode: 'PMNT/RCDT/ESCT',
      counterparty: 'Payer',
      counterpartyAccount: 'FR7630006000011234567890189',
      reversalOf: null,
      source: 'camt.053.001.08:S-1',
    };
    const entry = roundTrip(posting({ details }));
    expect(entry.schemaVersion).toBe(3);
    expect(entry.details).toEqual(details);
    expect(roundTrip(posting()).details).toBeUndefined();
    expect(roundTrip(posting(), 2).details).toBeUndefined();
    expect(() => codec.encode(posting({ details }), 2)).toThrow(/field valueDate does not exist in ledger-posting\/2/);
    expect(() => roundTrip(posting({ details: { ...details, counterparty: 'x'.repeat(2_000) } }))).toThrow(/counterparty/);
  });

  it('refuses to encode a tokenizationRef into v1, which has no such field', () => {
    expect(() => codec.encode(posting(), 1)).toThrow(/tokenizationRef does not exist in ledger-posting\/1/);
  });
});

describe('ledgerCodec: DecodeError', () => {
  const { bytes } = codec.encode(posting(), 2);

  it('DecodeError when the Recon-Schema header is missing', () => {
    expect(decodeError(() => codec.decode(bytes, {})).shortMessage).toMatch(/no Recon-Schema header/);
  });

  it('DecodeError when the header names an unknown version', () => {
    const e = decodeError(() => codec.decode(bytes, { [SCHEMA_HEADER]: 'ledger-posting/9' }));
    expect(e.shortMessage).toMatch(/ledger-posting\/9, which this engine does not know \(known: ledger-posting\/1, ledger-posting\/2, ledger-posting\/3\)/);
  });

  it('DecodeError when the header is not ledger-posting/<version>', () => {
    expect(decodeError(() => codec.decode(bytes, { [SCHEMA_HEADER]: 'payments/2' })).shortMessage).toMatch(/expected 'ledger-posting\/<version>'/);
  });

  it('DecodeError when the bytes do not decode (invalid enum index)', () => {
    // entryId "A", accountId "B", then direction index 5 (zig-zag 10), which Direction does not have.
    const garbage = Uint8Array.from([0x02, 0x41, 0x02, 0x42, 0x0a, 0x00]);
    const e = decodeError(() => codec.decode(garbage, { [SCHEMA_HEADER]: 'ledger-posting/2' }));
    expect(e.shortMessage).toMatch(/is not a valid ledger-posting\/2 Avro record/);
    expect(e.details).toMatch(/enum index/);
  });

  it('DecodeError when the bytes are truncated', () => {
    const e = decodeError(() => codec.decode(bytes.subarray(0, bytes.length - 3), { [SCHEMA_HEADER]: 'ledger-posting/2' }));
    expect(e.shortMessage).toMatch(/ends before a complete ledger-posting\/2 record/);
  });

  it('DecodeError when the message is empty', () => {
    decodeError(() => codec.decode(new Uint8Array(0), { [SCHEMA_HEADER]: 'ledger-posting/2' }));
  });

  it('DecodeError when trailing garbage follows the posting', () => {
    const padded = Uint8Array.from([...bytes, 0xde, 0xad]);
    const e = decodeError(() => codec.decode(padded, { [SCHEMA_HEADER]: 'ledger-posting/2' }));
    expect(e.shortMessage).toMatch(/has 2 trailing byte\(s\) after the posting/);
  });

  it('DecodeError when v2 bytes are labelled v1 (trailing v2 fields)', () => {
    decodeError(() => codec.decode(bytes, { [SCHEMA_HEADER]: 'ledger-posting/1' }));
  });

  it('decodes a subarray view with a non-zero byteOffset', () => {
    const framed = new Uint8Array(bytes.length + 4);
    framed.set(bytes, 4);
    expect(codec.decode(framed.subarray(4), { [SCHEMA_HEADER]: 'ledger-posting/2' }).entryId).toBe('E-1001');
  });
});

describe('ledgerCodec: SchemaViolation', () => {
  it('SchemaViolation for a negative amount', () => {
    expect(violation(() => roundTrip(posting({ amountMinor: -1n }))).shortMessage).toMatch(/Posting E-1001: amount is -1 minor units/);
  });

  it('SchemaViolation for a zero amount', () => {
    expect(violation(() => roundTrip(posting({ amountMinor: 0n }))).shortMessage).toMatch(/must be positive/);
  });

  it('SchemaViolation for an unknown currency', () => {
    const e = violation(() => roundTrip(posting({ currency: 'XYZ' })));
    expect(e.shortMessage).toMatch(/currency 'XYZ' is not an ISO 4217 code/);
    expect(e.cause).toBeInstanceOf(SchemaViolation);
  });

  it('SchemaViolation for an empty entryId', () => {
    expect(violation(() => roundTrip(posting({ entryId: '' }))).shortMessage).toMatch(/entryId is empty/);
  });

  it('SchemaViolation for an empty accountId', () => {
    expect(violation(() => roundTrip(posting({ accountId: '  ' }))).shortMessage).toMatch(/accountId is empty/);
  });

  it('SchemaViolation for a bookingTime before 2000', () => {
    expect(violation(() => roundTrip(posting({ bookingTime: 1_700_000_000 }))).shortMessage).toMatch(/bookingTime .* is before 2000-01-01/);
  });

  it('SchemaViolation for a valueTime before 2000', () => {
    expect(violation(() => roundTrip(posting({ valueTime: 0 }))).shortMessage).toMatch(/valueTime 0 .* is before 2000-01-01/);
  });

  it('SchemaViolation for a bookingTime more than a day after now', () => {
    expect(violation(() => roundTrip(posting({ bookingTime: NOW + DAY + 1 }))).shortMessage).toMatch(/bookingTime .* is more than a day after now/);
  });

  it('SchemaViolation for a valueTime more than a day after now (e.g. microseconds)', () => {
    violation(() => roundTrip(posting({ valueTime: NOW * 1000 })));
  });

  it('accepts a timestamp exactly a day after now', () => {
    expect(roundTrip(posting({ valueTime: NOW + DAY })).valueTime).toBe(NOW + DAY);
  });

  it('SchemaViolation for a DEPOSIT that is a DEBIT', () => {
    expect(violation(() => roundTrip(posting({ txType: 'deposit', direction: 'debit' }))).shortMessage).toMatch(/a DEPOSIT must be a CREDIT/);
  });

  it('SchemaViolation for a WITHDRAWAL that is a CREDIT', () => {
    expect(violation(() => roundTrip(posting({ txType: 'withdrawal', direction: 'credit' }))).shortMessage).toMatch(/a WITHDRAWAL must be a DEBIT/);
  });

  it('marks decode and business failures permanent, for the dead-letter path', () => {
    const e = violation(() => roundTrip(posting({ amountMinor: -1n })));
    expect(e.permanent).toBe(true);
    expect(decodeError(() => codec.decode(new Uint8Array([1]), {})).permanent).toBe(true);
  });
});

describe('ledgerCodec: validation at the door', () => {
  /** Replaces the first occurrence of `marker`'s UTF-8 bytes in an encoded posting by `bytes` (same length). */
  function patched(p: LedgerPosting, marker: string, bytes: number[]) {
    const { bytes: enc, headers } = codec.encode(p);
    const buf = Buffer.from(enc);
    const at = buf.indexOf(Buffer.from(marker, 'utf8'));
    expect(at).toBeGreaterThan(0);
    Buffer.from(bytes).copy(buf, at);
    return () => codec.decode(buf, headers);
  }

  /**
   * Encodes with every long (timestamps too) as an exact bigint: avsc's own long, used by the
   * codec's encode for timestamps, zig-zags through a double and is only exact below 2^52.
   */
  function exactBytes(p: LedgerPosting, times: { bookingTime?: bigint; valueTime?: bigint }) {
    const schema = JSON.parse(readFileSync(new URL('../../config/schemas/ledger-posting.v2.avsc', import.meta.url), 'utf8')) as { fields: { name: string; type: unknown }[] };
    for (const f of schema.fields) if (f.name === 'bookingTime' || f.name === 'valueTime') f.type = 'long';
    const long = avro.types.LongType.__with({
      fromBuffer: (b: Buffer) => b.readBigInt64LE(),
      toBuffer: (n: bigint) => {
        const b = Buffer.alloc(8);
        b.writeBigInt64LE(n);
        return b;
      },
      fromJSON: BigInt,
      toJSON: String,
      isValid: (n: unknown) => typeof n === 'bigint',
      compare: () => 0,
    });
    const type = avro.Type.forSchema(schema as avro.Schema, { registry: { long } });
    const bytes = type.toBuffer({
      ...p,
      direction: p.direction.toUpperCase(),
      status: p.status.toUpperCase(),
      txType: p.txType.toUpperCase(),
      channel: 'core',
      bookingTime: times.bookingTime ?? BigInt(p.bookingTime),
      valueTime: times.valueTime ?? BigInt(p.valueTime),
    });
    return () => codec.decode(bytes, { [SCHEMA_HEADER]: 'ledger-posting/2' });
  }

  it('dead-letters a bookingTime of ±8.64e15 and beyond naming bookingTime, never throwing a RangeError', () => {
    // Timestamps are read as exact int64 (avsc's own long read -8640000000000001 as +8640000000000000).
    for (const t of [8_640_000_000_000_000n, 8_640_000_000_000_001n, 9_007_199_254_740_990n, -8_640_000_000_000_000n, -8_640_000_000_000_001n, -9_007_199_254_740_990n]) {
      const e = violation(exactBytes(posting(), { bookingTime: t }));
      expect(e.shortMessage).toMatch(/^Posting E-1001: bookingTime -?\d+ \(/);
      expect(e.permanent).toBe(true);
    }
    expect(violation(exactBytes(posting(), { bookingTime: 8_640_000_000_000_000n })).shortMessage).toMatch(
      /bookingTime 8640000000000000 \(\+275760-09-13T00:00:00.000Z\) is more than a day after now/,
    );
    expect(violation(exactBytes(posting(), { bookingTime: 8_640_000_000_000_001n })).shortMessage).toMatch(/\(not a representable date\) is more than a day after now/);
    expect(violation(exactBytes(posting(), { valueTime: -8_640_000_000_000_001n })).shortMessage).toMatch(/valueTime -8640000000000001 \(not a representable date\) is before 2000-01-01/);
    expect(violation(exactBytes(posting(), { bookingTime: -8_640_000_000_000_000n })).shortMessage).toMatch(/bookingTime -8640000000000000 \(-271821-04-20T00:00:00.000Z\) is before 2000-01-01/);
    expect(violation(exactBytes(posting(), { bookingTime: 2n ** 62n })).shortMessage).toMatch(/bookingTime 4611686018427387904 \(not a representable date\)/);
    expect(violation(exactBytes(posting(), { valueTime: -(2n ** 63n) })).shortMessage).toMatch(/valueTime -9223372036854775808 \(not a representable date\)/);
    // The codec's own encode writes the same exact longs.
    expect(violation(() => roundTrip(posting({ valueTime: -8.64e15 - 1 }))).shortMessage).toMatch(/valueTime -8640000000000001 \(not a representable date\) is before 2000-01-01/);
  });

  it('accepts a bookingTime exactly at 2000-01-01 and refuses one millisecond earlier', () => {
    expect(roundTrip(posting({ bookingTime: Date.UTC(2000, 0, 1) })).bookingTime).toBe(Date.UTC(2000, 0, 1));
    expect(violation(() => roundTrip(posting({ bookingTime: Date.UTC(2000, 0, 1) - 1 }))).shortMessage).toMatch(/bookingTime/);
  });

  it('dead-letters a 10,000-character entryId with a short reason naming entryId', () => {
    const e = violation(() => roundTrip(posting({ entryId: 'E'.repeat(10_000) })));
    expect(e.shortMessage).toMatch(/entryId is 10000 characters long; at most 128 are allowed/);
    expect(e.message.length).toBeLessThan(500);
  });

  it('accepts identifiers of exactly 128 characters and refuses 129, field by field', () => {
    for (const field of ['entryId', 'accountId', 'endToEndId', 'tokenizationRef'] as const) {
      expect(roundTrip(posting({ [field]: 'x'.repeat(128) }))[field]).toBe('x'.repeat(128));
      expect(violation(() => roundTrip(posting({ [field]: 'x'.repeat(129) }))).shortMessage).toMatch(new RegExp(`: ${field} is 129 characters long`));
    }
  });

  it('dead-letters control characters in identifiers and in the remittance, naming the field', () => {
    expect(violation(() => roundTrip(posting({ accountId: 'ACC\u0007' }))).shortMessage).toMatch(/accountId contains U\+0007 at index 3/);
    expect(violation(() => roundTrip(posting({ endToEndId: 'E2E\tX' }))).shortMessage).toMatch(/endToEndId contains U\+0009/);
    expect(violation(() => roundTrip(posting({ tokenizationRef: 'TOK\u200b' }))).shortMessage).toMatch(/tokenizationRef contains U\+200B/);
    expect(violation(() => roundTrip(posting({ entryId: ' E-1' }))).shortMessage).toMatch(/entryId starts or ends with a space/);
    expect(violation(() => roundTrip(posting({ remittance: 'line 1\nline 2' }))).shortMessage).toMatch(/remittance contains control character U\+000A at index 6/);
    expect(roundTrip(posting({ remittance: 'Rechnung 17 — Müller, 東京 ✓' })).remittance).toBe('Rechnung 17 — Müller, 東京 ✓');
  });

  it('accepts a remittance of 1,024 characters and refuses 1,025', () => {
    expect(roundTrip(posting({ remittance: 'r'.repeat(1_024) })).remittance).toHaveLength(1_024);
    expect(violation(() => roundTrip(posting({ remittance: 'r'.repeat(1_025) }))).shortMessage).toMatch(/remittance is 1025 characters long/);
  });

  it('dead-letters a string whose bytes are not UTF-8 (a lone surrogate as WTF-8) naming the field, instead of reading U+FFFD', () => {
    const e = decodeError(patched(posting({ remittance: 'ab@@@cd' }), '@@@', [0xed, 0xa0, 0x80]));
    expect(e.shortMessage).toMatch(/remittance is not valid UTF-8 \(7 bytes, 6162eda08063 ?64\)/);
    expect(decodeError(patched(posting({ entryId: 'E-@@' }), 'E-@@', [0x45, 0x2d, 0xff, 0x41])).shortMessage).toMatch(/entryId is not valid UTF-8/);
    // A real U+FFFD (valid UTF-8 EF BF BD) is text like any other.
    expect(roundTrip(posting({ remittance: 'a\uFFFDb' })).remittance).toBe('a\uFFFDb');
  });

  it('bounds amounts: 10^15 minor units by default, per currency when configured', () => {
    expect(roundTrip(posting({ amountMinor: 10n ** 15n })).amountMinor).toBe(10n ** 15n);
    expect(violation(() => roundTrip(posting({ amountMinor: 10n ** 15n + 1n }))).shortMessage).toMatch(
      /amount is 1000000000000001 minor units, above the plausibility bound of 1000000000000000 for USD/,
    );
    const tight = createLedgerCodec({ now: () => NOW, amountLimits: amountLimitsOf({ default: 10n ** 12n, JPY: 500n }) });
    const trip = (p: LedgerPosting) => {
      const { bytes, headers } = tight.encode(p);
      return tight.decode(bytes, headers);
    };
    expect(trip(posting({ currency: 'JPY', amountMinor: 500n })).amountMinor).toBe(500n);
    expect(violation(() => trip(posting({ currency: 'JPY', amountMinor: 501n }))).shortMessage).toMatch(/above the plausibility bound of 500 for JPY/);
    expect(trip(posting({ amountMinor: 10n ** 12n })).amountMinor).toBe(10n ** 12n);
    expect(violation(() => trip(posting({ amountMinor: 10n ** 12n + 1n }))).shortMessage).toMatch(/for USD/);
  });

  it('shows a long unknown currency as a preview, not in full', () => {
    const e = violation(() => roundTrip(posting({ currency: 'Q'.repeat(5_000) })));
    expect(e.shortMessage).toMatch(/currency "Q{40}"… is not an ISO 4217 code/);
    expect(e.message.length).toBeLessThan(500);
  });
});
