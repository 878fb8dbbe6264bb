/**
 * Block-range arithmetic for bounded eth_getLogs. Ranges are inclusive on both ends, like the
 * JSON-RPC `fromBlock`/`toBlock` they become.
 */

export interface BlockRange {
  from: bigint;
  to: bigint;
}

/** Splits [from, to] into consecutive ranges of at most `maxRange` blocks; empty when from > to. */
export function splitRange(from: bigint, to: bigint, maxRange: number | bigint): BlockRange[] {
  const size = BigInt(maxRange);
  if (size <= 0n) throw new RangeError(`maxRange must be positive, got ${maxRange}`);
  const out: BlockRange[] = [];
  for (let start = from; start <= to; start += size) {
    const end = start + size - 1n;
    out.push({ from: start, to: end < to ? end : to });
  }
  return out;
}

/** The two halves of a range of two or more blocks, for retrying a query the provider refused. */
export function halveRange(r: BlockRange): [BlockRange, BlockRange] {
  if (r.to <= r.from) throw new RangeError(`cannot halve a single-block range ${r.from}`);
  const mid = r.from + (r.to - r.from) / 2n;
  return [
    { from: r.from, to: mid },
    { from: mid + 1n, to: r.to },
  ];
}

// Messages providers use when a getLogs range or result is too large (geth, Alchemy, Infura,
// QuickNode, Ankr, Erigon, Nethermind…). Matched on the whole cause chain.
const TOO_LARGE = [
  /block range/i,
  /range (is )?too (large|wide|big)/i,
  /query returned more than \d+ results/i,
  /response size (exceeded|should not greater)/i,
  /log response size exceeded/i,
  /limit exceeded/i,
  /too many (results|logs|blocks)/i,
  /exceed(s|ed)? (the )?max(imum)? (block )?range/i,
  /query timeout exceeded/i,
  // viem's own cap on an HTTP response body (10 MB by default).
  /response body exceeded the size limit/i,
];

/**
 * Whether an RPC error says the eth_getLogs range or its result was too large, so the range
 * should be halved rather than retried as is. JSON-RPC code -32005 is "limit exceeded".
 */
export function isRangeTooLargeError(e: unknown): boolean {
  for (let cur: unknown = e, depth = 0; cur !== undefined && cur !== null && depth < 10; depth++) {
    if (typeof cur === 'object') {
      const o = cur as { code?: unknown; message?: unknown; details?: unknown; cause?: unknown };
      if (o.code === -32005) return true;
      for (const text of [o.message, o.details]) {
        if (typeof text === 'string' && TOO_LARGE.some((re) => re.test(text))) return true;
      }
      cur = o.cause;
    } else {
      return typeof cur === 'string' && TOO_LARGE.some((re) => re.test(cur as string));
    }
  }
  return false;
}

/**
 * The eth_getLogs range size to ask for next: halves when the provider refuses a range as too
 * large, and doubles back towards `max` after `growAfter` consecutive successes. Pure state.
 */
export class AdaptiveRange {
  private current: number;
  private successes = 0;

  constructor(
    private readonly max: number,
    private readonly growAfter = 3,
  ) {
    if (max <= 0) throw new RangeError(`max must be positive, got ${max}`);
    this.current = max;
  }

  /** Blocks to ask for now. */
  get size(): number {
    return this.current;
  }

  /** The provider refused a range of `tried` blocks: next ask for at most half of it. */
  tooLarge(tried: number): void {
    this.current = Math.max(1, Math.min(this.current, Math.floor(tried / 2)));
    this.successes = 0;
  }

  /** A range was read: after enough of them in a row, grow again. */
  succeeded(): void {
    if (this.current >= this.max) return;
    if (++this.successes >= this.growAfter) {
      this.current = Math.min(this.max, this.current * 2);
      this.successes = 0;
    }
  }
}
