import { describe, expect, it } from 'vitest';
import { backoffMs } from '../../src/lib/backoff.js';

describe('backoff', () => {
  const b = { initialMs: 100, maxMs: 1_000 };
  it('doubles from the initial delay and stops at the maximum', () => {
    expect([0, 1, 2, 3, 4, 60, 5_000].map((n) => backoffMs(n, { ...b, jitter: 'none' }))).toEqual([100, 200, 400, 800, 1_000, 1_000, 1_000]);
  });

  it('full jitter is uniform in [0, cap]; equal jitter in [cap/2, cap]', () => {
    expect(backoffMs(3, b, () => 0)).toBe(0);
    expect(backoffMs(3, b, () => 0.999999)).toBe(799);
    expect(backoffMs(3, { ...b, jitter: 'equal' }, () => 0)).toBe(400);
    expect(backoffMs(3, { ...b, jitter: 'equal' }, () => 0.999999)).toBe(799);
  });

  it('treats a negative retry as the first', () => {
    expect(backoffMs(-1, { ...b, jitter: 'none' })).toBe(100);
  });
});
