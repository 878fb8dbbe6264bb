import { describe, expect, it } from 'vitest';
import { Subject, lastValueFrom, toArray } from 'rxjs';
import { coalesceWhileBusy } from '../../src/operators/coalesceWhileBusy.js';

/** A project whose calls resolve only when the test says so. */
function gated() {
  const calls: { batch: number[]; release: () => void }[] = [];
  const project = (batch: number[]) => new Promise<number[]>((resolve) => calls.push({ batch, release: () => resolve(batch) }));
  return { calls, project };
}
const tick = () => new Promise((r) => setImmediate(r));

describe('coalesceWhileBusy', () => {
  it('merges the batches that arrive while the project is busy into one, in order', async () => {
    const { calls, project } = gated();
    const input = new Subject<number[]>();
    const out = lastValueFrom(input.pipe(coalesceWhileBusy(100, project), toArray()));
    input.next([1, 2]);
    await tick();
    input.next([3]);
    input.next([4, 5]);
    input.next([6]);
    input.complete();
    expect(calls.map((c) => c.batch)).toEqual([[1, 2]]);
    calls[0]!.release();
    await tick();
    expect(calls.map((c) => c.batch)).toEqual([
      [1, 2],
      [3, 4, 5, 6],
    ]);
    calls[1]!.release();
    expect(await out).toEqual([
      [1, 2],
      [3, 4, 5, 6],
    ]);
  });

  it('never merges beyond maxItems, but takes a single larger batch whole', async () => {
    const { calls, project } = gated();
    const input = new Subject<number[]>();
    const out = lastValueFrom(input.pipe(coalesceWhileBusy(3, project), toArray()));
    input.next([0]);
    await tick();
    input.next([1, 2]);
    input.next([3, 4]);
    input.next([5, 6, 7, 8]);
    input.complete();
    for (let k = 0; k < 4; k++) {
      await tick();
      calls[k]?.release();
    }
    expect(await out).toEqual([[0], [1, 2], [3, 4], [5, 6, 7, 8]]);
  });

  it('propagates a failure of the project', async () => {
    const input = new Subject<number[]>();
    const out = lastValueFrom(
      input.pipe(
        coalesceWhileBusy(10, async () => {
          throw new Error('boom');
        }),
      ),
    );
    input.next([1]);
    await expect(out).rejects.toThrow('boom');
  });
});
