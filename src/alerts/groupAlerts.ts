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
  /**
   * Most groups remembered at once (default 10,000): beyond it, idle groups are forgotten at once
   * instead of at the end of their interval. Groups still holding alerts are never dropped.
   */
  maxGroups?: number;
  /** Called with the number of groups remembered whenever it changes (the notifier's gauge). */
  onSize?: (groups: number) => void;
}

/**
 * Groups alerts in the manner of Alertmanager: the first alert of a group starts its group wait and
 * everything of that group arriving meanwhile goes out as one batch; later alerts of the group are
 * held until group interval after the previous batch, then go out together. A group silent for a
 * whole interval starts afresh with a group wait. On completion, held alerts are released at once.
 * Memory shrinks with the traffic: a group is forgotten one interval after its last batch if
 * nothing arrived meanwhile (it would start afresh anyway), so only live groups are remembered.
 *
 *   groupWait 3, groupInterval 10, one key:
 *   a-b---c--------------d------|
 *   ---x---------y---------z----(w|)     x=[a,b] first, y=[c] at 13, z=[d] at 23
 */
export function groupAlerts<T>(o: GroupAlertsOptions<T>): OperatorFunction<T, AlertBatch<T>> {
  const scheduler = o.scheduler ?? asyncScheduler;
  return (source) =>
    new Observable<AlertBatch<T>>((subscriber) => {
      const maxGroups = o.maxGroups ?? 10_000;
      /** timer: the pending batch; expiry: the forgetting of an idle group. */
      const groups = new Map<string, { items: T[]; timer?: Subscription | undefined; expiry?: Subscription | undefined; lastFlush?: number | undefined }>();
      let reported = -1;
      const report = () => {
        if (groups.size !== reported) {
          reported = groups.size;
          o.onSize?.(reported);
        }
      };

      const flush = (key: string) => {
        const g = groups.get(key);
        if (!g) return;
        g.timer = undefined;
        if (g.items.length === 0) return;
        const items = g.items;
        const first = g.lastFlush === undefined;
        g.items = [];
        g.lastFlush = scheduler.now();
        // Nothing more within the interval: the group would start afresh, so forget it then.
        g.expiry = scheduler.schedule(() => {
          if (groups.get(key) === g && !g.timer && g.items.length === 0) {
            groups.delete(key);
            report();
          }
        }, o.groupIntervalMs);
        subscriber.next({ key, items, first });
      };

      // Over the bound: forget every group holding nothing now, even within its interval (a later
      // alert of it then waits a group wait instead of the rest of the interval).
      const forgetIdle = () => {
        for (const [k, g] of groups)
          if (!g.timer && g.items.length === 0) {
            g.expiry?.unsubscribe();
            groups.delete(k);
          }
      };

      const sub = source.subscribe({
        next(item) {
          const key = o.key(item);
          if (groups.size >= maxGroups && !groups.has(key)) forgetIdle();
          let g = groups.get(key);
          if (!g) groups.set(key, (g = { items: [] }));
          g.expiry?.unsubscribe();
          g.expiry = undefined;
          g.items.push(item);
          report();
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
          for (const g of groups.values()) g.expiry?.unsubscribe();
          groups.clear();
          report();
          subscriber.complete();
        },
      });
      return () => {
        sub.unsubscribe();
        for (const g of groups.values()) {
          g.timer?.unsubscribe();
          g.expiry?.unsubscribe();
        }
        groups.clear();
      };
    });
}
