import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../src/config/load.js';

/**
 * The batch delay follows the sink mode unless it is set: 200 ms for direct inserts (an insert per
 * table per batch) and 50 ms for the fact log, where a batch is one JetStream publish and the
 * delay is most of the decision latency (docs/performance.md#the-sink-modes-defaults-measured-2026-12-06).
 */
describe('config: sink defaults', () => {
  it('inserts directly with 200 ms batches when nothing is set, and batches the fact log at 50 ms', () => {
    const { sink } = parseConfig({});
    expect(sink.mode).toBe('direct');
    expect(sink.maxBatchDelayMs).toBe(200);
    expect(parseConfig({ sink: { mode: 'log' } }).sink).toMatchObject({ mode: 'log', maxBatchDelayMs: 50, log: { stream: 'FACTS' } });
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
    expect(sink).toMatchObject({ mode: 'direct', maxBatchDelayMs: 200, maxBatchRows: 5_000 });
  });
});
