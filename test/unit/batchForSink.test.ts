import { describe, expect, it } from 'vitest';
import { TestScheduler } from 'rxjs/testing';
import { batchForSink } from '../../src/operators/batchForSink.js';

const scheduler = () => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));

describe('batchForSink', () => {
  it('emits a batch as soon as it reaches maxItems', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const source = cold('a-b-c-d-|');
      expectObservable(source.pipe(batchForSink(2, 100))).toBe('--x---y-|', {
        x: ['a', 'b'],
        y: ['c', 'd'],
      });
    });
  });

  it('emits a partial batch when maxDelayMs passes, then a final one on completion', () => {
    scheduler().run(({ cold, expectObservable }) => {
      // maxItems 2, maxDelayMs 5: [a,b] by size at 4; [c] by time at 9; [d] by time at 14.
      const source = cold('--a-b-c-------d----|');
      expectObservable(source.pipe(batchForSink(2, 5))).toBe('----x----y----z----|', {
        x: ['a', 'b'],
        y: ['c'],
        z: ['d'],
      });
    });
  });

  it('never emits an empty batch over idle windows', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const source = cold('a 30ms b 30ms |');
      // a at 0 (window 0-10), b at 31 (window 30-40), complete at 62 with an empty window flushed and dropped.
      expectObservable(source.pipe(batchForSink(10, 10))).toBe('10ms x 29ms y 21ms |', { x: ['a'], y: ['b'] });
    });
  });

  it('flushes the partial batch when the source completes', () => {
    scheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('ab|').pipe(batchForSink(10, 1_000))).toBe('--(x|)', { x: ['a', 'b'] });
    });
  });

  it('emits nothing at all for an empty source', () => {
    scheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('-----|').pipe(batchForSink(3, 2))).toBe('-----|');
    });
  });

  it('passes an error through', () => {
    scheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('a-#').pipe(batchForSink(3, 100))).toBe('--#');
    });
  });
});
