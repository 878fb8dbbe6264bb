import { describe, expect, it } from 'vitest';
import { Subject, firstValueFrom, from, toArray } from 'rxjs';
import { mapAsync } from '../../src/operators/mapAsync.js';

/** A promise with its resolve and reject exposed. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
const tick = () => new Promise((r) => setImmediate(r));

describe('mapAsync', () => {
  it('runs at most `concurrency` projects at once, emits in settle order, and starts waiting values in order', async () => {
    const pending = new Map<string, ReturnType<typeof deferred<string>>>();
    const started: string[] = [];
    const out: string[] = [];
    let done = false;
    const src = new Subject<string>();
    src
      .pipe(
        mapAsync((v) => {
          started.push(v);
          const d = deferred<string>();
          pending.set(v, d);
          return d.promise;
        }, 2),
      )
      .subscribe({ next: (v) => out.push(v), complete: () => (done = true) });
    for (const v of ['a', 'b', 'c', 'd']) src.next(v);
    src.complete();
    expect(started).toEqual(['a', 'b']);
    pending.get('b')!.resolve('B');
    await tick();
    expect(out).toEqual(['B']);
    expect(started).toEqual(['a', 'b', 'c']);
    pending.get('c')!.resolve('C');
    pending.get('a')!.resolve('A');
    await tick();
    expect(out).toEqual(['B', 'C', 'A']);
    expect(started).toEqual(['a', 'b', 'c', 'd']);
    expect(done).toBe(false); // d is still in flight
    pending.get('d')!.resolve('D');
    await tick();
    expect(out).toEqual(['B', 'C', 'A', 'D']);
    expect(done).toBe(true);
  });

  it('maps every value of a long source exactly once', async () => {
    const n = 5_000;
    const out = await firstValueFrom(
      from(Array.from({ length: n }, (_, i) => i)).pipe(
        mapAsync(async (i) => {
          await tick();
          return i * 2;
        }, 64),
        toArray(),
      ),
    );
    expect(out).toHaveLength(n);
    expect(new Set(out).size).toBe(n);
    expect(out.reduce((s, x) => s + x, 0)).toBe(n * (n - 1));
  });

  it('errors when a project rejects, and starts nothing after unsubscribe', async () => {
    const err = new Error('boom');
    await expect(
      firstValueFrom(
        from([1, 2]).pipe(
          mapAsync(async (v) => {
            if (v === 2) throw err;
            return v;
          }, 1),
          toArray(),
        ),
      ),
    ).rejects.toBe(err);

    const started: number[] = [];
    const d = deferred<number>();
    const sub = from([1, 2, 3])
      .pipe(
        mapAsync((v) => {
          started.push(v);
          return d.promise;
        }, 1),
      )
      .subscribe();
    sub.unsubscribe();
    d.resolve(1);
    await tick();
    expect(started).toEqual([1]);
  });
});
