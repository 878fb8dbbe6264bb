/**
 * Watermarks of partitioned streams (src/streams/partitions.ts). Each partition's feed advances its
 * own watermark fields in the shared `wm` hash (`ledger@p1`, `chain@p1`, `chain:<id>:block@p1`, with
 * `:seen` for when each last moved and `ledger@p1:drained` for when a worker bound to the partition
 * last found its ledger consumer with nothing pending). A window closes on the slowest partition's:
 * an event of a partition whose worker lags or is down has not been seen yet, so nothing it could
 * match may be declared missing.
 */

/** The watermark field of `source` in `partition` (the bare name with one partition). */
export function watermarkField(source: string, partition: number, partitions: number): string {
  return partitions <= 1 ? source : `${source}@p${partition}`;
}

/** One partition's ledger feed, as the sweeper's idle rule needs it. */
export interface LedgerPartitionMark {
  ledger: number;
  seenAt: number;
  /** When a worker bound to the partition last found its ledger consumer drained (-1: never). */
  drainedAt: number;
}

export interface AggregatedWatermarks {
  /** The slowest partition's ledger watermark (-1 while one has none). */
  ledger: number;
  /** The latest any partition's ledger feed moved. */
  ledgerSeenAt: number;
  /** The slowest partition's chain watermark (-1 while one has none). */
  chain: number;
  chainSeenAt: number;
  ledgerPartitions: LedgerPartitionMark[];
}

const num = (h: Readonly<Record<string, string>>, k: string) => (h[k] === undefined ? -1 : Number(h[k]));

/** The watermarks of `partitions` partitions from the `wm` hash. */
export function aggregateWatermarks(h: Readonly<Record<string, string>>, partitions: number): AggregatedWatermarks {
  const ps = Array.from({ length: partitions }, (_, p) => p);
  const ledgerPartitions = ps.map((p) => ({ ledger: num(h, `ledger@p${p}`), seenAt: num(h, `ledger@p${p}:seen`), drainedAt: num(h, `ledger@p${p}:drained`) }));
  const chains = ps.map((p) => num(h, `chain@p${p}`));
  return {
    ledger: Math.min(...ledgerPartitions.map((l) => l.ledger)),
    ledgerSeenAt: Math.max(...ledgerPartitions.map((l) => l.seenAt)),
    chain: Math.min(...chains),
    chainSeenAt: Math.max(...ps.map((p) => num(h, `chain@p${p}:seen`))),
    ledgerPartitions,
  };
}

/** The block of `chainId` every partition has made durable (null while one has none). */
export function aggregateChainBlock(h: Readonly<Record<string, string | null>>, chainId: number, partitions: number): bigint | null {
  let low: bigint | null = null;
  for (let p = 0; p < partitions; p++) {
    const v = h[watermarkField(`chain:${chainId}:block`, p, partitions)];
    if (v === undefined || v === null) return null;
    const b = BigInt(v);
    if (low === null || b < low) low = b;
  }
  return low;
}

/**
 * The ledger watermark chain legs' windows close on, over partitions (one without partitioned
 * streams): each partition's booking-time watermark minus the lateness, or the wall clock minus the
 * lateness while the partition is idle (no posting for `idleMs`, and a worker bound to it found
 * nothing pending within `idleMs`); the lowest of them. A partition without a live worker, or whose
 * consumer holds a posting not yet processed, holds every window open.
 */
export function partitionedLedgerWatermark(parts: readonly LedgerPartitionMark[], o: { allowedLatenessMs: number; ledgerIdleMs: number }, now: number): number {
  let low = Infinity;
  for (const p of parts) {
    const silent = p.seenAt < 0 || now - p.seenAt > o.ledgerIdleMs;
    const drained = p.drainedAt >= 0 && now - p.drainedAt <= o.ledgerIdleMs;
    const mark = Math.max(p.ledger < 0 ? -Infinity : p.ledger - o.allowedLatenessMs, silent && drained ? now - o.allowedLatenessMs : -Infinity);
    low = Math.min(low, mark);
  }
  return low;
}
