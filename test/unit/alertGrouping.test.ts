import { describe, expect, it } from 'vitest';
import { TestScheduler } from 'rxjs/testing';
import { map } from 'rxjs';
import { groupAlerts, type AlertBatch } from '../../src/alerts/groupAlerts.js';

const scheduler = () => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
/** Items are 'KEY:n'; the group key is the part before the colon. */
const key = (s: string) => s.split(':')[0]!;
const show = (b: AlertBatch<string>) => `${b.first ? 'F' : 'N'}${b.items.join(',')}`;

describe('groupAlerts (virtual time)', () => {
  it('holds a new group for the group wait and sends everything that arrived meanwhile as one batch', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const src = cold('a 1ms b 2ms c', { a: 'K:1', b: 'K:2', c: 'K:3' });
      // a at 0, b at 2, c at 5; group wait 10 → one batch at 10.
      expectObservable(src.pipe(groupAlerts({ key, groupWaitMs: 10, groupIntervalMs: 100 }), map(show))).toBe('10ms x', { x: 'FK:1,K:2,K:3' });
    });
  });

  it('sends later alerts of a notified group together, one group interval after the previous batch', () => {
    scheduler().run(({ cold, expectObservable }) => {
      // a at 0 → batch at 3; b at 5 and c at 9 → batch at 3 + 10 = 13; d at 20 → 13 + 10 = 23.
      const src = cold('a 4ms b 3ms c 10ms d', { a: 'K:a', b: 'K:b', c: 'K:c', d: 'K:d' });
      expectObservable(src.pipe(groupAlerts({ key, groupWaitMs: 3, groupIntervalMs: 10 }), map(show))).toBe('3ms x 9ms y 9ms z', { x: 'FK:a', y: 'NK:b,K:c', z: 'NK:d' });
    });
  });

  it('keeps groups apart: each kind+token has its own timers', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const src = cold('a b c', { a: 'A:1', b: 'B:1', c: 'A:2' });
      // a at 0, b at 1, c at 2: A flushes at 5 with [1,2], B at 6.
      expectObservable(src.pipe(groupAlerts({ key, groupWaitMs: 5, groupIntervalMs: 50 }), map(show))).toBe('5ms x y', { x: 'FA:1,A:2', y: 'FB:1' });
    });
  });

  it('starts afresh with a group wait once a group has been quiet for a whole interval', () => {
    scheduler().run(({ cold, expectObservable }) => {
      // a at 0 → 2; b at 30 (≥ 2 + 10) → a new first batch at 32.
      const src = cold('a 29ms b', { a: 'K:a', b: 'K:b' });
      expectObservable(src.pipe(groupAlerts({ key, groupWaitMs: 2, groupIntervalMs: 10 }), map(show))).toBe('2ms x 29ms y', { x: 'FK:a', y: 'FK:b' });
    });
  });

  it('turns a storm of 500 alerts of one kind and token into one batch', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const values: Record<string, string> = {};
      let marbles = '';
      for (let i = 0; i < 500; i++) {
        const c = String.fromCharCode(0x100 + i);
        values[c] = `K:${i}`;
        marbles += c;
      }
      const src = cold(marbles, values);
      const sizes = src.pipe(
        groupAlerts({ key, groupWaitMs: 1_000, groupIntervalMs: 5_000 }),
        map((b) => b.items.length),
      );
      // 500 frames of 1 ms each; the wait is from the first.
      expectObservable(sizes).toBe('1000ms x', { x: 500 });
    });
  });

  it('releases held alerts at once when the source completes', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const src = cold('a b |', { a: 'K:1', b: 'J:1' });
      expectObservable(src.pipe(groupAlerts({ key, groupWaitMs: 100, groupIntervalMs: 100 }), map(show))).toBe('--(xy|)', { x: 'FK:1', y: 'FJ:1' });
    });
  });

  it('forgets a group one interval after its last batch, so remembered groups shrink with the traffic', () => {
    const sizes: [number, number][] = [];
    const ts = scheduler();
    ts.run(({ cold, expectObservable, flush }) => {
      // A at 0 and B at 1 → batches at 2 and 3; each forgotten one interval (10) later: 12 and 13.
      const src = cold('a b 40ms |', { a: 'A:1', b: 'B:1' });
      expectObservable(src.pipe(groupAlerts({ key, groupWaitMs: 2, groupIntervalMs: 10, scheduler: ts, onSize: (n) => sizes.push([ts.now(), n]) }), map(show))).toBe('--x y 38ms |', {
        x: 'FA:1',
        y: 'FB:1',
      });
      flush();
    });
    expect(sizes).toEqual([
      [0, 1],
      [1, 2],
      [12, 1],
      [13, 0],
    ]);
  });

  it('keeps a group that gets an alert within its interval, then forgets it after its next batch', () => {
    const sizes: [number, number][] = [];
    const ts = scheduler();
    ts.run(({ cold, expectObservable, flush }) => {
      // a at 0 → 2; b at 5 → 12 (2 + 10); forgotten at 22.
      const src = cold('a 4ms b 30ms |', { a: 'K:a', b: 'K:b' });
      expectObservable(src.pipe(groupAlerts({ key, groupWaitMs: 2, groupIntervalMs: 10, scheduler: ts, onSize: (n) => sizes.push([ts.now(), n]) }), map(show))).toBe('2ms x 9ms y 23ms |', {
        x: 'FK:a',
        y: 'NK:b',
      });
      flush();
    });
    expect(sizes).toEqual([
      [0, 1],
      [22, 0],
    ]);
  });

  it('never remembers more than maxGroups idle groups: a flood of distinct keys stays bounded', () => {
    let peak = 0;
    const ts = scheduler();
    ts.run(({ cold, expectObservable }) => {
      const values: Record<string, string> = {};
      let marbles = '';
      // 300 distinct groups, one every 2 ms; each flushed 1 ms after it arrives, interval 10 s.
      for (let i = 0; i < 300; i++) {
        const c = String.fromCharCode(0x100 + i);
        values[c] = `G${i}:1`;
        marbles += `${c} `;
      }
      const src = cold(marbles, values);
      const count = src.pipe(
        groupAlerts({
          key,
          groupWaitMs: 1,
          groupIntervalMs: 10_000,
          maxGroups: 50,
          scheduler: ts,
          onSize: (n) => {
            peak = Math.max(peak, n);
          },
        }),
        map(() => 1),
      );
      expectObservable(count.pipe(map(() => 'x'))).toBe(Array.from({ length: 300 }, (_, i) => (i === 0 ? '-x' : 'x')).join(' '), { x: 'x' });
    });
    expect(peak).toBeLessThanOrEqual(50);
  });
});
