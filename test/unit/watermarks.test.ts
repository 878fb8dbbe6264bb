import { describe, expect, it } from 'vitest';
import { effectiveWatermarks } from '../../src/jobs/sweeper.js';
import type { Watermarks } from '../../src/state/matchStore.js';

const o = { allowedLatenessMs: 5_000, ledgerIdleMs: 60_000 };
const NOW = 1_000_000;

/** The watermarks of one ledger feed (no partitioned streams), as MatchStore.watermarks reads them. */
function single(ledger: number, seenAt: number, drainedAt: number, chain = 0): Watermarks {
  return { ledger, ledgerSeenAt: seenAt, chain, chainSeenAt: NOW, ledgerPartitions: [{ ledger, seenAt, drainedAt }] };
}

describe('effectiveWatermarks', () => {
  it("trails a busy ledger's latest booking time by the allowed lateness", () => {
    expect(effectiveWatermarks(single(900_000, NOW - 1_000, NOW), o, NOW).forChainLegs).toBe(895_000);
  });

  it('keeps the ledger watermark while silence is within the idle period (boundary inclusive)', () => {
    expect(effectiveWatermarks(single(900_000, NOW - 60_000, NOW), o, NOW).forChainLegs).toBe(895_000);
  });

  it('follows the wall clock minus lateness once the ledger has been silent longer than ledgerIdleMs and was found drained', () => {
    expect(effectiveWatermarks(single(900_000, NOW - 60_001, NOW - 500), o, NOW).forChainLegs).toBe(NOW - 5_000);
  });

  it('holds a silent ledger at its booking-time watermark while a posting waits in its consumer (not drained lately)', () => {
    // Silent for long, but the last time a worker found nothing pending was before the idle period:
    // a posting is stuck in delivery or waits for redelivery, and may match a mint that waits.
    expect(effectiveWatermarks(single(900_000, NOW - 120_000, NOW - 60_001), o, NOW).forChainLegs).toBe(895_000);
    expect(effectiveWatermarks(single(900_000, NOW - 120_000, -1), o, NOW).forChainLegs).toBe(895_000);
  });

  it('never lets the wall clock pull an idle ledger watermark backwards', () => {
    expect(effectiveWatermarks(single(NOW + 50_000, NOW - 120_000, NOW), o, NOW).forChainLegs).toBe(NOW + 45_000);
  });

  it('treats a never-seen, drained ledger as idle and follows the wall clock; never drained, it closes nothing', () => {
    expect(effectiveWatermarks(single(-1, -1, NOW - 1), o, NOW).forChainLegs).toBe(NOW - 5_000);
    expect(effectiveWatermarks(single(-1, -1, -1), o, NOW).forChainLegs).toBe(-Infinity);
  });

  it('passes the confirmed chain watermark through unchanged for bank legs', () => {
    expect(effectiveWatermarks(single(1, NOW, NOW, 777_777), o, NOW).forBankLegs).toBe(777_777);
    expect(effectiveWatermarks(single(1, NOW, NOW, -1), o, NOW).forBankLegs).toBe(-1);
  });
});
