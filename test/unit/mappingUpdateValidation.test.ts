import { describe, expect, it } from 'vitest';
import { SchemaViolation } from '../../src/lib/errors.js';
import { MAX_ACCOUNT_ID_LENGTH, parseMappingUpdate } from '../../src/streams/mappingUpdates.js';
import { identityChangeFacts } from '../../src/domain/identityChangeFacts.js';
import { factKey } from '../../src/domain/facts.js';

const W = '0x52908400098527886e0f7030069857d2e4169ee7';
const bytes = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
const reasonOf = (data: Uint8Array): string => {
  try {
    parseMappingUpdate(data);
  } catch (e) {
    expect(e).toBeInstanceOf(SchemaViolation);
    return (e as Error).message;
  }
  throw new Error('accepted');
};

describe('mapping update validation at the door', () => {
  it('accepts an account id with letters, digits and . _ : / -, and lower, upper or checksummed wallets', () => {
    const u = parseMappingUpdate(bytes({ accountId: 'DE89370400440532013000/eur:main-1_a.b', wallets: [W, W.toUpperCase().replace('0X', '0x'), '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed'] }));
    expect(u.wallets).toHaveLength(3);
    expect(parseMappingUpdate(bytes({ accountId: 'Zürich-Konto-7', wallets: [] })).accountId).toBe('Zürich-Konto-7');
  });

  // The same identifier rule as postings (src/domain/inputBounds.ts): an account a posting can name can be mapped.
  it.each([
    ['', /^accountId: is empty/],
    ['A'.repeat(MAX_ACCOUNT_ID_LENGTH + 1), new RegExp(`^accountId: is ${MAX_ACCOUNT_ID_LENGTH + 1} characters long`)],
    ['ACC\u0000-1', /^accountId: contains U\+0000 at index 3/],
    ['ACC\n1', /^accountId: contains U\+000A at index 3/],
    ['ACC-\u202E1', /^accountId: contains U\+202E at index 4/],
    ['ACC\u200B1', /^accountId: contains U\+200B at index 3/],
    ['ACC-\uD800', /^accountId: is not well-formed Unicode: lone surrogate U\+D800/],
    [' ACC-1', /^accountId: starts or ends with a space/],
  ])('dead-letters account id %j with a reason naming the field', (accountId, reason) => {
    expect(reasonOf(bytes({ accountId, wallets: [] }))).toMatch(reason);
  });

  it('names the wallet at fault by its index: not an address, bad checksum, not a string', () => {
    expect(reasonOf(bytes({ accountId: 'A', wallets: [W, 'not-an-address'] }))).toBe('wallets[1]: must be a 0x-prefixed 20-byte hex address');
    // A mixed-case address whose checksum does not hold: one letter's case flipped.
    expect(reasonOf(bytes({ accountId: 'A', wallets: ['0x52908400098527886E0F7030069857D2E4169Ee7'] }))).toBe('wallets[0]: fails its EIP-55 checksum (mixed case)');
    expect(reasonOf(bytes({ accountId: 'A', wallets: [42] }))).toMatch(/^wallets\[0\]: /);
  });

  it('bounds the number of wallets and names missing fields and bad payloads', () => {
    expect(reasonOf(bytes({ accountId: 'A', wallets: Array(1_001).fill(W) }))).toMatch(/^wallets: /);
    expect(reasonOf(bytes({ wallets: [] }))).toMatch(/^accountId: /);
    expect(reasonOf(bytes('{not json'))).toMatch(/^payload: not UTF-8 JSON/);
    expect(reasonOf(new Uint8Array([0x7b, 0xff, 0x7d]))).toMatch(/^payload: not UTF-8 JSON/);
    expect(reasonOf(bytes('[]'))).toMatch(/^payload: /);
  });

  it('accepts an optional peer segment and names a malformed one', () => {
    expect(parseMappingUpdate(bytes({ accountId: 'ACC-1', wallets: [W], segment: 'sme' })).segment).toBe('sme');
    expect(parseMappingUpdate(bytes({ accountId: 'ACC-1', wallets: [W] })).segment).toBeUndefined();
    expect(reasonOf(bytes({ accountId: 'ACC-1', wallets: [], segment: 'Retail' }))).toMatch(/^segment: must be lower-case/);
    expect(reasonOf(bytes({ accountId: 'ACC-1', wallets: [], segment: 'x'.repeat(65) }))).toMatch(/^segment: /);
    expect(reasonOf(bytes({ accountId: 'ACC-1', wallets: [], segment: 7 }))).toMatch(/^segment: /);
  });

  it('accepts inner spaces and punctuation, as postings do', () => {
    expect(parseMappingUpdate(bytes({ accountId: 'ACC 1;x', wallets: [] })).accountId).toBe('ACC 1;x');
  });
});

describe('identity_changes facts', () => {
  it('derive their id from the mapping stream seq and the wallet, so replays yield the same facts', () => {
    const changes = [
      { kind: 'moved' as const, wallet: W, from: 'A', to: 'B' },
      { kind: 'unlinked' as const, wallet: '0x01', from: 'B', to: null },
    ];
    const first = identityChangeFacts(changes, { seq: 7, publishedAt: 1_000 }, 5_000);
    const replay = identityChangeFacts(changes, { seq: 7, publishedAt: 1_000 }, 9_000);
    expect(first.map(factKey)).toEqual([`identity_changes:7:${W}`, 'identity_changes:7:0x01']);
    expect(replay.map(factKey)).toEqual(first.map(factKey));
    expect(first[1]!.row).toMatchObject({ kind: 'unlinked', from_account: 'B', to_account: '', mapping_seq: 7, effective_at: 1_000 });
  });
});
