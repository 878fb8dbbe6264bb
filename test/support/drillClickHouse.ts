/**
 * ClickHouse outage drills. The daemon is given a client that behaves like the real one until the
 * drill cuts it off: `chdb` makes every insert and lookup fail as a dropped connection would
 * (the embedded engine cannot be "unplugged" otherwise); `http` routes them to the real HTTP client
 * pointed at a closed port, so the failure is the client's own ECONNREFUSED.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { expect } from 'vitest';
import { createClickHouse } from '../../src/sinks/clickhouse/createClickHouse.js';
import { passesRowsThrough, withRowsPassedThrough } from '../../src/sinks/clickhouse/preEncodedRows.js';
import { freePort, settle, startDrill, steadyTraffic, verifyDrill, waitFor } from './drill.js';

export interface SwitchableClickHouse {
  client: ClickHouseClient;
  /** While true, inserts and queries fail. */
  setDown(down: boolean): void;
  failures(): number;
  close(): Promise<void>;
}

/** Wraps `real`: while down, insert/query fail (a connection error, or the HTTP client on a closed port). */
export async function switchableClickHouse(real: ClickHouseClient, mode: 'chdb' | 'http'): Promise<SwitchableClickHouse> {
  let down = false;
  let failures = 0;
  const http = mode === 'http' ? createClickHouse({ url: `http://127.0.0.1:${await freePort()}`, username: 'default', password: '', database: 'recon', dataDir: '' }) : undefined;
  const client = new Proxy(real, {
    get(target, prop, receiver) {
      if (prop === 'insert' || prop === 'query') {
        return async (...args: unknown[]) => {
          if (!down) return (target[prop] as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          failures++;
          if (http) return (http[prop] as (...a: unknown[]) => Promise<unknown>).apply(http, args);
          throw Object.assign(new Error('connect ECONNREFUSED (drill: chdb connection cut)'), { code: 'ECONNREFUSED' });
        };
      }
      return Reflect.get(target, prop, receiver);
    },
  });
  // The proxy inserts as its target does: pre-encoded rows pass through when the target's do.
  if (passesRowsThrough(real)) withRowsPassedThrough(client);
  return { client, setDown: (v) => (down = v), failures: () => failures, close: async () => http?.close() };
}

/**
 * Steady traffic; ClickHouse goes away for `outageMs`; the pipeline must stop acking (ack floors
 * still), keep at most max_ack_pending messages in flight (the rest waits in the stream, memory
 * flat), then catch up once ClickHouse returns, with every fact stored exactly once.
 */
export async function clickHouseOutageDrill(mode: 'chdb' | 'http', outageMs = 8_000, sinkMode?: 'direct' | 'log'): Promise<string> {
  const maxAckPending = 400;
  const d = await startDrill({ config: { nats: { maxAckPending, ackWaitMs: 5_000 } }, traffic: { faultShare: 0.02 }, ...(sinkMode && { sinkMode }) });
  const factLog = d.config.sink.mode === 'log' ? d.config.sink.log : null;
  try {
    const ch = await switchableClickHouse(d.ch!.client, mode);
    const daemon = await d.startDaemon({ clickhouse: ch.client });
    const traffic = steadyTraffic(d, 300);
    await new Promise((r) => setTimeout(r, 2_000));
    const consumers = [d.config.nats.ledgerStream, d.config.nats.chainStream];
    const info = () => Promise.all(consumers.map((s) => d.jsm.consumers.info(s, d.config.nats.consumerName)));

    ch.setDown(true);
    const heapBefore = process.memoryUsage().heapUsed;
    // Whatever batch was in flight when it went down may still settle; after that, nothing is acked.
    await waitFor('the sink failing', () => ch.failures() > 0, 10_000);
    await new Promise((r) => setTimeout(r, 1_000));
    const floorsAtStart = (await info()).map((c) => c.ack_floor.stream_seq);
    let maxInFlight = 0;
    let maxHeap = heapBefore;
    const outageEnd = Date.now() + outageMs;
    while (Date.now() < outageEnd) {
      const cs = await info();
      maxInFlight = Math.max(maxInFlight, ...cs.map((c) => c.num_ack_pending));
      maxHeap = Math.max(maxHeap, process.memoryUsage().heapUsed);
      await new Promise((r) => setTimeout(r, 250));
    }
    const during = await info();
    let waitingFacts = 0;
    if (factLog) {
      // Facts are durable in the fact log: matching runs on and acks; the log holds what waits.
      const floors = during.map((c) => c.ack_floor.stream_seq);
      expect(floors[0]! + floors[1]!, 'matching runs on through the outage').toBeGreaterThan(floorsAtStart[0]! + floorsAtStart[1]! + 100);
      waitingFacts = (await d.jsm.streams.info(factLog.stream)).state.messages;
      expect(waitingFacts, 'the facts wait in the fact log').toBeGreaterThan(0);
    } else {
      expect(
        during.map((c) => c.ack_floor.stream_seq),
        'nothing acked while ClickHouse is down',
      ).toEqual(floorsAtStart);
      expect(
        during.reduce((n, c) => n + c.num_pending, 0),
        'the backlog waits in JetStream',
      ).toBeGreaterThan(0);
    }
    expect(maxInFlight, 'in-flight messages bounded by max_ack_pending').toBeLessThanOrEqual(maxAckPending);
    expect(daemon.stats.deadLetters, 'an unavailable sink is never a dead letter').toBe(0);
    const heapGrowthMiB = (maxHeap - heapBefore) / 2 ** 20;
    expect(heapGrowthMiB, 'memory stays bounded').toBeLessThan(64);

    ch.setDown(false);
    const pairs = await traffic.stop();
    await settle(d, {
      sweep: () => daemon.sweep(),
      parked: async () => {
        const p = await daemon.store.parkedCount();
        return p.bank + p.chain;
      },
      timeoutMs: 90_000,
    });
    const verdict = await verifyDrill(d, pairs);
    expect(verdict.problems).toEqual([]);
    await ch.close();
    const held = factLog ? `matching ran on, ${waitingFacts} fact messages waited in the fact log` : `≤ ${maxInFlight} in flight (max_ack_pending ${maxAckPending})`;
    return `${mode} outage ${outageMs / 1_000} s: ${ch.failures()} failed calls, ${held}, heap +${heapGrowthMiB.toFixed(1)} MiB, ${pairs.length} pairs then caught up, ${verdict.discrepanciesFound} injected discrepancies found, 0 false, facts once`;
  } finally {
    await d.cleanup();
  }
}
