import { describe, expect, it } from 'vitest';
import type { ChainEvent, ChainProgress } from '../../src/domain/types.js';
import { DecodeError, SchemaViolation } from '../../src/lib/errors.js';
import {
  chainEventMessages,
  decodeChainEvent,
  decodeChainEvents,
  decodeChainProgress,
  encodeChainEvent,
  encodeChainEventBatch,
  encodeChainProgress,
  MAX_EVENTS_PER_MESSAGE,
} from '../../src/streams/chain/chainEventCodec.js';

const hash = `0x${'ab'.repeat(32)}`;
const event: ChainEvent = {
  eventId: `31337:${hash}:7`,
  chainId: 31337,
  token: `0x${'11'.repeat(20)}`,
  blockNumber: 123n,
  blockHash: hash,
  blockTime: 1_700_000_000_000,
  txHash: `0x${'cd'.repeat(32)}`,
  logIndex: 7,
  kind: 'mint',
  from: `0x${'00'.repeat(20)}`,
  to: `0x${'22'.repeat(20)}`,
  // More than 2^64 and more than Number can hold exactly: must survive as a string.
  value: 123_456_789_012_345_678_901_234_567_890n,
  decimals: 18,
  reference: null,
};
const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
const wire = () => JSON.parse(new TextDecoder().decode(encodeChainEvent(event))) as Record<string, unknown>;

describe('chainEventCodec', () => {
  it('round-trips a chain event with a value beyond 2^64 losslessly', () => {
    expect(decodeChainEvent(encodeChainEvent(event))).toEqual(event);
    expect(wire().value).toBe('123456789012345678901234567890');
  });

  it('round-trips a progress message', () => {
    const p: ChainProgress = { chainId: 1, blockNumber: 19_000_000n, blockHash: hash, blockTime: 1_700_000_000_000 };
    expect(decodeChainProgress(encodeChainProgress(p))).toEqual(p);
  });

  it('throws DecodeError on bytes that are not JSON, not an object, or of an unknown version', () => {
    expect(() => decodeChainEvent(new TextEncoder().encode('{nope'))).toThrow(DecodeError);
    expect(() => decodeChainEvent(new Uint8Array([0xff, 0xfe]))).toThrow(DecodeError);
    expect(() => decodeChainEvent(enc([1, 2]))).toThrow(DecodeError);
    expect(() => decodeChainEvent(enc({ ...wire(), v: 99 }))).toThrow(DecodeError);
    expect(() => decodeChainProgress(enc(null))).toThrow(DecodeError);
  });

  it('throws SchemaViolation naming the field when the contract is broken', () => {
    const bad: Array<[Record<string, unknown>, string]> = [
      [{ ...wire(), value: '-5' }, 'value'],
      [{ ...wire(), value: 5 }, 'value'],
      [{ ...wire(), kind: 'airdrop' }, 'kind'],
      [{ ...wire(), token: '0xABC' }, 'token'],
      [{ ...wire(), eventId: 'x' }, 'eventId'],
      [{ ...wire(), blockTime: 1.5 }, 'blockTime'],
      [{ ...wire(), decimals: 300 }, 'decimals'],
    ];
    for (const [o, field] of bad) {
      const run = () => decodeChainEvent(enc(o));
      expect(run).toThrow(SchemaViolation);
      expect(run).toThrow(field);
    }
    expect(() => decodeChainProgress(enc({ v: 1, chainId: 1, blockNumber: '1', blockHash: 'zz', blockTime: 0 }))).toThrow(SchemaViolation);
  });

  const other = `0x${'ef'.repeat(32)}`;
  const ofBlock = (blockHash: string, blockNumber: bigint, logIndexes: number[]): ChainEvent[] =>
    logIndexes.map((logIndex) => ({ ...event, blockHash, blockNumber, logIndex, eventId: `31337:${blockHash}:${logIndex}`, value: BigInt(logIndex) * 10n ** 30n }));

  it('carries one message per block, in chain order, with the block id as message id', () => {
    const events = [...ofBlock(hash, 123n, [0, 3, 7]), ...ofBlock(other, 124n, [1])];
    const msgs = chainEventMessages(events);
    expect(msgs.map((m) => [m.msgID, m.events])).toEqual([
      [`31337:${hash}`, 3],
      [`31337:${other}`, 1],
    ]);
    expect(msgs.flatMap((m) => decodeChainEvents(m.data))).toEqual(events);
    // Deterministic: the same events give the same bytes, so a re-publish is a JetStream duplicate.
    expect(chainEventMessages(events).map((m) => Buffer.from(m.data).toString())).toEqual(msgs.map((m) => Buffer.from(m.data).toString()));
  });

  it('splits a huge block into chunks whose ids never equal an event id', () => {
    const events = ofBlock(hash, 123n, [0, 1, 2, 3, 4]);
    const msgs = chainEventMessages(events, { maxPerMessage: 2 });
    expect(msgs.map((m) => [m.msgID, m.events])).toEqual([
      [`31337:${hash}:c0`, 2],
      [`31337:${hash}:c1`, 2],
      [`31337:${hash}:c2`, 1],
    ]);
    expect(msgs.flatMap((m) => decodeChainEvents(m.data))).toEqual(events);
    expect(chainEventMessages(events, { scope: 'tabc' })[0]!.msgID).toBe(`31337:${hash}:tabc`);
    expect(() => chainEventMessages(events, { maxPerMessage: MAX_EVENTS_PER_MESSAGE + 1 })).toThrow(RangeError);
  });

  it('still decodes a format-1 single-event message into one event', () => {
    expect(decodeChainEvents(encodeChainEvent(event))).toEqual([event]);
  });

  it('refuses a batch that mixes blocks, is out of order, or breaks the contract', () => {
    expect(() => encodeChainEventBatch([...ofBlock(hash, 123n, [0]), ...ofBlock(other, 124n, [1])])).toThrow(RangeError);
    expect(() => encodeChainEventBatch([])).toThrow(RangeError);
    const batch = JSON.parse(new TextDecoder().decode(encodeChainEventBatch(ofBlock(hash, 123n, [0, 1])))) as { events: Record<string, unknown>[] } & Record<string, unknown>;
    const bad: Array<[unknown, string]> = [
      [{ ...batch, events: [...batch.events].reverse() }, 'events.1.logIndex'],
      [{ ...batch, events: [] }, 'events'],
      [{ ...batch, blockHash: 'zz' }, 'blockHash'],
      [{ ...batch, events: [{ ...batch.events[0], value: '-1' }] }, 'events.0.value'],
    ];
    for (const [o, field] of bad) {
      const run = () => decodeChainEvents(enc(o));
      expect(run).toThrow(SchemaViolation);
      expect(run).toThrow(field);
    }
    expect(() => decodeChainEvents(enc({ ...batch, v: 3 }))).toThrow(DecodeError);
  });

  it('refuses every broken field of a batch, whichever path (fast check or schema) reads it', () => {
    const batch = JSON.parse(new TextDecoder().decode(encodeChainEventBatch(ofBlock(hash, 123n, [0, 1])))) as { events: Record<string, unknown>[] } & Record<string, unknown>;
    expect(decodeChainEvents(enc(batch))).toHaveLength(2);
    const wrong: Record<string, unknown[]> = {
      chainId: [0, -1, 1.5, '31337', null],
      blockNumber: ['01', '-1', 123, '1e3', ''],
      blockHash: [hash.toUpperCase(), hash.slice(0, 60), 5],
      blockTime: [-1, 1.5, '1', null],
      chunk: [-1, 0.5, '0'],
      events: [[], 'x', null, Array(MAX_EVENTS_PER_MESSAGE + 1).fill(batch.events[0])],
    };
    const wrongEvent: Record<string, unknown[]> = {
      token: [`0x${'AB'.repeat(20)}`, '0x12', null],
      txHash: ['0x', 7],
      logIndex: [-1, 0.5, '0'],
      kind: ['MINT', 'swap', 1],
      from: ['', `0x${'1'.repeat(39)}`],
      to: [undefined, 0],
      value: ['-1', '007', 7, '1.5'],
      decimals: [-1, 256, 6.5, '6'],
      reference: [5, {}],
    };
    let cases = 0;
    for (const [field, values] of Object.entries(wrong)) {
      for (const v of values) {
        expect(() => decodeChainEvents(enc({ ...batch, [field]: v })), `${field} = ${JSON.stringify(v)}`).toThrow(SchemaViolation);
        cases++;
      }
    }
    for (const [field, values] of Object.entries(wrongEvent)) {
      for (const v of values) {
        const events = [batch.events[0], { ...batch.events[1], [field]: v }];
        expect(() => decodeChainEvents(enc({ ...batch, events })), `events.1.${field} = ${JSON.stringify(v)}`).toThrow(SchemaViolation);
        cases++;
      }
    }
    expect(() => decodeChainEvents(enc({ ...batch, events: [batch.events[0], batch.events[0]] }))).toThrow('strictly increasing');
    expect(() => decodeChainEvents(enc({ ...batch, events: [batch.events[0], 'not an event'] }))).toThrow(SchemaViolation);
    expect(cases).toBeGreaterThan(40);
  });
});

describe('chainEventCodec: validation at the door', () => {
  const NOW = Date.UTC(2025, 5, 1);
  const DAY = 86_400_000;
  const base = { ...event, blockTime: NOW - 60_000 };
  const batchWire = (over: Record<string, unknown> = {}, evOver: Record<string, unknown> = {}) => {
    const b = JSON.parse(new TextDecoder().decode(encodeChainEventBatch([base]))) as { events: Record<string, unknown>[] } & Record<string, unknown>;
    return enc({ ...b, ...over, events: [{ ...b.events[0], ...evOver }] });
  };
  const singleWire = (over: Record<string, unknown>) => enc({ ...(JSON.parse(new TextDecoder().decode(encodeChainEvent(base))) as object), ...over });
  /** Both formats must agree: the batch (fast path, then schema) and the single event. */
  const both = (over: Record<string, unknown>, evOver: Record<string, unknown> = {}) => [
    () => decodeChainEvents(batchWire(over, evOver), NOW),
    () => decodeChainEvents(singleWire({ ...over, ...evOver }), NOW),
  ];
  const accepts = (over: Record<string, unknown>, evOver: Record<string, unknown> = {}) => {
    for (const run of both(over, evOver)) expect(run()).toHaveLength(1);
  };
  const refuses = (over: Record<string, unknown>, evOver: Record<string, unknown>, reason: RegExp) => {
    for (const run of both(over, evOver)) {
      expect(run).toThrow(SchemaViolation);
      expect(run).toThrow(reason);
    }
  };

  it('value: accepts 0 and 2^256 - 1, refuses 2^256 and a 1,000-digit number', () => {
    accepts({}, { value: '0' });
    accepts({}, { value: (2n ** 256n - 1n).toString() });
    refuses({}, { value: (2n ** 256n).toString() }, /value: must fit uint256/);
    refuses({}, { value: '9'.repeat(1_000) }, /value: must fit uint256/);
  });

  it('decimals: accepts 0 and 77, refuses 78', () => {
    accepts({}, { decimals: 0 });
    accepts({}, { decimals: 77 });
    refuses({}, { decimals: 78 }, /decimals/);
  });

  it('logIndex: accepts 2^32 - 1, refuses 2^32 (ClickHouse UInt32)', () => {
    expect(decodeChainEvents(batchWire({}, { logIndex: 2 ** 32 - 1 }), NOW)[0]!.logIndex).toBe(2 ** 32 - 1);
    expect(() => decodeChainEvents(batchWire({}, { logIndex: 2 ** 32 }), NOW)).toThrow(/events\.0\.logIndex/);
  });

  it('blockNumber: accepts 2^64 - 1, refuses 2^64 (ClickHouse UInt64)', () => {
    expect(decodeChainEvents(batchWire({ blockNumber: (2n ** 64n - 1n).toString() }), NOW)[0]!.blockNumber).toBe(2n ** 64n - 1n);
    expect(() => decodeChainEvents(batchWire({ blockNumber: (2n ** 64n).toString() }), NOW)).toThrow(/blockNumber: must fit uint64/);
    expect(() => decodeChainProgress(enc({ v: 1, chainId: 1, blockNumber: (2n ** 64n).toString(), blockHash: hash, blockTime: NOW }), NOW)).toThrow(/blockNumber/);
  });

  it('reference: accepts text of 128 code units and the canonical hex of a bytes32; refuses 129, control characters and a lone surrogate, naming the field', () => {
    accepts({}, { reference: 'INV-2020' });
    accepts({}, { reference: 'r'.repeat(128) });
    accepts({}, { reference: `0x${'ab'.repeat(32)}` });
    refuses({}, { reference: 'r'.repeat(129) }, /reference: is 129 characters long/);
    refuses({}, { reference: 'INV\u0007' }, /reference: contains U\+0007 at index 3/);
    // JSON's \ud800 escape parses to a lone surrogate: ClickHouse and every JSON consumer refuse it for good.
    refuses({}, { reference: 'INV-\ud800' }, /reference: is not well-formed Unicode: lone surrogate U\+D800 at index 4/);
    refuses({}, { reference: '' }, /reference: is empty/);
  });

  it('blockTime: accepts 2015-07-30 and now + a day, refuses one millisecond outside, naming blockTime', () => {
    accepts({ blockTime: Date.UTC(2015, 6, 30) });
    accepts({ blockTime: NOW + DAY });
    refuses({ blockTime: Date.UTC(2015, 6, 30) - 1 }, {}, /blockTime 1438214399999 \(2015-07-29T23:59:59.999Z\) is before 2015-07-30/);
    refuses({ blockTime: NOW + DAY + 1 }, {}, /blockTime \d+ \(2025-06-02T00:00:00.001Z\) is more than a day after now/);
    refuses({ blockTime: 9e15 }, {}, /blockTime 9000000000000000 \(not a representable date\)/);
    const progress = (blockTime: number) => enc({ v: 1, chainId: 1, blockNumber: '5', blockHash: hash, blockTime });
    expect(decodeChainProgress(progress(NOW), NOW).blockTime).toBe(NOW);
    expect(() => decodeChainProgress(progress(0), NOW)).toThrow(/chain progress breaks the contract: blockTime 0 \(1970-01-01T00:00:00.000Z\) is before/);
  });
});
