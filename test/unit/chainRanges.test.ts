import { describe, expect, it } from 'vitest';
import { halveRange, isRangeTooLargeError, splitRange } from '../../src/streams/chain/blockRanges.js';
import { nextRange } from '../../src/streams/chain/nextRange.js';
import { chainEventId, classifyTransfer, toChainEvent, ZERO_ADDRESS } from '../../src/streams/chain/tokenTransferEvent.js';

describe('splitRange', () => {
  it('covers [from, to] in consecutive ranges of at most maxRange blocks', () => {
    expect(splitRange(0n, 9n, 3)).toEqual([
      { from: 0n, to: 2n },
      { from: 3n, to: 5n },
      { from: 6n, to: 8n },
      { from: 9n, to: 9n },
    ]);
    expect(splitRange(5n, 5n, 100)).toEqual([{ from: 5n, to: 5n }]);
    expect(splitRange(6n, 5n, 3)).toEqual([]);
    expect(() => splitRange(0n, 1n, 0)).toThrow(RangeError);
  });

  it('halves a refused range into two that cover it exactly', () => {
    expect(halveRange({ from: 10n, to: 13n })).toEqual([
      { from: 10n, to: 11n },
      { from: 12n, to: 13n },
    ]);
    expect(halveRange({ from: 10n, to: 11n })).toEqual([
      { from: 10n, to: 10n },
      { from: 11n, to: 11n },
    ]);
    expect(() => halveRange({ from: 3n, to: 3n })).toThrow(RangeError);
  });
});

describe('isRangeTooLargeError', () => {
  it("recognises providers' too-large messages and code -32005 anywhere in the cause chain", () => {
    expect(isRangeTooLargeError(new Error('query returned more than 10000 results'))).toBe(true);
    expect(isRangeTooLargeError({ code: -32005, message: 'whatever' })).toBe(true);
    expect(isRangeTooLargeError(new Error('outer', { cause: new Error('eth_getLogs block range is too wide') }))).toBe(true);
    expect(isRangeTooLargeError(new Error('Log response size exceeded.'))).toBe(true);
  });

  it('leaves other errors to the ordinary retry', () => {
    expect(isRangeTooLargeError(new Error('fetch failed'))).toBe(false);
    expect(isRangeTooLargeError({ code: -32603, message: 'internal error' })).toBe(false);
    expect(isRangeTooLargeError(undefined)).toBe(false);
  });
});

describe('nextRange', () => {
  it('reads all tokens together when they are at the same block, bounded by maxRange and confirmed', () => {
    const r = new Map([
      ['a', 9n],
      ['b', 9n],
    ]);
    expect(nextRange(r, 100n, 5)).toEqual({ range: { from: 10n, to: 14n }, tokens: ['a', 'b'] });
    expect(nextRange(r, 11n, 5)).toEqual({ range: { from: 10n, to: 11n }, tokens: ['a', 'b'] });
  });

  it('lets the token furthest behind catch up alone, stopping where the next one is', () => {
    const r = new Map([
      ['a', 20n],
      ['b', 4n],
    ]);
    expect(nextRange(r, 100n, 50)).toEqual({ range: { from: 5n, to: 20n }, tokens: ['b'] });
  });

  it('returns null once every token has reached confirmed (or starts beyond it)', () => {
    expect(nextRange(new Map([['a', 10n]]), 10n, 5)).toBeNull();
    expect(
      nextRange(
        new Map([
          ['a', 10n],
          ['b', 50n],
        ]),
        10n,
        5,
      ),
    ).toBeNull();
    expect(nextRange(new Map(), 10n, 5)).toBeNull();
  });
});

describe('classifyTransfer', () => {
  it('calls a transfer from the zero address a mint, to it a burn, and anything else a transfer', () => {
    const a = `0x${'aa'.repeat(20)}`;
    const b = `0x${'BB'.repeat(20)}`;
    expect(classifyTransfer(ZERO_ADDRESS, a)).toBe('mint');
    expect(classifyTransfer(a, ZERO_ADDRESS)).toBe('burn');
    expect(classifyTransfer(a, b)).toBe('transfer');
  });

  it('builds a chain event with lower-case addresses and the deterministic id', () => {
    const blockHash = `0x${'AB'.repeat(32)}`;
    const e = toChainEvent(
      5,
      {
        address: `0x${'CC'.repeat(20)}`,
        blockNumber: 42n,
        blockHash,
        transactionHash: `0x${'DD'.repeat(32)}`,
        logIndex: 3,
        from: `0x${'EE'.repeat(20)}`,
        to: ZERO_ADDRESS,
        value: 10n ** 30n,
      },
      6,
      1_700_000_000_000,
    );
    expect(e).toMatchObject({
      eventId: chainEventId(5, blockHash, 3),
      token: `0x${'cc'.repeat(20)}`,
      from: `0x${'ee'.repeat(20)}`,
      kind: 'burn',
      value: 10n ** 30n,
      decimals: 6,
      blockTime: 1_700_000_000_000,
      reference: null,
    });
    expect(e.eventId).toBe(`5:0x${'ab'.repeat(32)}:3`);
  });
});
