import fc from 'fast-check';
import { bytesToHex, hexToBytes, stringToHex, type Hex } from 'viem';
import { describe, expect, it } from 'vitest';
import { identifierProblem } from '../../src/domain/inputBounds.js';
import { referenceOf } from '../../src/streams/chain/eventMappings.js';
import { decodeReference, encodeReference } from '../../src/streams/chain/tokenTransferEvent.js';

const pad32 = (bytes: Uint8Array): Hex => bytesToHex(bytes, { size: 32 });
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** What the contract says a non-zero bytes32 whose content (before the zero padding) is `body` decodes to. */
function expected(body: Uint8Array): string {
  if (!body.includes(0)) {
    try {
      const text = utf8.decode(body);
      if (identifierProblem(text) === undefined) return text;
    } catch {
      // not UTF-8: opaque
    }
  }
  return pad32(body);
}

/** The inverse the contract promises: a decoded reference gives back its bytes32. */
function reencode(ref: string): Hex {
  return /^0x[0-9a-f]{64}$/.test(ref) ? (ref as Hex) : encodeReference(ref);
}

describe('bytes32 references: exact decoding', () => {
  it('decodes texts ending in a byte whose low nibble is 0 (INV-2020, R10, P, @) to exactly that text', () => {
    for (const text of ['INV-2020', 'R10', 'P', '@', '`', 'p', '0', 'A0', 'INV-2020-0000', 'DEP-0001', 'AUDIT-2025-Q1']) {
      expect(decodeReference(stringToHex(text, { size: 32 }))).toBe(text);
    }
  });

  it('decodes every trailing byte 0x01..0xff at every length 1..32 as the contract says (exhaustive, ASCII prefix)', () => {
    let texts = 0;
    let opaque = 0;
    for (let n = 1; n <= 32; n++) {
      for (let t = 1; t <= 0xff; t++) {
        const body = new Uint8Array(n).fill(0x41);
        body[n - 1] = t;
        const got = decodeReference(pad32(body));
        expect(got).toBe(expected(body));
        // Printable ASCII but the space always ends a text; anything else is opaque hex.
        if (t >= 0x21 && t <= 0x7e) {
          expect(got).toBe(`${'A'.repeat(n - 1)}${String.fromCharCode(t)}`);
          texts++;
        } else {
          expect(got).toBe(pad32(body));
          opaque++;
        }
      }
    }
    expect({ texts, opaque }).toEqual({ texts: 32 * 94, opaque: 32 * 161 });
  });

  it('property: any body of 1..32 bytes ending in any byte 0x01..0xff decodes as the contract says, and re-encodes to the same bytes32', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 32 }), fc.integer({ min: 1, max: 0xff }), fc.uint8Array({ maxLength: 31 }), (n, last, prefix) => {
        const body = new Uint8Array(n);
        body.set(prefix.subarray(0, n - 1));
        body[n - 1] = last;
        const hex = pad32(body);
        const got = decodeReference(hex);
        expect(got).toBe(expected(body));
        expect(reencode(got!)).toBe(hex);
      }),
      { numRuns: 20_000 },
    );
  });

  it('property: every identifier text of 1..32 UTF-8 bytes round-trips through encodeReference, whatever its last character', () => {
    const char = fc.oneof(
      fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }),
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }),
      fc.constantFrom('0', 'P', '@', 'p', '`', 'é', '€', '😀', 'ß', 'Ā', 'ـ'),
    );
    fc.assert(
      fc.property(fc.array(char, { minLength: 1, maxLength: 32 }), (chars) => {
        let text = chars.join('');
        while (new TextEncoder().encode(text).length > 32) text = text.slice(0, -1);
        fc.pre(text.length > 0 && identifierProblem(text) === undefined);
        const hex = encodeReference(text);
        expect(hex).toBe(stringToHex(text, { size: 32 }));
        expect(decodeReference(hex)).toBe(text);
      }),
      { numRuns: 10_000 },
    );
  });

  it('reads text ending in every valid multi-byte last byte (0x80..0xbf continuation bytes) exactly', () => {
    for (let t = 0x80; t <= 0xbf; t++) {
      for (const lead of [[0xc3], [0xe2, 0x82], [0xf0, 0x9f, 0x98]]) {
        const body = Uint8Array.from([0x52, ...lead, t]);
        const got = decodeReference(pad32(body));
        expect(got).toBe(expected(body));
        if (got!.startsWith('R')) expect(new TextEncoder().encode(got!)).toEqual(body);
      }
    }
    expect(decodeReference(stringToHex('café', { size: 32 }))).toBe('café');
    expect(decodeReference(stringToHex('100€', { size: 32 }))).toBe('100€');
  });

  it('gives null for 32 zero bytes, and the canonical lower-case hex for opaque values', () => {
    expect(decodeReference(`0x${'0'.repeat(64)}`)).toBeNull();
    const hash = `0x${'AB'.repeat(32)}` as Hex;
    expect(decodeReference(hash)).toBe(hash.toLowerCase());
    // A zero byte inside, a leading zero byte, a trailing space, a control character: opaque.
    for (const body of [[0x41, 0x00, 0x42], [0x00, 0x41], [0x41, 0x20], [0x41, 0x07], [0xff]]) {
      expect(decodeReference(pad32(Uint8Array.from(body)))).toBe(pad32(Uint8Array.from(body)));
    }
  });

  it('a text of exactly 32 bytes round-trips; encodeReference refuses 33 bytes and non-identifiers', () => {
    expect(decodeReference(encodeReference('x'.repeat(32)))).toBe('x'.repeat(32));
    expect(decodeReference(encodeReference(`${'€'.repeat(10)}xx`))).toBe(`${'€'.repeat(10)}xx`);
    expect(() => encodeReference('x'.repeat(33))).toThrow(/33 bytes in UTF-8/);
    expect(() => encodeReference('A\u0000')).toThrow(/reference contains U\+0000/);
    expect(() => encodeReference('')).toThrow(/reference is empty/);
  });

  it('refuses what is not whole bytes of hex', () => {
    expect(() => decodeReference('0x123' as Hex)).toThrow(RangeError);
    expect(() => decodeReference('INV' as Hex)).toThrow(RangeError);
  });

  it('decodes the bytes of shorter and dynamic bytes types the same way', () => {
    expect(decodeReference(stringToHex('R10', { size: 8 }))).toBe('R10');
    expect(decodeReference('0x5231305a' as Hex)).toBe('R10Z');
    expect(decodeReference('0x' as Hex)).toBeNull();
    expect(hexToBytes(decodeReference('0x00ff' as Hex) as Hex)).toEqual(Uint8Array.from([0, 255]));
  });
});

describe('referenceOf: reads a reference by its ABI type, never by its shape', () => {
  it('bytes types through decodeReference; strings as they are, even when they look like hex', () => {
    const hex = stringToHex('INV-2020', { size: 32 });
    expect(referenceOf(hex, 'bytes32')).toBe('INV-2020');
    expect(referenceOf(hex, 'string')).toBe(hex);
    expect(referenceOf(stringToHex('R10', { size: 4 }), 'bytes4')).toBe('R10');
    expect(referenceOf(`0x${'0'.repeat(64)}`, 'bytes32')).toBeNull();
    expect(referenceOf('', 'string')).toBeNull();
  });

  it('integers in decimal, zero as none', () => {
    expect(referenceOf(2020n, 'uint256')).toBe('2020');
    expect(referenceOf(0n, 'uint256')).toBeNull();
    expect(referenceOf(10, 'uint8')).toBe('10');
    expect(referenceOf(0, 'uint8')).toBeNull();
    expect(referenceOf(undefined, undefined)).toBeNull();
  });
});
