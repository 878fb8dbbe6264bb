import type { Logger } from 'pino';
import type { Fact } from '../domain/facts.js';
import { factKey } from '../domain/facts.js';
import { factOfExpiredLeg } from '../domain/outcomeFacts.js';
import type { FactWriter } from '../sinks/clickhouse/factWriter.js';
import type { MatchStore, Watermarks } from '../state/matchStore.js';

export interface SweeperOptions {
  store: MatchStore;
  writer: FactWriter;
  log: Logger;
  allowedLatenessMs: number;
  ledgerIdleMs: number;
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
 * by the allowed lateness, or follows the wall clock when the feed has been silent.
 */
export function effectiveWatermarks(w: Watermarks, o: { allowedLatenessMs: number; ledgerIdleMs: number }, now: number) {
  const ledgerIdle = w.ledgerSeenAt < 0 || now - w.ledgerSeenAt > o.ledgerIdleMs;
  const ledger = Math.max(w.ledger - o.allowedLatenessMs, ledgerIdle ? now - o.allowedLatenessMs : -Infinity);
  return { forBankLegs: w.chain, forChainLegs: ledger };
}

/**
 * Closes windows: claims expired legs atomically (two workers never both raise one), writes their
 * discrepancies, then confirms the claims. A crash between claim and write leaves the claim to be
 * handed out again after its visibility timeout; the discrepancy id is deterministic.
 */
export function startSweeper(o: SweeperOptions): { stop(): Promise<void>; sweepOnce(): Promise<number> } {
  const now = o.now ?? Date.now;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;
  let stopped = false;

  async function sweepOnce(): Promise<number> {
    const t = now();
    const wm = effectiveWatermarks(await o.store.watermarks(), o, t);
    let total = 0;
    for (const [side, watermark] of [['bank', wm.forBankLegs], ['chain', wm.forChainLegs]] as const) {
      if (!Number.isFinite(watermark) || watermark < 0) continue;
      for (;;) {
        const legs = await o.store.claimExpired(side, watermark, o.batch ?? 500, t);
        if (legs.length === 0) break;
        const facts = legs.map((l) => factOfExpiredLeg(l, t));
        // A claim handed out again may already be durable: let the writer check.
        await o.writer.write(facts, { suspects: new Set(facts.map(factKey)) });
        await o.store.ackClaimed(legs.map((l) => l.id));
        o.onFacts?.(facts);
        total += legs.length;
        if (legs.length < (o.batch ?? 500)) break;
      }
    }
    const gcMark = Math.min(wm.forBankLegs, wm.forChainLegs);
    if (Number.isFinite(gcMark) && gcMark > 0) await o.store.gc(gcMark);
    return total;
  }

  const tick = () => {
    if (stopped) return;
    running = sweepOnce()
      .catch((e) => {
        o.log.error({ err: e }, 'sweep failed; retrying at the next tick');
        return 0;
      })
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, o.intervalMs);
      });
  };
  timer = setTimeout(tick, o.intervalMs);

  return {
    sweepOnce,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
