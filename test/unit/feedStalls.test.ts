import { describe, expect, it } from 'vitest';
import { feedStallDecision, feedStallId } from '../../src/domain/feedStalls.js';

const STALL = 60_000;

describe('feedStallDecision', () => {
  it('does nothing for a source never seen', () => {
    expect(feedStallDecision('ledger', -1, [], STALL, 1_000_000)).toEqual({ resolve: [] });
  });

  it('does nothing while the source is seen within the stall period', () => {
    expect(feedStallDecision('ledger', 1_000_000, [], STALL, 1_000_000 + STALL)).toEqual({ resolve: [] });
  });

  it('opens an episode named after the last sign of life once the source is silent too long', () => {
    expect(feedStallDecision('chain', 1_000_000, [], STALL, 1_000_001 + STALL)).toEqual({ open: 'FEED_STALLED:chain:1000000', resolve: [] });
  });

  it('names the same episode on every sweep of one stall, so it is opened once', () => {
    const a = feedStallDecision('ledger', 5, [], STALL, 5 + STALL + 1);
    const b = feedStallDecision('ledger', 5, [a.open!], STALL, 5 + STALL * 3);
    expect(b).toEqual({ open: a.open, resolve: [] });
  });

  it('resolves the open episodes of that source, and only of that source, when it moves again', () => {
    const open = [feedStallId('ledger', 5), feedStallId('chain', 7)];
    expect(feedStallDecision('ledger', 10_000_000, open, STALL, 10_000_100)).toEqual({ resolve: ['FEED_STALLED:ledger:5'] });
  });

  it('resolves an earlier episode and opens the new one when the source woke briefly and went silent again', () => {
    const open = [feedStallId('ledger', 5)];
    expect(feedStallDecision('ledger', 1_000, open, STALL, 1_000 + STALL + 1)).toEqual({ open: 'FEED_STALLED:ledger:1000', resolve: ['FEED_STALLED:ledger:5'] });
  });
});
