import { describe, expect, it } from 'vitest';
import type { BlockRecord } from '../../src/streams/chain/blockHistory.js';
import { headPosition, linkBreak, planReorg } from '../../src/streams/chain/reorgHandling.js';

const h = (n: number, fork = '') => `0x${fork}${String(n).padStart(64 - fork.length, '0')}`;
/** Stored blocks lo..hi (highest first, as a walk reads them); `events` maps a number to its log indexes. */
function stored(lo: number, hi: number, events: Record<number, number[]> = {}): BlockRecord[] {
  const out: BlockRecord[] = [];
  for (let n = hi; n >= lo; n--) out.push({ number: BigInt(n), hash: h(n), parentHash: h(n - 1), logIndexes: events[n] ?? [] });
  return out;
}
/** What the node says now: blocks above `fork` have other hashes. */
const canonicalAbove = (fork: number) => (n: bigint) => (n > BigInt(fork) ? h(Number(n), 'f') : h(Number(n)));

describe('reorg handling', () => {
  it('places the final head against the stored top: behind, level, ahead, or nothing stored', () => {
    expect(headPosition(99n, { number: 100n })).toBe('behind');
    expect(headPosition(100n, { number: 100n })).toBe('level');
    expect(headPosition(101n, { number: 100n })).toBe('ahead');
    expect(headPosition(5n, null)).toBe('empty');
  });

  it('links a block to its stored predecessor by parent hash, and names the break', () => {
    expect(linkBreak({ number: 9n, hash: h(9) }, { number: 10n, parentHash: h(9) })).toBeNull();
    expect(linkBreak(null, { number: 10n, parentHash: h(9, 'f') })).toBeNull();
    expect(linkBreak({ number: 9n, hash: h(9) }, { number: 10n, parentHash: h(9, 'f') })).toMatch(/^block 10's parent is 0xf.*we processed 0x0.* at 9$/);
  });

  it('plans a shallow reorg: the fork point, the orphans, one retraction per orphan with events, lowest first', () => {
    // Walk from 105 down: 105..103 orphaned, 102 still canonical.
    const walked = stored(102, 105, { 103: [0, 2], 105: [1] });
    const plan = planReorg(7, walked, canonicalAbove(102))!;
    expect(plan.fork).toBe(102n);
    expect(plan.beyondHistory).toBe(false);
    expect(plan.orphans.map((r) => r.number)).toEqual([105n, 104n, 103n]);
    expect(plan.retractions).toEqual([
      { blockNumber: 103n, blockHash: h(103), eventIds: [`7:${h(103)}:0`, `7:${h(103)}:2`], msgId: `retract:7:${h(103)}` },
      { blockNumber: 105n, blockHash: h(105), eventIds: [`7:${h(105)}:1`], msgId: `retract:7:${h(105)}` },
    ]);
  });

  it('retracts nothing for orphans without events, yet still rewinds to the fork point', () => {
    const plan = planReorg(1, stored(50, 52), canonicalAbove(50))!;
    expect(plan.retractions).toEqual([]);
    expect(plan).toMatchObject({ fork: 50n, beyondHistory: false });
    expect(plan.orphans).toHaveLength(2);
  });

  it('plans nothing when the top block still stands (the reorg did not reach the history)', () => {
    expect(planReorg(1, stored(100, 100), canonicalAbove(100))).toBeNull();
  });

  it('falls back below the oldest stored block when the fork is beyond the history, and says so', () => {
    const plan = planReorg(1, stored(90, 95, { 90: [0] }), canonicalAbove(10))!;
    expect(plan).toMatchObject({ fork: 89n, beyondHistory: true });
    expect(plan.orphans).toHaveLength(6);
    expect(plan.retractions.map((r) => r.blockNumber)).toEqual([90n]);
  });

  it('stops at the first canonical record: a record below it is never an orphan', () => {
    const walked = [...stored(100, 101), ...stored(98, 99)];
    const plan = planReorg(1, walked, (n) => (n === 101n ? h(101, 'f') : h(Number(n))))!;
    expect(plan.fork).toBe(100n);
    expect(plan.orphans.map((r) => r.number)).toEqual([101n]);
  });
});
