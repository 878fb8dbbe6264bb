import { asyncScheduler, Observable, type OperatorFunction, type SchedulerLike, type Subscription } from 'rxjs';

/** Alerts of one group released together. */
export interface AlertBatch<T> {
  key: string;
  items: T[];
  /** True for the group's first notification (after group wait), false for a follow-up (after group interval). */
  first: boolean;
}

export interface GroupAlertsOptions<T> {
  key: (item: T) => string;
  /** A new group waits this long for more items before its first batch. */
  groupWaitMs: number;
  /** After a batch, the group's next batch goes out no sooner than this. */
  groupIntervalMs: number;
  scheduler?: SchedulerLike;
}

/**
 * Groups alerts in the manner of Alertmanager: the first alert of a group starts its group wait and
 * everything of that group arriving meanwhile goes out as one batch; later alerts of the group are
 * held until group interval after the previous batch, then go out together. A group silent for a
 * whole interval starts afresh with a group wait. On completion, held alerts are released at once.
 *
 *   groupWait 3, groupInterval 10, one key:
 *   a-b---c--------------d------|
 *   ---x---------y---------z----(w|)     x=[a,b] first, y=[c] at 13, z=[d] at 23
 */
export function groupAlerts<T>(o: GroupAlertsOptions<T>): OperatorFunction<T, AlertBatch<T>> {
  const scheduler = o.scheduler ?? asyncScheduler;
  return (source) => new Observable<AlertBatch<T>>((subscriber) => {
    const groups = new Map<string, { items: T[]; timer?: Subscription; lastFlush?: number }>();

    const flush = (key: string) => {
      const g = groups.get(key);
      if (!g) return;
      g.timer = undefined;
      if (g.items.length === 0) return;
      const items = g.items;
      const first = g.lastFlush === undefined;
      g.items = [];
      g.lastFlush = scheduler.now();
      subscriber.next({ key, items, first });
    };

    // Groups with nothing held and a past interval start afresh anyway: forget them (bounded memory).
    const forgetIdle = () => {
      const now = scheduler.now();
      for (const [k, g] of groups) if (!g.timer && g.items.length === 0 && (g.lastFlush === undefined || now >= g.lastFlush + o.groupIntervalMs)) groups.delete(k);
    };

    const sub = source.subscribe({
      next(item) {
        const key = o.key(item);
        if (groups.size > 10_000) forgetIdle();
        let g = groups.get(key);
        if (!g) groups.set(key, (g = { items: [] }));
        g.items.push(item);
        if (g.timer) return;
        const now = scheduler.now();
        const fresh = g.lastFlush === undefined || now >= g.lastFlush + o.groupIntervalMs;
        if (fresh) g.lastFlush = undefined;
        const delay = fresh ? o.groupWaitMs : g.lastFlush! + o.groupIntervalMs - now;
        g.timer = scheduler.schedule(() => flush(key), delay);
      },
      error: (e) => subscriber.error(e),
      complete() {
        for (const [key, g] of groups) {
          g.timer?.unsubscribe();
          flush(key);
        }
        subscriber.complete();
      },
    });
    return () => {
      sub.unsubscribe();
      for (const g of groups.values()) g.timer?.unsubscribe();
      groups.clear();
    };
  });
}
