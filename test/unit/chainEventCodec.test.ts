import { describe, expect, it } from 'vitest';
import type { ChainEvent, ChainProgress } from '../../src/domain/types.js';
import { DecodeError, SchemaViolation } from '../../src/lib/errors.js';
import {
  decodeChainEvent,
  decodeChainProgress,
  encodeChainEvent,
  encodeChainProgress,
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
    expect(wire()['value']).toBe('123456789012345678901234567890');
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
});
