/**
 * Hostile input for the fuzz drill: messages a broken or hostile producer could send on every input
 * the daemon reads (ledger Avro, chain events, identity mapping updates), generated with fast-check
 * so each run tries other values. Each message says which class it belongs to and what the engine
 * must make of it: a dead letter whose reason names the field, or (a known id re-used with other
 * content) a DUPLICATE discrepancy.
 */
import fc from 'fast-check';
import { encodeChainEventBatch } from '../../src/streams/chain/chainEventCodec.js';
import { createLedgerCodec, SCHEMA_HEADER, type LedgerPosting } from '../../src/streams/ledgerCodec.js';
import { accountId, DRILL_CHAIN_ID, DRILL_TOKEN, wallet, type TrafficTarget } from './drillTraffic.js';
import type { ChainEvent } from '../../src/domain/types.js';
import { ledgerEntryFingerprint } from '../../src/domain/entryFingerprint.js';
import { chainSubject } from '../../src/streams/chain/chainSubjects.js';

export type HostileClass =
  | 'ledger:not-avro'
  | 'ledger:unknown-schema'
  | 'ledger:absurd-time'
  | 'ledger:huge-amount'
  | 'ledger:invalid-utf8'
  | 'ledger:long-id'
  | 'ledger:control-chars'
  | 'ledger:bad-currency'
  | 'ledger:duplicate-content'
  | 'chain:not-json'
  | 'chain:bad-address'
  | 'chain:value-overflow'
  | 'chain:lone-surrogate'
  | 'chain:absurd-time'
  | 'chain:long-reference'
  | 'mapping:bad-wallet'
  | 'mapping:long-account'
  | 'mapping:control-chars';

export interface HostileMessage {
  cls: HostileClass;
  source: 'ledger' | 'chain' | 'mapping';
  subject: string;
  data: Uint8Array;
  headers?: Record<string, string>;
  msgID: string;
  /** A word the dead letter's reason must contain (the field it names, or what was wrong). */
  reasonMentions: RegExp;
}

export interface HostileTarget extends TrafficTarget {
  mappingSubject: string;
}

const codec = createLedgerCodec();
const text = new TextEncoder();

/** A valid posting (never published) that a hostile variant starts from. */
function basePosting(n: number, tag: string, now: number): LedgerPosting {
  return {
    entryId: `${tag}-H-${n}`,
    accountId: accountId(n % 7),
    direction: 'credit',
    amountMinor: 1_234n,
    currency: 'USD',
    bookingTime: now,
    valueTime: now,
    status: 'booked',
    txType: 'deposit',
    endToEndId: null,
    remittance: 'XYZ',
    tokenizationRef: null,
  };
}

function baseEvent(n: number, tag: string, now: number): ChainEvent {
  const blockHash = `0x${'ee'.repeat(4)}${n.toString(16).padStart(48, '0')}${[...tag]
    .reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7)
    .toString(16)
    .padStart(8, '0')}`;
  return {
    eventId: `${DRILL_CHAIN_ID}:${blockHash}:0`,
    chainId: DRILL_CHAIN_ID,
    token: DRILL_TOKEN,
    blockNumber: 9_000_000n + BigInt(n),
    blockHash,
    blockTime: now,
    txHash: blockHash,
    logIndex: 0,
    kind: 'mint',
    from: '0x0000000000000000000000000000000000000000',
    to: wallet(n % 7),
    value: 10n ** 18n,
    decimals: 18,
    reference: null,
  };
}

/** The JSON of an `.events` message of one event, with `edit` applied to its single event object. */
function chainJson(ev: ChainEvent, edit: (batch: Record<string, unknown>, event: Record<string, unknown>) => void): Uint8Array {
  const batch = JSON.parse(new TextDecoder().decode(encodeChainEventBatch([ev]))) as Record<string, unknown>;
  edit(batch, (batch.events as Record<string, unknown>[])[0]!);
  return text.encode(JSON.stringify(batch));
}

/** Avro bytes of a posting whose remittance 'XYZ' is replaced by bytes that are not UTF-8. */
function withInvalidUtf8(p: LedgerPosting, bad: readonly number[]): { bytes: Uint8Array; headers: Record<string, string> } {
  const { bytes, headers } = codec.encode({ ...p, remittance: 'X'.repeat(bad.length) });
  const b = Buffer.from(bytes);
  const at = b.indexOf(Buffer.from('X'.repeat(bad.length)));
  Buffer.from(bad).copy(b, at);
  return { bytes: new Uint8Array(b), headers };
}

/** Avro's zig-zag varint of a long. */
function avroLong(n: bigint): Buffer {
  let z = n >= 0n ? n << 1n : (-n << 1n) - 1n;
  const out: number[] = [];
  do {
    let b = Number(z & 0x7fn);
    z >>= 7n;
    if (z > 0n) b |= 0x80;
    out.push(b);
  } while (z > 0n);
  return Buffer.from(out);
}

/**
 * Avro bytes of a posting whose `field` (a timestamp) holds `value`: avsc refuses to write a long
 * beyond 2^53 from a number, but a producer in another language can, so the varint is spliced in.
 */
function withTime(p: LedgerPosting, field: 'bookingTime' | 'valueTime', value: bigint): { bytes: Uint8Array; headers: Record<string, string> } {
  const marker = 1_111_111_111_111;
  const other = field === 'bookingTime' ? 'valueTime' : 'bookingTime';
  const { bytes, headers } = codec.encode({ ...p, [field]: marker, [other]: p.bookingTime });
  const b = Buffer.from(bytes);
  const m = avroLong(BigInt(marker));
  const at = b.indexOf(m);
  return { bytes: new Uint8Array(Buffer.concat([b.subarray(0, at), avroLong(value), b.subarray(at + m.length)])), headers };
}

const CONTROL = fc.constantFrom('\u0000', '\u0007', '\u001b', '\n', '\r', '\u007f', '\u202e');
const INVALID_UTF8 = fc.constantFrom([0xed, 0xa0, 0x80], [0xc3, 0x28, 0x41], [0xff, 0xfe, 0x41], [0xf8, 0x88, 0x80]);

/** One hostile message of class `cls`, number `n` of the run (ids unique per tag and n). */
export function hostileArbitrary(t: HostileTarget, tag: string, now: number): fc.Arbitrary<(n: number) => HostileMessage> {
  const ledger =
    (cls: HostileClass, reason: RegExp, make: (p: LedgerPosting) => { bytes: Uint8Array; headers: Record<string, string> }) =>
    (n: number): HostileMessage => {
      const { bytes, headers } = make(basePosting(n, tag, now));
      return { cls, source: 'ledger', subject: t.ledgerSubject, data: bytes, headers, msgID: `${tag}-hostile-${n}`, reasonMentions: reason };
    };
  const chain =
    (cls: HostileClass, reason: RegExp, data: (ev: ChainEvent) => Uint8Array) =>
    (n: number): HostileMessage => ({
      cls,
      source: 'chain',
      subject: chainSubject(t.chainSubjectPrefix, DRILL_CHAIN_ID, 'events'),
      data: data(baseEvent(n, tag, now)),
      msgID: `${tag}-hostile-${n}`,
      reasonMentions: reason,
    });
  const mapping =
    (cls: HostileClass, reason: RegExp, body: (n: number) => unknown) =>
    (n: number): HostileMessage => ({
      cls,
      source: 'mapping',
      subject: t.mappingSubject,
      data: text.encode(JSON.stringify(body(n))),
      msgID: `${tag}-hostile-${n}`,
      reasonMentions: reason,
    });

  return fc.oneof(
    fc
      .uint8Array({ minLength: 0, maxLength: 64 })
      .map((junk) => ledger('ledger:not-avro', /avro|record|truncated|trailing|decode/i, () => ({ bytes: junk, headers: { [SCHEMA_HEADER]: 'ledger-posting/2' } }))),
    fc
      .oneof(fc.constant(''), fc.constant('ledger-posting/99'), fc.string({ maxLength: 20 }))
      .map((h) => ledger('ledger:unknown-schema', /schema|header/i, (p) => ({ bytes: codec.encode(p).bytes, headers: { [SCHEMA_HEADER]: h === '' ? 'x' : `${h}?` } }))),
    fc
      .oneof(
        fc.constant(8_640_000_000_000_001n),
        fc.constant(2n ** 63n - 1n),
        fc.bigInt({ min: 8_640_000_000_000_001n, max: 2n ** 63n - 1n }),
        fc.constant(-(2n ** 63n)),
        fc.bigInt({ min: -(2n ** 63n), max: 946_684_799_999n }),
      )
      .chain((bad) => fc.constantFrom('bookingTime' as const, 'valueTime' as const).map((field) => ledger('ledger:absurd-time', new RegExp(field), (p) => withTime(p, field, bad)))),
    fc.bigInt({ min: 10n ** 16n, max: 2n ** 63n - 1n }).map((amount) => ledger('ledger:huge-amount', /amount/i, (p) => codec.encode({ ...p, amountMinor: amount }))),
    INVALID_UTF8.map((bad) => ledger('ledger:invalid-utf8', /remittance|utf-?8|unicode/i, (p) => withInvalidUtf8(p, bad))),
    fc.integer({ min: 300, max: 10_000 }).map((len) => ledger('ledger:long-id', /entryId/, (p) => codec.encode({ ...p, entryId: `${p.entryId}-${'x'.repeat(len)}` }))),
    fc
      .tuple(CONTROL, fc.constantFrom('accountId', 'entryId', 'endToEndId'))
      .map(([c, field]) => ledger('ledger:control-chars', new RegExp(field), (p) => codec.encode({ ...p, [field]: `${(p as unknown as Record<string, string>)[field] ?? 'E2E'}${c}1` }))),
    fc
      .stringMatching(/^[A-Z]{3}$/)
      .filter((c) => !['USD', 'EUR', 'GBP', 'CHF', 'JPY', 'SGD', 'HKD', 'AUD', 'CAD'].includes(c) && c.startsWith('Q'))
      .map((cur) => ledger('ledger:bad-currency', /currency/i, (p) => codec.encode({ ...p, currency: cur }))),
    fc.uint8Array({ minLength: 1, maxLength: 64 }).map((junk) => chain('chain:not-json', /JSON|UTF-8/i, () => junk)),
    fc.constantFrom('from', 'to', 'token').map((field) =>
      chain('chain:bad-address', new RegExp(field), (ev) =>
        chainJson(ev, (_b, e) => {
          e[field] = '0xZZ';
        }),
      ),
    ),
    fc.bigInt({ min: 2n ** 256n, max: 2n ** 300n }).map((v) =>
      chain('chain:value-overflow', /value/, (ev) =>
        chainJson(ev, (_b, e) => {
          e.value = v.toString();
        }),
      ),
    ),
    // JSON.stringify escapes a lone surrogate as \\udXXX: well-formed JSON that parses back to it.
    fc.constantFrom('\ud800', '\udfff', 'ref\ud83d').map((s) =>
      chain('chain:lone-surrogate', /reference|unicode|surrogate/i, (ev) =>
        chainJson(ev, (_b, e) => {
          e.reference = s;
        }),
      ),
    ),
    fc.constantFrom(8.64e15 + 1, Number.MAX_SAFE_INTEGER).map((t0) =>
      chain('chain:absurd-time', /blockTime/, (ev) =>
        chainJson(ev, (b) => {
          b.blockTime = t0;
        }),
      ),
    ),
    fc.integer({ min: 300, max: 10_000 }).map((len) =>
      chain('chain:long-reference', /reference/, (ev) =>
        chainJson(ev, (_b, e) => {
          e.reference = 'R'.repeat(len);
        }),
      ),
    ),
    fc.string({ minLength: 1, maxLength: 30 }).map((w) => mapping('mapping:bad-wallet', /wallets/, (n) => ({ accountId: `${tag}-MAP-${n}`, wallets: [`0x${w}`] }))),
    fc.integer({ min: 300, max: 10_000 }).map((len) => mapping('mapping:long-account', /accountId/, () => ({ accountId: 'A'.repeat(len), wallets: [] }))),
    CONTROL.map((c) => mapping('mapping:control-chars', /accountId/, (n) => ({ accountId: `${tag}-MAP-${n}${c}`, wallets: [] }))),
  );
}

/**
 * A fee posting and a copy under the same entry id with other content (amount, account or type):
 * the engine keeps the first and opens exactly one DUPLICATE naming the copy's fingerprint.
 */
export function duplicateArbitrary(t: HostileTarget, tag: string, now: number): fc.Arbitrary<(n: number) => { original: HostileMessage; copy: HostileMessage; discrepancyId: string }> {
  return fc.tuple(fc.bigInt({ min: 1n, max: 10n ** 12n }), fc.constantFrom('amount', 'account', 'txType')).map(([delta, what]) => (n: number) => {
    const original: LedgerPosting = {
      entryId: `${tag}-DUP-${n}`,
      accountId: accountId(n % 7),
      direction: 'debit',
      amountMinor: 250n,
      currency: 'USD',
      bookingTime: now,
      valueTime: now,
      status: 'booked',
      txType: 'fee',
      endToEndId: null,
      remittance: null,
      tokenizationRef: null,
    };
    const changed: LedgerPosting =
      what === 'amount' ? { ...original, amountMinor: 250n + delta } : what === 'account' ? { ...original, accountId: accountId((n % 7) + 1) } : { ...original, txType: 'transfer' };
    const enc = (p: LedgerPosting, k: string): HostileMessage => {
      const { bytes, headers } = codec.encode(p);
      return { cls: 'ledger:duplicate-content', source: 'ledger', subject: t.ledgerSubject, data: bytes, headers, msgID: `${tag}-dup-${n}-${k}`, reasonMentions: /DUPLICATE/ };
    };
    const copy = enc(changed, 'copy');
    const fingerprint = ledgerEntryFingerprint(codec.decode(copy.data, copy.headers!));
    return { original: enc(original, 'first'), copy, discrepancyId: `DUPLICATE:bank:${original.entryId}:${fingerprint}` };
  });
}
