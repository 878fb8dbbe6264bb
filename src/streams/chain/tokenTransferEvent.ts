/**
 * The ERC-20 Transfer event and its mapping to a `ChainEvent`: the pure part of ingestion.
 * Custom event ABIs (e.g. `Minted(to, amount, ref)`) are later added as further decoders with
 * the same output type.
 */
import { hexToString, parseAbiItem, trim, type Hex } from 'viem';
import type { ChainEvent, ChainEventKind } from '../../domain/types.js';

export const transferEvent = parseAbiItem('event Transfer(address indexed from, address indexed to, uint256 value)');

/**
 * The deposit token's own mint event, emitted beside Transfer by `mintWithReference`: it carries
 * the tokenization reference the bank also knows, which feeds reference matching.
 */
export const mintedEvent = parseAbiItem('event Minted(address indexed to, uint256 amount, bytes32 indexed ref)');

/** A bytes32 reference as the bank writes it: UTF-8 text padded with zeros (else the hex itself). */
export function decodeReference(ref: Hex): string | null {
  if (/^0x0*$/.test(ref)) return null;
  const trimmed = trim(ref, { dir: 'right' });
  const text = hexToString(trimmed.length % 2 === 0 ? trimmed : (`${trimmed}0` as Hex));
  return /^[\x20-\x7e]+$/.test(text) ? text : ref.toLowerCase();
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
