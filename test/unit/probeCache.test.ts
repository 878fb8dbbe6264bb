import { describe, expect, it } from 'vitest';
import { cachedProbe } from '../../src/http/probeCache.js';

describe('cachedProbe', () => {
  it('answers every call within the interval from one run, then runs again', async () => {
    let t = 0;
    let runs = 0;
    const probe = cachedProbe(
      async () => ++runs,
      1_000,
      () => t,
    );
    expect(await Promise.all([probe(), probe(), probe()])).toEqual([1, 1, 1]);
    t = 999;
    expect(await probe()).toBe(1);
    t = 1_000;
    expect(await probe()).toBe(2);
    expect(runs).toBe(2);
  });

  it('caches a failure for the interval too, so a failing dependency is not hammered', async () => {
    let t = 0;
    let runs = 0;
    const probe = cachedProbe(
      async () => {
        runs++;
        throw new Error('down');
      },
      1_000,
      () => t,
    );
    await expect(probe()).rejects.toThrow('down');
    t = 500;
    await expect(probe()).rejects.toThrow('down');
    expect(runs).toBe(1);
    t = 1_500;
    await expect(probe()).rejects.toThrow('down');
    expect(runs).toBe(2);
  });

  it('with ttl 0 runs on every call but shares a run still in flight', async () => {
    let runs = 0;
    let release!: () => void;
    const probe = cachedProbe(
      () => {
        runs++;
        return new Promise<number>((r) => {
          release = () => r(runs);
        });
      },
      0,
      () => 0,
    );
    const tick = () => new Promise((r) => setImmediate(r));
    const a = probe();
    const b = probe();
    await tick();
    release();
    expect(await Promise.all([a, b])).toEqual([1, 1]);
    await tick();
    const c = probe();
    await tick();
    release();
    expect(await c).toBe(2);
  });
});
