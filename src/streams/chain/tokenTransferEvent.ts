/**
 * The ERC-20 Transfer event and its mapping to a `ChainEvent`: the pure part of ingestion.
 * Custom event ABIs (e.g. `Minted(to, amount, ref)`) are later added as further decoders with
 * the same output type.
 */
import { bytesToHex, hexToBytes, type Hex } from 'viem';
import { identifierProblem } from '../../domain/inputBounds.js';
import { SchemaViolation } from '../../lib/errors.js';
import type { ChainEvent, ChainEventKind } from '../../domain/types.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });
const HEX_BYTES = /^0x(?:[0-9a-fA-F]{2})*$/;

/**
 * A reference carried as bytes (bytes32, bytesN, bytes), decoded exactly. The contract:
 * - all bytes zero (or none) → null: no reference;
 * - else the trailing zero BYTES are stripped (bytes, never hex nibbles: `INV-2020` ends in 0x30,
 *   which viem's `trim` cut to 0x3); when what remains is valid UTF-8 without a zero byte and is
 *   an identifier (src/domain/inputBounds.ts: printable, no control character, no edge space),
 *   the reference is that text, whatever its length and last character;
 * - anything else is an opaque value (a hash, a binary id) and reads as its canonical hex: `0x`
 *   and two lower-case digits per byte, every byte kept (a bytes32 gives 66 characters).
 * The two never collide for bytes32 or bytesN: text is at most N bytes, the hex form 2 + 2N.
 * `encodeReference` is the inverse for text.
 */
export function decodeReference(ref: Hex): string | null {
  if (!HEX_BYTES.test(ref)) throw new RangeError(`a reference must be 0x-prefixed whole bytes, got ${ref.slice(0, 80)}`);
  const bytes = hexToBytes(ref);
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  if (end === 0) return null;
  const body = bytes.subarray(0, end);
  if (!body.includes(0)) {
    let text: string | undefined;
    try {
      text = utf8.decode(body);
    } catch {
      text = undefined;
    }
    if (text !== undefined && identifierProblem(text) === undefined) return text;
  }
  return ref.toLowerCase();
}

/**
 * The bytes32 a text reference is written as on chain (UTF-8, right-padded with zero bytes):
 * `decodeReference(encodeReference(t)) === t`. Throws `SchemaViolation` for text that is no
 * identifier or longer than 32 bytes in UTF-8.
 */
export function encodeReference(text: string): Hex {
  const problem = identifierProblem(text);
  if (problem) throw new SchemaViolation(`reference ${problem}.`);
  const bytes = new TextEncoder().encode(text);
  if (bytes.length > 32) throw new SchemaViolation(`reference is ${bytes.length} bytes in UTF-8; a bytes32 holds at most 32.`);
  return bytesToHex(bytes, { size: 32 });
}

export const ZERO_ADDRESS = '0x0000000000000000000000000000000000000000';

/** Mint is a transfer from the zero address, burn a transfer to it; anything else moves tokens. */
export function classifyTransfer(from: string, to: string): ChainEventKind {
  if (from.toLowerCase() === ZERO_ADDRESS) return 'mint';
  if (to.toLowerCase() === ZERO_ADDRESS) return 'burn';
  return 'transfer';
}

/** The deterministic event id: stable across re-reads of the same block, changes on a reorg. */
export function chainEventId(chainId: number, blockHash: string, logIndex: number): string {
  return `${chainId}:${blockHash.toLowerCase()}:${logIndex}`;
}

/** A decoded Transfer log with everything the chain event needs. */
export interface TransferLog {
  address: string;
  blockNumber: bigint;
  blockHash: string;
  transactionHash: string;
  logIndex: number;
  from: string;
  to: string;
  value: bigint;
  /** Reference from a companion event of the same transaction (Minted), if any. */
  reference?: string | null;
}

/** Builds the `ChainEvent` for a Transfer log of a token with `decimals`, mined at `blockTimeMs`. */
export function toChainEvent(chainId: number, log: TransferLog, decimals: number, blockTimeMs: number): ChainEvent {
  const from = log.from.toLowerCase();
  const to = log.to.toLowerCase();
  return {
    eventId: chainEventId(chainId, log.blockHash, log.logIndex),
    chainId,
    token: log.address.toLowerCase(),
    blockNumber: log.blockNumber,
    blockHash: log.blockHash.toLowerCase(),
    blockTime: blockTimeMs,
    txHash: log.transactionHash.toLowerCase(),
    logIndex: log.logIndex,
    kind: classifyTransfer(from, to),
    from,
    to,
    value: log.value,
    decimals,
    reference: log.reference ?? null,
  };
}
