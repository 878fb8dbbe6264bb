import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { factKey, type Fact } from '../../src/domain/facts.js';
import { startIdentityChangeRecorder } from '../../src/worker/identityChangeRecorder.js';
import type { FactWriter, WriteFactsOptions } from '../../src/sinks/clickhouse/factWriter.js';
import { SinkRejected, SinkUnavailable } from '../../src/lib/errors.js';
import { createMetrics } from '../../src/observability/metrics.js';

const W1 = '0x00000000000000000000000000000000000000a1';
const W2 = '0x00000000000000000000000000000000000000a2';

/** A writer that records what it was asked to write, failing the first `failures` calls. */
function recordingWriter(failures = 0) {
  const calls: { facts: Fact[]; suspects: Set<string> }[] = [];
  let left = failures;
  const writer: FactWriter = {
    async write(facts: readonly Fact[], options?: WriteFactsOptions) {
      calls.push({ facts: [...facts], suspects: new Set(options?.suspects ?? []) });
      if (left-- > 0) throw new SinkUnavailable('ClickHouse unavailable');
      return { inserted: facts.length, skippedDuplicates: 0 };
    },
  };
  return { writer, calls };
}
const counted = async (m: ReturnType<typeof createMetrics>, kind: string) => (await m.identityChanges.get()).values.find((v) => v.labels.kind === kind)?.value ?? 0;

describe('identity change recorder', () => {
  it('writes every change as a suspect fact, counts only live ones', async () => {
    const { writer, calls } = recordingWriter();
    const metrics = createMetrics();
    const r = startIdentityChangeRecorder({ writer, log: pino({ level: 'silent' }), metrics, now: () => 42 });
    r.record([{ kind: 'linked', wallet: W1, from: null, to: 'A' }], { seq: 1, publishedAt: 10, live: false });
    r.record(
      [
        { kind: 'moved', wallet: W1, from: 'A', to: 'B' },
        { kind: 'linked', wallet: W2, from: null, to: 'B' },
      ],
      { seq: 2, publishedAt: 20, live: true },
    );
    await r.flushed();
    const written = calls.flatMap((c) => c.facts);
    expect(written.map(factKey)).toEqual([`identity_changes:1:${W1}`, `identity_changes:2:${W1}`, `identity_changes:2:${W2}`]);
    for (const c of calls) expect([...c.suspects].sort()).toEqual(c.facts.map(factKey).sort());
    expect(await counted(metrics, 'moved')).toBe(1);
    expect(await counted(metrics, 'linked')).toBe(1);
    expect(r.pending()).toBe(0);
  });

  it('keeps the facts and retries after a failed write, writing them once in the end', async () => {
    const { writer, calls } = recordingWriter(2);
    const r = startIdentityChangeRecorder({ writer, log: pino({ level: 'silent' }), metrics: createMetrics(), retryDelayMs: 1 });
    r.record([{ kind: 'unlinked', wallet: W1, from: 'A', to: null }], { seq: 3, publishedAt: 30, live: true });
    await r.flushed();
    expect(calls).toHaveLength(3);
    expect(calls.map((c) => c.facts.map(factKey))).toEqual(Array(3).fill([`identity_changes:3:${W1}`]));
    expect(r.pending()).toBe(0);
  });

  it('stops retrying on stop and leaves the facts for the next replay', async () => {
    const { writer, calls } = recordingWriter(1_000);
    const r = startIdentityChangeRecorder({ writer, log: pino({ level: 'silent' }), metrics: createMetrics(), retryDelayMs: 60_000 });
    r.record([{ kind: 'linked', wallet: W1, from: null, to: 'A' }], { seq: 4, publishedAt: 40, live: true });
    await new Promise((res) => setImmediate(res));
    await r.stop();
    expect(calls).toHaveLength(1);
    expect(r.pending()).toBe(1);
  });

  it('writes around a fact ClickHouse refuses for good instead of retrying it forever', async () => {
    const stored: string[] = [];
    const writer: FactWriter = {
      async write(facts: readonly Fact[]) {
        if (facts.some((f) => factKey(f).endsWith(W2))) throw new SinkRejected('ClickHouse refused insert into identity_changes', { serverCode: '25' });
        stored.push(...facts.map(factKey));
        return { inserted: facts.length, skippedDuplicates: 0 };
      },
    };
    const r = startIdentityChangeRecorder({ writer, log: pino({ level: 'silent' }), metrics: createMetrics(), now: () => 42, retryDelayMs: 60_000 });
    r.record(
      [
        { kind: 'linked', wallet: W1, from: null, to: 'A' },
        { kind: 'linked', wallet: W2, from: null, to: 'A' },
      ],
      { seq: 3, publishedAt: 10, live: true },
    );
    await r.flushed();
    expect(stored).toEqual([`identity_changes:3:${W1}`]);
    expect(r.pending()).toBe(0);
    await r.stop();
  });
});
