/**
 * Picks the next block range to read for a chain whose tokens are at different checkpoints:
 * the tokens furthest behind go first, alone, until they catch up with the next ones; from then
 * on they share one eth_getLogs call. Pure, so it is tested without a chain.
 */
import type { BlockRange } from './blockRanges.js';

export interface NextRange {
  range: BlockRange;
  /** The tokens (lower-case addresses) this range is read for. */
  tokens: string[];
}

/**
 * `reached` maps each token to its last published block. Returns the range after the lowest of
 * them, at most `maxRange` blocks, ending at `confirmed` or just before the next token's position;
 * null when every token has reached `confirmed`.
 */
export function nextRange(reached: ReadonlyMap<string, bigint>, confirmed: bigint, maxRange: number): NextRange | null {
  let low: bigint | null = null;
  for (const b of reached.values()) if (low === null || b < low) low = b;
  if (low === null || low >= confirmed) return null;
  const from = low + 1n;
  let to = from + BigInt(maxRange) - 1n;
  if (to > confirmed) to = confirmed;
  const tokens: string[] = [];
  for (const [token, b] of reached) {
    if (b === low) tokens.push(token);
    else if (b < to) to = b; // stop where the next token is, so they merge afterwards
  }
  return { range: { from, to }, tokens };
}
