import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../src/config/load.js';

/**
 * What a deployment gets when its configuration says nothing about the sink: the fact log, with
 * batches of at most 50 ms (docs/performance.md#the-shipped-defaults-measured-2026-12-06); and
 * what a deployment that chose `direct` keeps: 200 ms batches, an insert per table each.
 */
describe('config: sink defaults', () => {
  it('runs the fact log with 50 ms batches when nothing is set', () => {
    const { sink } = parseConfig({});
    expect(sink.mode).toBe('log');
    expect(sink.maxBatchDelayMs).toBe(50);
    expect(sink.log.stream).toBe('FACTS');
  });

  it('keeps 200 ms batches for direct inserts, and any delay that is set in either mode', () => {
    expect(parseConfig({ sink: { mode: 'direct' } }).sink.maxBatchDelayMs).toBe(200);
    expect(parseConfig({ sink: { mode: 'direct', maxBatchDelayMs: 20 } }).sink.maxBatchDelayMs).toBe(20);
    expect(parseConfig({ sink: { maxBatchDelayMs: '300ms' } }).sink).toMatchObject({ mode: 'log', maxBatchDelayMs: 300 });
  });

  it('refuses a bad delay or mode naming the field', () => {
    expect(() => parseConfig({ sink: { maxBatchDelayMs: 0 } })).toThrow(/sink\.maxBatchDelayMs/);
    expect(() => parseConfig({ sink: { mode: 'kafka' } })).toThrow(/sink\.mode/);
  });

  it('ships an example configuration that runs the fact log', () => {
    const { sink } = loadConfig({ RECON_CONFIG: 'config/recon.example.yaml' });
    expect(sink).toMatchObject({ mode: 'log', maxBatchDelayMs: 50, maxBatchRows: 5_000 });
  });
});
