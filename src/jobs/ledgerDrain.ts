import type { JetStreamManager } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { repeatEvery } from '../lib/repeatEvery.js';
import type { MatchStore } from '../state/matchStore.js';
import type { StreamPartition } from '../streams/partitions.js';

export interface LedgerDrainOptions {
  jsm: JetStreamManager;
  store: MatchStore;
  /** The partitions this worker consumes (partition 0 alone without partitioned streams). */
  partitions: readonly StreamPartition[];
  consumerName: string;
  everyMs: number;
  log: Logger;
  /** The wall clock a drained partition is recorded at (tests inject one). */
  now?: () => number;
}

/**
 * Tells the sweeper whether the bank feed is idle or behind: every `everyMs`, for each ledger
 * partition this worker consumes (the one ledger stream without partitions), a consumer with
 * nothing pending and nothing unacked is recorded as drained (MatchStore.markLedgerDrained). Only
 * a silent feed that was also found drained lately lets chain legs' windows follow the wall clock
 * (src/domain/partitionWatermarks.ts): a posting stuck in delivery, waiting for redelivery or
 * in a partition nobody consumes holds them open, instead of raising MISSING_BANK_CREDIT for the
 * mint it would have matched.
 */
export function startLedgerDrain(o: LedgerDrainOptions): { stop(): Promise<void>; checkOnce(): Promise<number[]> } {
  async function checkOnce(): Promise<number[]> {
    const drained: number[] = [];
    await Promise.all(
      o.partitions.map(async (p) => {
        // Drained as of before the question was asked: a posting that arrives while the answer
        // travels must not be covered by the mark.
        const asOf = (o.now ?? Date.now)();
        const ci = await o.jsm.consumers.info(p.ledgerStream, o.consumerName);
        if (ci.num_pending > 0 || ci.num_ack_pending > 0) return;
        await o.store.markLedgerDrained(p.partition, asOf);
        drained.push(p.partition);
      }),
    );
    return drained.sort((a, b) => a - b);
  }
  const loop = repeatEvery(o.everyMs, checkOnce, (e) => o.log.warn({ err: e }, 'could not check the ledger partitions for idleness; retrying'));
  return { stop: () => loop.stop(), checkOnce };
}
