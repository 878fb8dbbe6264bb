import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../src/config/load.js';

/**
 * The default sink is the fact log; the batch delay follows the sink mode unless it is set: 50 ms
 * for the fact log, where a batch is one JetStream publish and the delay is most of the decision
 * latency, 200 ms for direct inserts (an insert per table per batch)
 * (docs/performance.md#the-sink-modes-defaults-measured-2026-12-06).
 */
describe('config: sink defaults', () => {
  it('runs the fact log with 50 ms batches when nothing is set, and direct inserts with 200 ms', () => {
    const { sink } = parseConfig({});
    expect(sink).toMatchObject({ mode: 'log', maxBatchDelayMs: 50, log: { stream: 'FACTS' } });
    expect(parseConfig({ sink: { mode: 'direct' } }).sink).toMatchObject({ mode: 'direct', maxBatchDelayMs: 200 });
  });

  it('keeps any delay that is set, in either mode', () => {
    expect(parseConfig({ sink: { mode: 'direct', maxBatchDelayMs: 20 } }).sink.maxBatchDelayMs).toBe(20);
    expect(parseConfig({ sink: { mode: 'log', maxBatchDelayMs: '300ms' } }).sink).toMatchObject({ mode: 'log', maxBatchDelayMs: 300 });
  });

  it('refuses a bad delay or mode naming the field', () => {
    expect(() => parseConfig({ sink: { maxBatchDelayMs: 0 } })).toThrow(/sink\.maxBatchDelayMs/);
    expect(() => parseConfig({ sink: { mode: 'kafka' } })).toThrow(/sink\.mode/);
  });

  it('ships an example configuration that says which mode it runs', () => {
    const { sink } = loadConfig({ RECON_CONFIG: 'config/recon.example.yaml' });
    expect(sink).toMatchObject({ mode: 'log', maxBatchDelayMs: 50, maxBatchRows: 5_000 });
  });
});
