import { Observable, type MonoTypeOperatorFunction } from 'rxjs';

/**
 * Holds values that arrive one at a time for up to `holdMs` after the first of them, then passes
 * them all on in one turn of the event loop, in order; `maxItems` held values are passed on at once.
 * Values passed on together share their later round trips (the stage's Redis calls of one turn go
 * in one pipeline and one script call), which is what a message costs most when it arrives alone:
 * on the 2-core machine of docs/performance.md one isolated Redis round trip costs the daemon
 * ~80 µs of CPU, four in one turn ~30 µs each. `holdMs` 0: values pass straight through.
 * Completion and errors pass the held values on first.
 *
 *   --a-b--c------d-|   (holdMs 3 ticks)   ----abc------d|
 */
export function gatherArrivals<T>(holdMs: number, maxItems: number): MonoTypeOperatorFunction<T> {
  if (holdMs <= 0) return (source) => source;
  return (source) =>
    new Observable<T>((subscriber) => {
      let held: T[] = [];
      let timer: ReturnType<typeof setTimeout> | undefined;
      const release = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        timer = undefined;
        const out = held;
        held = [];
        for (const v of out) {
          if (subscriber.closed) return;
          subscriber.next(v);
        }
      };
      const sub = source.subscribe({
        next: (v) => {
          held.push(v);
          if (held.length >= maxItems) release();
          else timer ??= setTimeout(release, holdMs);
        },
        error: (e) => {
          release();
          subscriber.error(e);
        },
        complete: () => {
          release();
          subscriber.complete();
        },
      });
      return () => {
        if (timer !== undefined) clearTimeout(timer);
        sub.unsubscribe();
      };
    });
}
