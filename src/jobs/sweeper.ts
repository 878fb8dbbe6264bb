import type { Logger } from 'pino';
import { partitionedLedgerWatermark } from '../domain/partitionWatermarks.js';
import type { Fact } from '../domain/facts.js';
import { factKey } from '../domain/facts.js';
import { feedStallDecision } from '../domain/feedStalls.js';
import { discrepancyEvent, factsOfExpiredLeg } from '../domain/outcomeFacts.js';
import type { FactWriter } from '../sinks/clickhouse/factWriter.js';
import type { MatchStore, Watermarks } from '../state/matchStore.js';
import { repeatEvery } from '../lib/repeatEvery.js';

export interface SweeperOptions {
  store: MatchStore;
  writer: FactWriter;
  log: Logger;
  allowedLatenessMs: number;
  ledgerIdleMs: number;
  /** A feed silent this long (wall clock) opens FEED_STALLED; its next sign of life resolves it. */
  feedStallMs?: number;
  retentionMs: number;
  intervalMs: number;
  batch?: number;
  now?: () => number;
  /** Called with the facts of each sweep once they are durable. */
  onFacts?: (facts: Fact[]) => void;
}

/**
 * The event-time watermarks that close windows. A bank leg waits for the chain: its window
 * closes when the confirmed chain (every event at or below that block is published) has passed
 * its deadline. A chain leg waits for the bank feed, whose watermark trails its latest booking time
 * by the allowed lateness, or follows the wall clock when the feed is idle: silent for
 * `ledgerIdleMs` and found with nothing pending lately (src/jobs/ledgerDrain.ts), per partition,
 * the slowest partition's (src/domain/partitionWatermarks.ts). Silence alone is not idleness: a
 * posting stuck in delivery would otherwise let the window of the mint it matches close.
 */
export function effectiveWatermarks(w: Watermarks, o: { allowedLatenessMs: number; ledgerIdleMs: number }, now: number) {
  return { forBankLegs: w.chain, forChainLegs: partitionedLedgerWatermark(w.ledgerPartitions, o, now) };
}

/**
 * Closes windows: claims expired legs atomically (two workers never both raise one), writes their
 * discrepancies, then confirms the claims. A crash between claim and write leaves the claim to be
 * handed out again after its visibility timeout; the discrepancy id is deterministic.
 */
export function startSweeper(o: SweeperOptions): { stop(): Promise<void>; sweepOnce(): Promise<number> } {
  const now = o.now ?? Date.now;

  async function sweepOnce(): Promise<number> {
    const t = now();
    const marks = await o.store.watermarks();
    const wm = effectiveWatermarks(marks, o, t);
    let total = 0;
    for (const [side, watermark] of [
      ['bank', wm.forBankLegs],
      ['chain', wm.forChainLegs],
    ] as const) {
      if (!Number.isFinite(watermark) || watermark < 0) continue;
      for (;;) {
        const legs = await o.store.claimExpired(side, watermark, o.batch ?? 500, t);
        if (legs.length === 0) break;
        await o.store.pairExpired(legs);
        const facts = legs.flatMap((l) => factsOfExpiredLeg(l, t));
        // A claim handed out again may already be durable: let the writer check.
        await o.writer.write(facts, { suspects: new Set(facts.map(factKey)) });
        await o.store.ackClaimed(legs.map((l) => l.id));
        o.onFacts?.(facts);
        total += legs.length;
        if (legs.length < (o.batch ?? 500)) break;
      }
    }
    if (o.feedStallMs) await sweepStalls(marks, t, o.feedStallMs);
    const gcMark = Math.min(wm.forBankLegs, wm.forChainLegs);
    if (Number.isFinite(gcMark) && gcMark > 0) await o.store.gc(gcMark);
    return total;
  }

  /** Opens and resolves FEED_STALLED episodes; facts first, then the Redis record (idempotent ids). */
  async function sweepStalls(marks: Watermarks, t: number, stallMs: number): Promise<void> {
    const open = await o.store.openStalls();
    const facts: Fact[] = [];
    const changes: [string, boolean][] = [];
    for (const [source, seen] of [
      ['ledger', marks.ledgerSeenAt],
      ['chain', marks.chainSeenAt],
    ] as const) {
      const d = feedStallDecision(source, seen, open, stallMs, t);
      const what = source === 'ledger' ? 'bank ledger postings' : 'confirmed chain progress';
      if (d.open && !open.includes(d.open)) {
        facts.push(
          discrepancyEvent({
            id: d.open,
            kind: 'FEED_STALLED',
            status: 'open',
            eventTime: seen,
            now: t,
            reason: `no ${what} since ${new Date(seen).toISOString()}: silent for more than ${stallMs} ms`,
          }),
        );
        changes.push([d.open, true]);
      }
      for (const id of d.resolve) {
        facts.push(discrepancyEvent({ id, kind: 'FEED_STALLED', status: 'resolved', eventTime: t, now: t, reason: `${what} arriving again (last at ${new Date(seen).toISOString()})` }));
        changes.push([id, false]);
      }
    }
    if (facts.length === 0) return;
    await o.writer.write(facts, { suspects: new Set(facts.map(factKey)) });
    for (const [id, isOpen] of changes) await o.store.markStall(id, isOpen);
    o.onFacts?.(facts);
  }

  const loop = repeatEvery(o.intervalMs, sweepOnce, (e) => o.log.error({ err: e }, 'sweep failed; retrying at the next tick'));

  return {
    sweepOnce,
    stop: () => loop.stop(),
  };
}
