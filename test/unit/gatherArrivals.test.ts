import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Subject } from 'rxjs';
import { gatherArrivals } from '../../src/operators/gatherArrivals.js';

/** What came out, and in which release (values passed on in one synchronous run share one). */
function observe(input: Subject<number>, holdMs: number, maxItems: number) {
  const releases: number[][] = [];
  let open: number[] | undefined;
  let done = false;
  let error: unknown;
  input.pipe(gatherArrivals(holdMs, maxItems)).subscribe({
    next: (v) => {
      if (!open) {
        open = [];
        releases.push(open);
        queueMicrotask(() => (open = undefined));
      }
      open.push(v);
    },
    complete: () => (done = true),
    error: (e: unknown) => (error = e),
  });
  return { releases, done: () => done, error: () => error };
}

describe('gatherArrivals', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('holds values for holdMs after the first, then passes them on together, in order', async () => {
    const input = new Subject<number>();
    const o = observe(input, 5, 100);
    input.next(1);
    await vi.advanceTimersByTimeAsync(2);
    input.next(2);
    input.next(3);
    expect(o.releases).toEqual([]);
    await vi.advanceTimersByTimeAsync(2);
    expect(o.releases).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(o.releases).toEqual([[1, 2, 3]]);
    // The next value starts a new hold of its own.
    input.next(4);
    await vi.advanceTimersByTimeAsync(4);
    expect(o.releases).toEqual([[1, 2, 3]]);
    await vi.advanceTimersByTimeAsync(1);
    expect(o.releases).toEqual([[1, 2, 3], [4]]);
  });

  it('passes maxItems held values on at once, without waiting', async () => {
    const input = new Subject<number>();
    const o = observe(input, 1_000, 3);
    for (const v of [1, 2, 3, 4]) input.next(v);
    await Promise.resolve();
    expect(o.releases).toEqual([[1, 2, 3]]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(o.releases).toEqual([[1, 2, 3], [4]]);
  });

  it('passes the held values on before completing or failing', async () => {
    const done = new Subject<number>();
    const a = observe(done, 1_000, 100);
    done.next(1);
    done.complete();
    expect(a.releases).toEqual([[1]]);
    expect(a.done()).toBe(true);

    const failed = new Subject<number>();
    const b = observe(failed, 1_000, 100);
    failed.next(2);
    failed.error(new Error('source failed'));
    expect(b.releases).toEqual([[2]]);
    expect(String(b.error())).toContain('source failed');
    // Nothing is left to fire later.
    expect(vi.getTimerCount()).toBe(0);
  });

  it('holdMs 0 passes every value straight through', () => {
    const input = new Subject<number>();
    const seen: number[] = [];
    input.pipe(gatherArrivals(0, 100)).subscribe((v) => seen.push(v));
    input.next(1);
    expect(seen).toEqual([1]);
    expect(vi.getTimerCount()).toBe(0);
  });
});
