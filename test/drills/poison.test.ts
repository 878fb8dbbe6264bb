import { afterAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/sinks/clickhouse/queries.js';
import { settle, startDrill, steadyTraffic, verifyDrill, type Drill } from '../support/drill.js';

/**
 * Drill: 1% of the ledger messages are poison (bytes that are not Avro) mixed into steady
 * traffic. Each is dead-lettered with its reason (DEADLETTER stream and dead_letters table) and
 * acked; every other message is processed as if they were not there.
 */
describe('drill: poison messages at 1%', () => {
  let d: Drill | undefined;
  afterAll(async () => d?.cleanup());

  it('dead-letters every poison message with its reason and leaves the rest unaffected', async () => {
    d = await startDrill({ traffic: { poisonShare: 0.01, faultShare: 0.01 } });
    const daemon = await d.startDaemon();
    const traffic = steadyTraffic(d, 500);
    await new Promise((r) => setTimeout(r, 6_000));
    const pairs = await traffic.stop();
    await settle(d, {
      sweep: () => daemon.sweep(),
      parked: async () => {
        const p = await daemon.store.parkedCount();
        return p.bank + p.chain;
      },
    });

    const poison = pairs.filter((p) => p.fault === 'poison').length;
    expect(poison, 'some poison was injected').toBe(pairs.filter((p) => p.i % 100 === 7).length);
    expect(poison).toBeGreaterThan(0);
    const verdict = await verifyDrill(d, pairs);
    expect(verdict.problems).toEqual([]);

    const dl = await queryRows<{ reason_code: string; reason: string; payload: string }>(
      d.ch!.client,
      `SELECT reason_code, reason, base64Decode(payload_base64) AS payload FROM ${d.ch!.database}.dead_letters FINAL`,
    );
    expect(dl).toHaveLength(poison);
    for (const x of dl) {
      expect(x.reason_code).toBe('DECODE_ERROR');
      expect(x.reason.length).toBeGreaterThan(5);
      expect(x.payload).toMatch(/^poison #\d+: not avro$/);
    }
    const info = await d.jsm.streams.info(d.config.nats.deadLetterStream);
    expect(info.state.messages).toBe(poison);
    console.info(`poison drill: ${pairs.length} pairs, ${poison} poison messages dead-lettered, ${verdict.discrepanciesFound} injected discrepancies found, 0 false`);
  });
});
