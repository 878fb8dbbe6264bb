import type { JetStreamManager } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { repeatEvery } from '../lib/repeatEvery.js';
import type { MatchStore } from '../state/matchStore.js';
import type { StreamPartition } from '../streams/partitions.js';

export interface PartitionDrainOptions {
  jsm: JetStreamManager;
  store: MatchStore;
  /** The partitions this worker consumes. */
  partitions: readonly StreamPartition[];
  consumerName: string;
  everyMs: number;
  log: Logger;
}

/**
 * With partitioned streams, tells the sweeper which ledger partitions are idle rather than behind:
 * every `everyMs`, for each partition this worker consumes, a ledger consumer with nothing pending
 * and nothing unacked is recorded as drained (MatchStore.markLedgerDrained). Only a recently
 * drained, silent partition lets chain legs' windows follow the wall clock
 * (src/domain/partitionWatermarks.ts): a partition nobody consumes holds them open.
 */
export function startPartitionDrain(o: PartitionDrainOptions): { stop(): Promise<void>; checkOnce(): Promise<number[]> } {
  async function checkOnce(): Promise<number[]> {
    const drained: number[] = [];
    await Promise.all(
      o.partitions.map(async (p) => {
        const ci = await o.jsm.consumers.info(p.ledgerStream, o.consumerName);
        if (ci.num_pending > 0 || ci.num_ack_pending > 0) return;
        await o.store.markLedgerDrained(p.partition);
        drained.push(p.partition);
      }),
    );
    return drained.sort((a, b) => a - b);
  }
  const loop = repeatEvery(o.everyMs, checkOnce, (e) => o.log.warn({ err: e }, 'could not check the ledger partitions for idleness; retrying'));
  return { stop: () => loop.stop(), checkOnce };
}
