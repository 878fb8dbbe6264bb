import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { createLogger } from '../../src/observability/logger.js';
import { freePort } from '../support/anvil.js';
import { randomWallet, startHarness, type Harness } from '../support/harness.js';

/** Prometheus text → `name{labels}` → value (labels as printed by prom-client, in its order). */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/** A TCP relay to Redis that the test can cut and restore: the dependency going away, for real. */
async function tcpRelay(target: { host: string; port: number }) {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const open = () =>
    new Promise<void>((resolve) => {
      if (server?.listening) return resolve();
      server = createServer((client) => {
        const upstream = tcpConnect(target.port, target.host);
        sockets.add(client).add(upstream);
        client.pipe(upstream).pipe(client);
        const drop = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        client.on('error', drop).on('close', drop);
        upstream.on('error', drop).on('close', drop);
      });
      server.listen(port, '127.0.0.1', () => resolve());
    });
  await open();
  return {
    url: `redis://127.0.0.1:${port}`,
    async cut() {
      await new Promise<void>((resolve) => {
        server!.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
    restore: open,
  };
}

describe('metrics, health and logs of a running daemon', () => {
  let h: Harness;
  let b: Daemon | undefined;
  let relay: Awaited<ReturnType<typeof tcpRelay>>;
  const lines: Record<string, unknown>[] = [];
  const wallet = randomWallet();
  const scrape = async (d: Daemon) => parseMetrics(await (await fetch(`${d.httpAddress()}/metrics`)).text());
  const ready = async (d: Daemon) => {
    const res = await fetch(`${d.httpAddress()}/readyz`);
    return { status: res.status, body: (await res.json()) as { ready: boolean; checks: Record<string, { ok: boolean; error?: string }> } };
  };

  beforeAll(async () => {
    h = await startHarness({
      accounts: [
        { accountId: 'ACC-M', wallets: [wallet] },
        { accountId: 'ACC-LOG', wallets: [randomWallet()] },
      ],
    });
    relay = await tcpRelay({ host: '127.0.0.1', port: 6379 });
  }, 60_000);

  afterAll(async () => {
    await relay?.restore().catch(() => undefined);
    await b?.stop();
    await h?.stop();
  });

  it('serves /healthz and a ready /readyz naming every dependency it probed', async () => {
    expect(await (await fetch(`${h.daemon.httpAddress()}/healthz`)).text()).toBe('ok');
    const r = await ready(h.daemon);
    expect(r.status).toBe(200);
    expect(Object.keys(r.body.checks).sort()).toEqual([`chain:${h.anvil.chainId}`, 'clickhouse', 'consumers', 'mappings', 'nats', 'redis'].sort());
    expect(Object.values(r.body.checks).every((c) => c.ok)).toBe(true);
  });

  it('moves the key series as events flow: messages, Redis and ClickHouse latency, batches, end-to-end latency, lag, chain head', async () => {
    const before = await scrape(h.daemon);
    expect(before.get('recon_messages_in_total{source="ledger"}')).toBe(0);
    expect(before.get('recon_end_to_end_latency_seconds_count{since="publish"}') ?? 0).toBe(0);

    for (let i = 0; i < 5; i++) {
      await h.posting({ entryId: `m-${i}`, accountId: 'ACC-M', amountMinor: BigInt(1_000 + i) });
      await h.mint(wallet, h.usd(BigInt(1_000 + i)));
    }
    await h.waitFor('five matches', async () => (await h.matches()).filter((m) => m.account_id === 'ACC-M').length === 5);
    const after = await h.waitFor('the last batch observed', async () => {
      const m = await scrape(h.daemon);
      return (m.get('recon_end_to_end_latency_seconds_count{since="publish"}') ?? 0) >= 5 ? m : undefined;
    });
    const get = (k: string) => after.get(k) ?? NaN;
    expect(get('recon_messages_in_total{source="ledger"}')).toBeGreaterThanOrEqual(5);
    expect(get('recon_messages_in_total{source="chain"}')).toBeGreaterThanOrEqual(5);
    expect(get('recon_matches_total{flow="deposit",match_by="attributes"}')).toBe(5);
    expect(
      (after.get('recon_correlation_outcomes_total{source="ledger",outcome="parked"}') ?? 0) + (after.get('recon_correlation_outcomes_total{source="ledger",outcome="match"}') ?? 0),
    ).toBeGreaterThanOrEqual(5);
    expect(get('recon_end_to_end_latency_seconds_count{since="event_time"}')).toBe(5);
    // The publish → durable latency of a live match is well under the 60 s bucket.
    expect(get('recon_end_to_end_latency_seconds_bucket{le="60",since="publish"}')).toBe(5);
    expect(get('recon_redis_duration_seconds_count{operation="matchOrPark"}')).toBeGreaterThanOrEqual(10);
    expect(get('recon_redis_duration_seconds_count{operation="advanceWatermark"}')).toBeGreaterThan(0);
    // The worker inserts its facts (direct), or the fact loader does (RECON_TEST_SINK_MODE=log).
    expect(get(`recon_clickhouse_duration_seconds_count{operation="${h.config.sink.mode === 'log' ? 'load' : 'insert'}"}`)).toBeGreaterThan(0);
    expect(get('recon_sink_batch_rows_count')).toBeGreaterThan(0);
    expect(get('recon_sink_batch_duration_seconds_count')).toBe(get('recon_sink_batch_messages_count'));
    expect(get('recon_facts_written_total{table="matches"}')).toBe(5);
    expect(get('recon_consumer_pending_messages{stream="ledger"}')).toBe(0);
    expect(get('recon_consumer_ack_pending_messages{stream="chain"}')).toBeGreaterThanOrEqual(0);
    expect(get(`recon_chain_head_block{chain_id="${h.anvil.chainId}"}`)).toBeGreaterThan(0);
    expect(get(`recon_chain_head_lag_blocks{chain_id="${h.anvil.chainId}"}`)).toBeGreaterThanOrEqual(0);
    expect(get('recon_watermark_lag_seconds{source="chain"}')).toBeLessThan(60);
    expect(get('recon_sink_retries_total')).toBe(0);
  });

  it('carries a correlation id from pull to ack in the logs, and redacts secrets and account ids', async () => {
    const sink = new Writable({
      write(chunk, _enc, cb) {
        for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
        cb();
      },
    });
    const config = parseConfig({
      ...h.config,
      workerId: `${h.config.namespace}-b`,
      redis: { url: relay.url },
      clickhouse: { ...h.config.clickhouse, password: 'hunter2' },
      log: { level: 'debug', redactAccounts: true },
    });
    // Worker B (a matcher: no ingester) shares the streams; A stops so B handles what follows.
    await h.daemon.stop();
    b = await startDaemon(config, { clickhouse: h.ch.client, logDestination: sink, ingest: false });
    await b.ready;
    b.log.info({ clickhouse: config.clickhouse, accountId: 'ACC-LOG' }, 'configuration');
    await h.posting({ entryId: 'log-1', accountId: 'ACC-LOG', amountMinor: 4_200n });
    const processed = await h.waitFor('the posting processed by B', async () => lines.find((l) => l.msg === 'message processed' && String(l.corr).startsWith(`${h.config.nats.ledgerStream}:`)));
    const corr = String(processed.corr);
    expect(corr).toMatch(new RegExp(`^${h.config.nats.ledgerStream}:\\d+$`));
    const durable = await h.waitFor('its batch acked', async () => lines.find((l) => l.msg === 'batch durable and acked' && (l.corr as string[]).includes(corr)));
    expect(durable.level).toBe('debug');
    const text = JSON.stringify(lines);
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('ACC-LOG');
    const cfgLine = lines.find((l) => l.msg === 'configuration') as { clickhouse: { password: string }; accountId: string };
    expect(cfgLine.clickhouse.password).toBe('[redacted]');
    expect(cfgLine.accountId).toMatch(/^anon:[0-9a-f]{12}$/);
    // Without redactAccounts, account ids stay readable; secrets never do.
    const plain: string[] = [];
    const log = createLogger(
      { level: 'info', redactAccounts: false, redactPaths: [] },
      {
        destination: new Writable({
          write(c, _e, cb) {
            plain.push(String(c));
            cb();
          },
        }),
      },
    );
    log.info({ accountId: 'ACC-1', nats: { password: 'pw' } }, 'x');
    await new Promise((r) => setImmediate(r));
    expect(JSON.parse(plain[0]!)).toMatchObject({ accountId: 'ACC-1', nats: { password: '[redacted]' } });
  });

  it('turns unready when Redis goes away and ready again when it is back', async () => {
    expect((await ready(b!)).status).toBe(200);
    await relay.cut();
    const down = await h.waitFor('B unready', async () => {
      const r = await ready(b!);
      return r.status === 503 ? r : undefined;
    });
    expect(down.body.checks.redis!.ok).toBe(false);
    expect(down.body.checks.nats!.ok).toBe(true);
    expect(down.body.checks.clickhouse!.ok).toBe(true);
    const m = await scrape(b!);
    expect(m.get('recon_dependency_up{dependency="redis"}')).toBe(0);
    await relay.restore();
    await h.waitFor('B ready again', async () => (await ready(b!)).status === 200);
  });

  it('turns unready when the chain RPC goes away', async () => {
    await h.anvil.stop();
    const down = await h.waitFor('unready without the chain', async () => {
      const r = await ready(b!);
      return r.status === 503 ? r : undefined;
    });
    expect(down.body.checks[`chain:${h.anvil.chainId}`]!.ok).toBe(false);
    expect(down.body.checks.redis!.ok).toBe(true);
  });
});
