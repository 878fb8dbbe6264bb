/**
 * Reorg decisions as pure functions of the stored block history and what the node says now: is
 * the node behind us, does a new block link to the one we stored, and, once a processed block is
 * no longer canonical, where the fork point is and what must be retracted. The ingester's sync
 * (chainSync.ts) does the reading and carries the plan out.
 */
import type { BlockRecord } from './blockHistory.js';
import { recordEventIds } from './blockHistory.js';

/**
 * Where the final head stands against the highest block we processed: `behind` (a lagging node or
 * a rollback that has not grown again: wait, it is no evidence of a reorg), `level` (nothing new
 * to link: check that our top block still stands), `ahead` (read on), or `empty` (no history).
 */
export function headPosition(final: bigint, top: Pick<BlockRecord, 'number'> | null): 'empty' | 'behind' | 'level' | 'ahead' {
  if (!top) return 'empty';
  if (final < top.number) return 'behind';
  return final === top.number ? 'level' : 'ahead';
}

/** Why a block read now does not continue the stored one before it, or null when it does (or nothing is stored). */
export function linkBreak(prev: Pick<BlockRecord, 'number' | 'hash'> | null, next: { number: bigint; parentHash: string }): string | null {
  if (!prev || next.parentHash === prev.hash) return null;
  return `block ${next.number}'s parent is ${next.parentHash}, we processed ${prev.hash} at ${prev.number}`;
}

export interface ReorgPlan {
  /** Highest stored block that is still canonical; everything above it is re-read. */
  fork: bigint;
  /** The fork point is below the stored history: events of older orphans cannot be retracted. */
  beyondHistory: boolean;
  /** Stored blocks no longer canonical, highest first. */
  orphans: BlockRecord[];
  /** One retraction per orphaned block that had events, lowest block first, with its message id. */
  retractions: { blockNumber: bigint; blockHash: string; eventIds: string[]; msgId: string }[];
}

/**
 * The plan after a reorg, from the stored records walked from the top down (`walked`, highest
 * first, ending with the first canonical one when it was found) and the canonical hash of each
 * walked number. Null when nothing stored was orphaned (the reorg did not reach our history).
 */
export function planReorg(chainId: number, walked: readonly BlockRecord[], canonicalHash: (n: bigint) => string | undefined): ReorgPlan | null {
  const orphans: BlockRecord[] = [];
  let fork: bigint | null = null;
  for (const r of walked) {
    if (canonicalHash(r.number) === r.hash) {
      fork = r.number;
      break;
    }
    orphans.push(r);
  }
  if (orphans.length === 0) return null;
  const beyondHistory = fork === null;
  const retractions = [...orphans]
    .reverse()
    .filter((r) => r.logIndexes.length > 0)
    .map((r) => ({
      blockNumber: r.number,
      blockHash: r.hash,
      eventIds: recordEventIds(chainId, r),
      msgId: `retract:${chainId}:${r.hash}`,
    }));
  return { fork: fork ?? orphans[orphans.length - 1]!.number - 1n, beyondHistory, orphans, retractions };
}
