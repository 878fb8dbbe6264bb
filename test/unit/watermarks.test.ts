import { describe, expect, it } from 'vitest';
import { effectiveWatermarks } from '../../src/jobs/sweeper.js';

const o = { allowedLatenessMs: 5_000, ledgerIdleMs: 60_000 };
const NOW = 1_000_000;

describe('effectiveWatermarks', () => {
  it("trails a busy ledger's latest booking time by the allowed lateness", () => {
    const wm = effectiveWatermarks({ ledger: 900_000, ledgerSeenAt: NOW - 1_000, chain: 800_000, chainSeenAt: NOW }, o, NOW);
    expect(wm.forChainLegs).toBe(895_000);
  });

  it('keeps the ledger watermark while silence is within the idle period (boundary inclusive)', () => {
    const wm = effectiveWatermarks({ ledger: 900_000, ledgerSeenAt: NOW - 60_000, chain: 0, chainSeenAt: NOW }, o, NOW);
    expect(wm.forChainLegs).toBe(895_000);
  });

  it('follows the wall clock minus lateness once the ledger has been idle longer than ledgerIdleMs', () => {
    const wm = effectiveWatermarks({ ledger: 900_000, ledgerSeenAt: NOW - 60_001, chain: 0, chainSeenAt: NOW }, o, NOW);
    expect(wm.forChainLegs).toBe(NOW - 5_000);
  });

  it('never lets the wall clock pull an idle ledger watermark backwards', () => {
    const wm = effectiveWatermarks({ ledger: NOW + 50_000, ledgerSeenAt: NOW - 120_000, chain: 0, chainSeenAt: NOW }, o, NOW);
    expect(wm.forChainLegs).toBe(NOW + 45_000);
  });

  it('treats a never-seen ledger as idle and follows the wall clock', () => {
    const wm = effectiveWatermarks({ ledger: -1, ledgerSeenAt: -1, chain: -1, chainSeenAt: -1 }, o, NOW);
    expect(wm.forChainLegs).toBe(NOW - 5_000);
  });

  it('passes the confirmed chain watermark through unchanged for bank legs', () => {
    expect(effectiveWatermarks({ ledger: 1, ledgerSeenAt: NOW, chain: 777_777, chainSeenAt: 0 }, o, NOW).forBankLegs).toBe(777_777);
    expect(effectiveWatermarks({ ledger: 1, ledgerSeenAt: NOW, chain: -1, chainSeenAt: -1 }, o, NOW).forBankLegs).toBe(-1);
  });
});
