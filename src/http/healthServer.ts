import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { redactText } from '../lib/redact.js';
import type { Registry } from 'prom-client';
import { cachedProbe } from './probeCache.js';

/** One readiness probe: resolves when the dependency answers, rejects (or times out) when it does not. */
export type ReadinessCheck = () => Promise<unknown>;

export interface HealthServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  registry: Registry;
  /** Dependencies /readyz probes, by name (nats, redis, clickhouse, chain:<id>, consumers). */
  checks: Record<string, ReadinessCheck>;
  /** Refreshes sampled gauges (lag, parked legs, chain head) before a scrape. Failures are ignored. */
  beforeScrape?: () => Promise<void>;
  /** Each probe's deadline. Default 2 s. */
  probeTimeoutMs?: number;
  /** Called after each probe with its result and duration (metrics). */
  onProbe?: (name: string, ok: boolean, seconds: number) => void;
  /**
   * A readiness report and a sampling run are reused for this long (ms): a burst of /readyz and
   * /metrics requests costs each dependency at most one probe per interval. Default 0 (every
   * request probes, concurrent requests still share one run).
   */
  cacheMs?: number;
  /** Further routes (the case API): answers and resolves true for its own paths, false for others. */
  handle?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;
}

export interface HealthServer {
  /** `http://host:port`. */
  address: string;
  close(): Promise<void>;
}

export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, { ok: boolean; ms: number; error?: string }>;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Runs every check in parallel, each under its deadline. */
export async function probeReadiness(checks: Record<string, ReadinessCheck>, timeoutMs: number, onProbe?: HealthServerOptions['onProbe']): Promise<ReadinessReport> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      const t0 = performance.now();
      try {
        await withTimeout(Promise.resolve().then(check), timeoutMs, name);
        const ms = performance.now() - t0;
        onProbe?.(name, true, ms / 1_000);
        return [name, { ok: true, ms: Math.round(ms) }] as const;
      } catch (e) {
        const ms = performance.now() - t0;
        onProbe?.(name, false, ms / 1_000);
        return [name, { ok: false, ms: Math.round(ms), error: redactText(e instanceof Error ? e.message : String(e)) }] as const;
      }
    }),
  );
  const report = Object.fromEntries(entries);
  return { ready: entries.every(([, r]) => r.ok), checks: report };
}

/**
 * The daemon's HTTP endpoints: `/metrics` (Prometheus text, gauges and the dependency probes sampled just before),
 * `/healthz` (200 while the process serves requests: liveness), `/readyz` (200 only when every
 * dependency answered its probe within the last `cacheMs`, else 503 with a JSON body naming what
 * failed).
 */
export async function startHealthServer(o: HealthServerOptions): Promise<HealthServer> {
  const timeoutMs = o.probeTimeoutMs ?? 2_000;
  const cacheMs = o.cacheMs ?? 0;
  const readiness = cachedProbe(() => probeReadiness(o.checks, timeoutMs, o.onProbe), cacheMs);
  const beforeScrape = o.beforeScrape && cachedProbe(o.beforeScrape, cacheMs);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    void (async () => {
      try {
        if (o.handle && (await o.handle(req, res))) return;
        if (path === '/metrics') {
          // recon_dependency_up comes from the readiness probes: a scrape refreshes them (cached like
          // /readyz), so a fleet watched only through /metrics still sees a dependency go down.
          await Promise.all([...(beforeScrape ? [withTimeout(beforeScrape(), timeoutMs, 'sampling').catch(() => undefined)] : []), readiness().catch(() => undefined)]);
          res.setHeader('content-type', o.registry.contentType);
          res.end(await o.registry.metrics());
        } else if (path === '/healthz') {
          res.setHeader('content-type', 'text/plain');
          res.end('ok');
        } else if (path === '/readyz') {
          const report = await readiness();
          res.statusCode = report.ready ? 200 : 503;
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify(report));
        } else {
          res.statusCode = 404;
          res.end();
        }
      } catch (e) {
        res.statusCode = 500;
        res.end(redactText(e instanceof Error ? e.message : String(e)));
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const a = server.address();
  const address = a && typeof a === 'object' ? `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : '';
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
