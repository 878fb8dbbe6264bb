import { Observable, type OperatorFunction } from 'rxjs';

/**
 * Maps each value through a promise-returning `project`, at most `concurrency` at a time, and
 * emits the results in the order they settle: `mergeMap(project, concurrency)` for promises, without
 * an inner subscription per value (mergeMap keeps those in an array whose removal is linear, which
 * shows at a thousand values in flight). Values beyond `concurrency` wait in order. A rejected
 * project errors the output; completion waits for the values in flight.
 *
 *   --a--b--c---|   (concurrency 2; b settles first, c waits for a slot)   -----B-A---C|
 */
export function mapAsync<T, R>(project: (value: T) => Promise<R>, concurrency: number): OperatorFunction<T, R> {
  return (source) =>
    new Observable<R>((subscriber) => {
      const waiting: T[] = [];
      let head = 0;
      let active = 0;
      let sourceDone = false;

      // A queue read from `head`; compacted once most of it has been read.
      const take = (): T => {
        const value = waiting[head]!;
        waiting[head++] = undefined as T;
        if (head > 1_024 && head * 2 > waiting.length) {
          waiting.splice(0, head);
          head = 0;
        }
        return value;
      };

      const start = (value: T): void => {
        active++;
        project(value).then(
          (r) => {
            active--;
            if (subscriber.closed) return; // unsubscribed: start nothing more
            subscriber.next(r);
            // Refill the slot before completing: a value may be waiting for it.
            if (head < waiting.length) start(take());
            else if (sourceDone && active === 0) subscriber.complete();
          },
          (e: unknown) => subscriber.error(e),
        );
      };

      const sub = source.subscribe({
        next: (value) => {
          if (active < concurrency) start(value);
          else waiting.push(value);
        },
        error: (e) => subscriber.error(e),
        complete: () => {
          sourceDone = true;
          if (active === 0 && head >= waiting.length) subscriber.complete();
        },
      });
      return () => sub.unsubscribe();
    });
}
