import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { DecodeError, SchemaViolation } from '../../src/lib/errors.js';
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
      expect(createLedgerCodec().latestVersion).toBe(2);
    } finally {
      process.chdir(cwd);
    }
  });

  it('writes the version in the Recon-Schema header', () => {
    expect(SCHEMA_HEADER).toBe('Recon-Schema');
    expect(codec.encode(posting()).headers).toEqual({ 'Recon-Schema': 'ledger-posting/2' });
    expect(codec.encode(posting({ tokenizationRef: null }), 1).headers).toEqual({ 'Recon-Schema': 'ledger-posting/1' });
  });

  it('round-trips a v2 posting into the domain LedgerEntry with lower-case enums, exponent and schemaVersion', () => {
    expect(roundTrip(posting())).toEqual({
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

  it('round-trips an amount of 2^63-1 minor units exactly', () => {
    const max = 2n ** 63n - 1n;
    expect(roundTrip(posting({ amountMinor: max })).amountMinor).toBe(max);
    expect(roundTrip(posting({ amountMinor: max, tokenizationRef: null }), 1).amountMinor).toBe(max);
    expect(roundTrip(posting({ amountMinor: 2n ** 53n + 1n })).amountMinor).toBe(2n ** 53n + 1n);
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
    const { bytes, headers } = codec.encode(posting());
    const natsLike = { get: (name: string) => (name === SCHEMA_HEADER ? headers[SCHEMA_HEADER] : '') };
    expect(codec.decode(bytes, natsLike).schemaVersion).toBe(2);
    expect(() => codec.decode(bytes, { get: () => '' })).toThrow(DecodeError);
  });

  it('reads the header case-insensitively from a plain record', () => {
    const { bytes } = codec.encode(posting());
    expect(codec.decode(bytes, { 'recon-schema': 'ledger-posting/2' }).schemaVersion).toBe(2);
  });

  it('refuses to encode a tokenizationRef into v1, which has no such field', () => {
    expect(() => codec.encode(posting(), 1)).toThrow(/tokenizationRef does not exist in ledger-posting\/1/);
  });
});

describe('ledgerCodec: DecodeError', () => {
  const { bytes } = codec.encode(posting());

  it('DecodeError when the Recon-Schema header is missing', () => {
    expect(decodeError(() => codec.decode(bytes, {})).shortMessage).toMatch(/no Recon-Schema header/);
  });

  it('DecodeError when the header names an unknown version', () => {
    const e = decodeError(() => codec.decode(bytes, { [SCHEMA_HEADER]: 'ledger-posting/9' }));
    expect(e.shortMessage).toMatch(/ledger-posting\/9, which this engine does not know \(known: ledger-posting\/1, ledger-posting\/2\)/);
  });

  it('DecodeError when the header is not ledger-posting/<version>', () => {
    expect(decodeError(() => codec.decode(bytes, { [SCHEMA_HEADER]: 'payments/2' })).shortMessage).toMatch(
      /expected 'ledger-posting\/<version>'/,
    );
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
    expect(violation(() => roundTrip(posting({ bookingTime: NOW + DAY + 1 }))).shortMessage).toMatch(
      /bookingTime .* is more than a day after now/,
    );
  });

  it('SchemaViolation for a valueTime more than a day after now (e.g. microseconds)', () => {
    violation(() => roundTrip(posting({ valueTime: NOW * 1000 })));
  });

  it('accepts a timestamp exactly a day after now', () => {
    expect(roundTrip(posting({ valueTime: NOW + DAY })).valueTime).toBe(NOW + DAY);
  });

  it('SchemaViolation for a DEPOSIT that is a DEBIT', () => {
    expect(violation(() => roundTrip(posting({ txType: 'deposit', direction: 'debit' }))).shortMessage).toMatch(
      /a DEPOSIT must be a CREDIT/,
    );
  });

  it('SchemaViolation for a WITHDRAWAL that is a CREDIT', () => {
    expect(violation(() => roundTrip(posting({ txType: 'withdrawal', direction: 'credit' }))).shortMessage).toMatch(
      /a WITHDRAWAL must be a DEBIT/,
    );
  });

  it('marks decode and business failures permanent, for the dead-letter path', () => {
    const e = violation(() => roundTrip(posting({ amountMinor: -1n })));
    expect(e.permanent).toBe(true);
    expect(decodeError(() => codec.decode(new Uint8Array([1]), {})).permanent).toBe(true);
  });
});
