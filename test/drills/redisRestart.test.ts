import { afterAll, describe, expect, it } from 'vitest';
import { privateRedis, settleDaemon, startDrill, steadyTraffic, verifyDrill, waitFor, type Drill, type PrivateServer } from '../support/drill.js';

/**
 * Drill: a private in-memory redis-server (nothing on disk) is killed under steady traffic and
 * restarted empty: every parked leg, watermark and stored outcome is gone.
 */
describe('drill: Redis restarted with its memory lost', () => {
  let d: Drill | undefined;
  let redis: PrivateServer | undefined;
  afterAll(async () => {
    await d?.cleanup();
    await redis?.dispose();
  });

  it('never emits a false match or discrepancy and loses none', async () => {
    redis = await privateRedis();
    d = await startDrill({ redisUrl: redis.url, traffic: { faultShare: 0.03, chainFirstShare: 0.3 } });
    const daemon = await d.startDaemon();
    const traffic = steadyTraffic(d, 300);
    await waitFor(
      'traffic flowing with legs parked',
      async () => {
        const p = await daemon.store.parkedCount();
        return daemon.stats.matches > 300 && p.bank + p.chain > 0;
      },
      20_000,
    );
    await redis.kill('SIGKILL');
    const restartedAt = Date.now();
    await new Promise((r) => setTimeout(r, 1_000));
    await redis.start();
    const matchesAtRestart = daemon.stats.matches;
    await waitFor('matching resumed after the restart', () => daemon.stats.matches > matchesAtRestart + 300, 60_000);
    // The state was rebuilt from the facts by the worker, after the restart.
    const epoch = await daemon.redis.get(`${daemon.store.prefix}epoch`);
    expect(Number(epoch?.split(':').pop())).toBeGreaterThan(restartedAt);
    const pairs = await traffic.stop();
    await settleDaemon(d, daemon);
    const verdict = await verifyDrill(d, pairs);
    expect(verdict.problems).toEqual([]);
    console.info(`Redis restart drill: ${pairs.length} pairs across a Redis SIGKILL + empty restart, ${verdict.discrepanciesFound} injected discrepancies found, 0 false`);
  }, 150_000);
});
