import { describe, expect, it } from 'vitest';
import { duration } from '../../src/aml/ruleFile.js';
import { durationMs } from '../../src/config/duration.js';
import { parseConfig } from '../../src/config/load.js';

describe('durations', () => {
  it('reads a number of ms or a number and a unit, the same in the configuration and the AML rules', () => {
    const d = durationMs();
    expect([250, '500ms', '90s', '30m', '24h', '7d'].map((v) => d.parse(v))).toEqual([250, 500, 90_000, 1_800_000, 86_400_000, 604_800_000]);
    expect(() => d.parse('250')).toThrow(/500ms/); // a string names its unit
    expect(duration.parse('30m')).toBe(1_800_000);
    expect(parseConfig({ matching: { windowMs: '30m', sweepIntervalMs: '1s' } }).matching).toMatchObject({ windowMs: 1_800_000, sweepIntervalMs: 1_000 });
    expect(parseConfig({ matching: { windowMs: 60_000 } }).matching.windowMs).toBe(60_000);
  });

  it('refuses other forms and out-of-bounds values, naming the field', () => {
    expect(() => parseConfig({ matching: { windowMs: '30 minutes' } })).toThrow(/matching\.windowMs/);
    expect(() => parseConfig({ matching: { windowMs: '1.5h' } })).toThrow(/matching\.windowMs/);
    expect(() => parseConfig({ matching: { windowMs: '0ms' } })).toThrow(/matching\.windowMs/);
    expect(() => parseConfig({ http: { probeCacheMs: '2m' } })).toThrow(/http\.probeCacheMs/);
    expect(() => duration.parse('-5s')).toThrow();
  });

  it('parses a parsed configuration again to the same values (durations and four-eyes thresholds)', () => {
    const once = parseConfig({ matching: { windowMs: '30m' }, cases: { fourEyes: { thresholdMinor: { USD: '100000' } } } });
    const twice = parseConfig(once);
    expect(twice.matching.windowMs).toBe(1_800_000);
    expect(twice.cases.fourEyes).toEqual(once.cases.fourEyes);
  });
});
