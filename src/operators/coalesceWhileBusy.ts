import { Observable, type OperatorFunction } from 'rxjs';

/**
 * Like `concatMap` over batches, but batches that arrive while `project` is still busy are merged
 * into one (up to `maxItems` items; a single larger batch is taken whole), so a slow sink receives
 * fewer, bigger batches instead of a queue of small ones. Order is preserved; one `project` at a time.
 *
 *   --[a]-[b]-[c]-[d]----|   (project of [a] busy until after [d])   ----ra------r[b,c,d]|
 */
export function coalesceWhileBusy<T, R>(maxItems: number, project: (batch: T[]) => Promise<R>): OperatorFunction<T[], R> {
  return (source) =>
    new Observable<R>((subscriber) => {
      const queue: T[][] = [];
      let busy = false;
      let completed = false;

      const take = (): T[] => {
        const out = queue.shift()!;
        while (queue.length > 0 && out.length + queue[0]!.length <= maxItems) out.push(...queue.shift()!);
        return out;
      };

      const pump = async (): Promise<void> => {
        if (busy) return;
        busy = true;
        try {
          while (queue.length > 0 && !subscriber.closed) subscriber.next(await project(take()));
        } catch (e) {
          subscriber.error(e);
          return;
        }
        busy = false;
        if (completed) subscriber.complete();
      };

      const sub = source.subscribe({
        next: (batch) => {
          // Copy: the batch is extended in place when later ones are merged into it.
          queue.push([...batch]);
          void pump();
        },
        error: (e) => subscriber.error(e),
        complete: () => {
          completed = true;
          if (!busy) subscriber.complete();
        },
      });
      return () => sub.unsubscribe();
    });
}
