import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createClickHouse } from '../../src/sinks/clickhouse/createClickHouse.js';
import { MatchStore } from '../../src/state/matchStore.js';
import { spawnDaemon, writeConfig, type DaemonProcess } from '../support/daemonProcess.js';
import { settle, startDrill, steadyTraffic, verifyDrill, waitFor, type Drill } from '../support/drill.js';

const KILLS = 4;

/**
 * Drill: the real daemon process (`recon run`) is SIGKILLed four times in a row under steady
 * traffic, each time while it holds unacked messages, and restarted. Extends
 * test/integration/crashRestart.test.ts (two kills, anvil) to more kills and synthetic chain events
 * with injected discrepancies: afterwards every fact is in ClickHouse exactly once, exactly the
 * injected discrepancies are open and nothing is unacked.
 */
describe('drill: daemon SIGKILLed and restarted several times', () => {
  const dir = mkdtempSync(join(tmpdir(), 'recon-drill-kill-'));
  let d: Drill | undefined;
  let daemon: DaemonProcess | undefined;
  afterAll(async () => {
    if (daemon) await daemon.kill('SIGKILL').catch(() => undefined);
    await d?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`stores every fact exactly once after ${KILLS} SIGKILLs in a row`, async () => {
    d = await startDrill({ clickhouse: false, config: { clickhouse: { dataDir: join(dir, 'chdb'), database: 'recon' } }, traffic: { faultShare: 0.03, chainFirstShare: 0.3 } });
    const file = writeConfig(dir, d.input);
    const consumers = [d.config.nats.ledgerStream, d.config.nats.chainStream];
    const inFlight = async () => (await Promise.all(consumers.map((s) => d!.jsm.consumers.info(s, d!.config.nats.consumerName)))).reduce((n, c) => n + c.num_ack_pending, 0);
    const acked = async () => (await Promise.all(consumers.map((s) => d!.jsm.consumers.info(s, d!.config.nats.consumerName)))).reduce((n, c) => n + c.ack_floor.stream_seq, 0);

    const traffic = steadyTraffic(d, 200);
    daemon = spawnDaemon(file);
    const atKill: number[] = [];
    for (let k = 0; k < KILLS; k++) {
      // Let the (re)started daemon make progress, then kill it while it holds unacked work.
      const before = await acked();
      await waitFor('the daemon acking', async () => (await acked()) > before + 50, 60_000, 50);
      await waitFor('unacked work in flight', async () => (await inFlight()) > 0, 10_000, 2);
      atKill.push(await inFlight());
      expect(await daemon.kill('SIGKILL')).toBe('SIGKILL');
      daemon = spawnDaemon(file);
    }
    const pairs = await traffic.stop();
    const redis = new Redis(d.config.redis.url);
    const store = new MatchStore(redis, {
      namespace: d.config.namespace,
      windowMs: d.config.matching.windowMs,
      toleranceMs: d.config.matching.windowMs,
      retentionMs: d.config.matching.lateRetentionMs,
    });
    await settle(d, {
      parked: async () => {
        const p = await store.parkedCount();
        return p.bank + p.chain;
      },
      timeoutMs: 90_000,
    });
    await redis.quit();
    expect(await daemon.kill('SIGTERM'), daemon.output().slice(-2000)).toBe(0);
    daemon = undefined;

    const ch = createClickHouse(d.config.clickhouse);
    try {
      const verdict = await verifyDrill(d, pairs, ch, 'recon');
      expect(verdict.problems).toEqual([]);
      console.info(
        `kill drill: ${pairs.length} pairs, ${KILLS} SIGKILLs with ${atKill.join(', ')} messages unacked at the kills; ${verdict.discrepanciesFound} injected discrepancies found, 0 false, facts once`,
      );
    } finally {
      await ch.close();
    }
  }, 240_000);
});
