/**
 * Reads the ERC-20 Transfer logs of a set of tokens over one inclusive block range and turns them
 * into `ChainEvent`s, with the block timestamp and the token decimals attached. When the provider
 * refuses the range (too many blocks or results), the range is halved until it passes.
 */
import type { Address, GetLogsReturnType, PublicClient } from 'viem';
import type { ChainEvent } from '../../domain/types.js';
import { ReconError } from '../../lib/errors.js';
import { halveRange, isRangeTooLargeError, type BlockRange } from './blockRanges.js';
import { decodeReference, mintedEvent, toChainEvent, transferEvent } from './tokenTransferEvent.js';

/** A chain read failed or saw an inconsistent chain: transient, retry the same range. */
export class ChainReadError extends ReconError {
  readonly code = 'CHAIN_READ_ERROR';
  readonly permanent = false;
}

export interface BlockHeader {
  number: bigint;
  hash: string;
  /** Epoch milliseconds. */
  timeMs: number;
}

/** Headers by block number, so each block's timestamp is fetched once; bounded to `max` entries. */
export class BlockHeaderCache {
  private readonly map = new Map<bigint, BlockHeader>();
  constructor(private readonly max = 2_048) {}

  async get(client: PublicClient, blockNumber: bigint): Promise<BlockHeader> {
    const hit = this.map.get(blockNumber);
    if (hit) return hit;
    const block = await client.getBlock({ blockNumber });
    if (block.hash === null) throw new ChainReadError(`block ${blockNumber} has no hash yet`);
    const header = { number: blockNumber, hash: block.hash.toLowerCase(), timeMs: Number(block.timestamp) * 1_000 };
    this.map.set(blockNumber, header);
    if (this.map.size > this.max) {
      const oldest = this.map.keys().next().value;
      if (oldest !== undefined) this.map.delete(oldest);
    }
    return header;
  }

  /** Forgets a block (a reorg replaced it). */
  delete(blockNumber: bigint): void {
    this.map.delete(blockNumber);
  }
}

export interface ReadConfirmedLogsParameters {
  client: PublicClient;
  chainId: number;
  /** Token addresses (lower case) with their decimals. */
  tokens: ReadonlyMap<string, number>;
  range: BlockRange;
  headers: BlockHeaderCache;
}

/** Events in chain order (block number, then log index). */
export type ReadConfirmedLogsReturnType = ChainEvent[];

/** Reads and maps the Transfer logs of `tokens` in `range`; see the module comment. */
export async function readConfirmedLogs(p: ReadConfirmedLogsParameters): Promise<ReadConfirmedLogsReturnType> {
  const all = await getTransferLogs(p.client, [...p.tokens.keys()] as Address[], p.range);
  // Minted(to, amount, ref) rides beside the mint's Transfer in the same transaction: attach its
  // reference to that Transfer (same token, recipient and amount).
  const refs = new Map<string, string>();
  const refKey = (token: string, tx: string, to: string, amount: bigint) => `${token.toLowerCase()}|${tx.toLowerCase()}|${to.toLowerCase()}|${amount}`;
  for (const log of all) {
    if (log.eventName !== 'Minted' || !log.transactionHash) continue;
    const ref = decodeReference(log.args.ref);
    if (ref) refs.set(refKey(log.address, log.transactionHash, log.args.to, log.args.amount), ref);
  }
  const logs = all.filter((l) => l.eventName === 'Transfer');
  const events: ChainEvent[] = [];
  for (const log of logs) {
    if (log.eventName !== 'Transfer') continue;
    if (log.blockHash === null || log.blockNumber === null || log.logIndex === null || log.transactionHash === null) {
      throw new ChainReadError(`pending log returned for confirmed range ${p.range.from}-${p.range.to}`);
    }
    const { from, to, value } = log.args;
    if (from === undefined || to === undefined || value === undefined) continue;
    const decimals = p.tokens.get(log.address.toLowerCase());
    if (decimals === undefined) continue;
    const header = await p.headers.get(p.client, log.blockNumber);
    if (header.hash !== log.blockHash.toLowerCase()) {
      // The block changed between the two calls: a reorg at a depth we treat as confirmed.
      p.headers.delete(log.blockNumber);
      throw new ChainReadError(`block ${log.blockNumber} changed hash while reading logs`, {
        details: `log in ${log.blockHash}, header ${header.hash}`,
      });
    }
    events.push(
      toChainEvent(
        p.chainId,
        {
          address: log.address,
          blockNumber: log.blockNumber,
          blockHash: log.blockHash,
          transactionHash: log.transactionHash,
          logIndex: log.logIndex,
          from,
          to,
          value,
          reference: refs.get(refKey(log.address, log.transactionHash, to, value)) ?? null,
        },
        decimals,
        header.timeMs,
      ),
    );
  }
  events.sort((a, b) => (a.blockNumber === b.blockNumber ? a.logIndex - b.logIndex : a.blockNumber < b.blockNumber ? -1 : 1));
  return events;
}

type TransferLogs = GetLogsReturnType<undefined, [typeof transferEvent, typeof mintedEvent], true, bigint, bigint>;

async function getTransferLogs(client: PublicClient, address: Address[], range: BlockRange): Promise<TransferLogs> {
  try {
    // strict: logs whose topics do not fit the ERC-20 shape (e.g. ERC-721 Transfer) are dropped.
    return await client.getLogs({ address, events: [transferEvent, mintedEvent], fromBlock: range.from, toBlock: range.to, strict: true });
  } catch (e) {
    if (range.to > range.from && isRangeTooLargeError(e)) {
      const [a, b] = halveRange(range);
      return [...(await getTransferLogs(client, address, a)), ...(await getTransferLogs(client, address, b))];
    }
    throw new ChainReadError(`eth_getLogs ${range.from}-${range.to} failed`, { cause: e });
  }
}
