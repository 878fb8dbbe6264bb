import { afterAll, describe, expect, it } from 'vitest';
import { privateNats, settleDaemon, startDrill, steadyTraffic, verifyDrill, waitFor, type Drill, type PrivateServer } from '../support/drill.js';

/**
 * Drill: a private nats-server (JetStream, its own store dir, another port) is killed under steady
 * traffic and restarted a few seconds later. Streams and consumer state are on disk; the daemon
 * reconnects; unacked work is redelivered. Afterwards every fact is in ClickHouse exactly once.
 */
describe('drill: NATS restarted', () => {
  let d: Drill | undefined;
  let nats: PrivateServer | undefined;
  afterAll(async () => {
    await d?.cleanup();
    await nats?.dispose();
  });

  it('reconnects, loses nothing and stores every fact once', async () => {
    nats = await privateNats();
    d = await startDrill({ natsUrl: nats.url, traffic: { faultShare: 0.02 } });
    const daemon = await d.startDaemon({}, { http: { host: '127.0.0.1', port: 0, probeCacheMs: 0 } });
    const mappingsCheck = async () => {
      const r = await fetch(`${daemon.httpAddress()}/readyz`);
      return ((await r.json()) as { checks: Record<string, { ok: boolean; error?: string }> }).checks.mappings;
    };
    expect((await mappingsCheck())?.ok).toBe(true);
    const traffic = steadyTraffic(d, 300);
    await waitFor('traffic flowing', () => daemon.stats.matches > 200, 20_000);
    await nats.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 3_000));
    await nats.start();
    const matchesAtRestart = daemon.stats.matches;
    await waitFor('matching resumed after the restart', () => daemon.stats.matches > matchesAtRestart + 200, 60_000);
    // The mapping follower's ordered consumer (in memory on the server) is re-created: ready again.
    await waitFor('mapping follower following again', async () => (await mappingsCheck())?.ok === true, 60_000);
    const pairs = await traffic.stop();
    await settleDaemon(d, daemon);
    const verdict = await verifyDrill(d, pairs);
    expect(verdict.problems).toEqual([]);
    console.info(`NATS restart drill: ${pairs.length} pairs across a NATS SIGKILL + restart, ${verdict.discrepanciesFound} injected discrepancies found, 0 false, facts once, nothing unacked`);
  }, 150_000);
});
