import { describe, expect, it } from 'vitest';
import { findSplit, sumAmounts, type SplitCandidate } from '../../src/domain/subsetSum.js';

const c = (id: string, amountKey: string, eventTime = 0): SplitCandidate => ({ id, amountKey, eventTime });
const exact = (a: string) => ({ lo: a, hi: a });

describe('bounded subset-sum split search', () => {
  it('finds the legs that add up to the amount exactly, ignoring the others', () => {
    const r = findSplit(exact('100000'), [c('a', '25000', 1), c('b', '99', 2), c('x', '60000', 3), c('d', '15000', 4)], { maxLegs: 12, maxParts: 4 });
    expect(r.t).toBe('found');
    expect((r as Extract<typeof r, { t: 'found' }>).parts.map((p) => p.id)).toEqual(['a', 'x', 'd']);
  });

  it('prefers the fewest legs, then the earliest', () => {
    const r = findSplit(exact('100'), [c('a', '50', 1), c('b', '25', 2), c('c', '25', 3), c('d', '50', 4)], { maxLegs: 12, maxParts: 4 });
    expect((r as Extract<typeof r, { t: 'found' }>).parts.map((p) => p.id)).toEqual(['a', 'd']);
  });

  it('meets the allowance at its edge and not one minor unit beyond', () => {
    const legs = [c('a', '60000'), c('b', '39950')];
    expect(findSplit({ lo: '99950', hi: '100000' }, legs, { maxLegs: 12, maxParts: 4 }).t).toBe('found');
    expect(findSplit({ lo: '99951', hi: '100000' }, legs, { maxLegs: 12, maxParts: 4 }).t).toBe('none');
  });

  it('adds token amounts with fractions of a minor unit exactly', () => {
    expect(findSplit(exact('100000'), [c('a', '33333.3333333333333333'), c('b', '66666.6666666666666667')], { maxLegs: 12, maxParts: 4 }).t).toBe('found');
    expect(sumAmounts(['33333.3333333333333333', '66666.6666666666666667'])).toBe('100000');
  });

  it('does not search beyond its bound, and says why', () => {
    const many = Array.from({ length: 13 }, (_, i) => c(`l${i}`, String(i + 1)));
    expect(findSplit(exact('3'), many, { maxLegs: 12, maxParts: 4 })).toEqual({ t: 'bounded', reason: 'split search skipped: 13 open legs of the other side, beyond the bound of 12' });
  });

  it('at its bound tries every subset of up to maxParts legs once, and finds none that is not there', () => {
    const legs = Array.from({ length: 16 }, (_, i) => c(`l${i}`, String(1_000_000 + i * 1_000)));
    const r = findSplit(exact('1'), legs, { maxLegs: 16, maxParts: 16 });
    // C(16,2) + … + C(16,16) = 2^16 − 1 − 16
    expect(r).toEqual({ t: 'none', subsetsTried: 65_519 });
  });
});
