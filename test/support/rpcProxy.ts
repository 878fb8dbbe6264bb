/**
 * A fault-injecting JSON-RPC proxy on 127.0.0.1 in front of a real node (anvil): the test's peer,
 * standing in for a flaky provider. For a share of requests it drops the connection, delays the
 * answer, answers HTTP 429, or refuses an eth_getLogs range as too large, always within a bounded
 * number of faults, with a seeded generator so a run is reproducible. Everything else is forwarded.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface RpcFaults {
  /** Share of requests whose connection is destroyed without an answer. */
  dropRate?: number;
  /** Share of requests answered HTTP 429. */
  rate429?: number;
  /** Share of requests delayed by `delayMs` before being forwarded. */
  delayRate?: number;
  delayMs?: number;
  /** eth_getLogs ranges wider than this many blocks are refused ("query returned more than 10000 results"). */
  maxLogsRange?: number;
  /** Stop injecting random faults after this many (the range limit always applies). Default 50. */
  maxFaults?: number;
  /** Only these methods get random faults (default all). */
  methods?: string[];
  seed?: number;
}

export interface RpcProxy {
  url: string;
  /** Counts by kind: forwarded, dropped, rateLimited, delayed, tooLarge. */
  stats: Record<'forwarded' | 'dropped' | 'rateLimited' | 'delayed' | 'tooLarge', number>;
  /** Methods seen, in order (for assertions on what the client asked). */
  calls: { method: string; params: unknown }[];
  setFaults(f: RpcFaults): void;
  close(): Promise<void>;
}

/** Starts the proxy in front of `target` (an http URL). */
export async function startRpcProxy(target: string, faults: RpcFaults = {}): Promise<RpcProxy> {
  let f = faults;
  let injected = 0;
  let state = (f.seed ?? 42) >>> 0;
  const random = () => {
    // mulberry32
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const stats = { forwarded: 0, dropped: 0, rateLimited: 0, delayed: 0, tooLarge: 0 };
  const calls: RpcProxy['calls'] = [];

  const body = (req: IncomingMessage) =>
    new Promise<string>((resolve, reject) => {
      let b = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (b += c));
      req.on('end', () => resolve(b));
      req.on('error', reject);
    });

  const reply = (res: ServerResponse, status: number, payload: string) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(payload);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const text = await body(req);
    type Req = { id?: unknown; method?: string; params?: unknown[] };
    let msg: Req | null = null;
    try {
      const parsed = JSON.parse(text) as unknown;
      if (!Array.isArray(parsed)) msg = parsed as Req;
    } catch {
      // forward as is
    }
    if (msg?.method) {
      calls.push({ method: msg.method, params: msg.params });
      if (msg.method === 'eth_getLogs' && f.maxLogsRange !== undefined) {
        const p = (msg.params?.[0] ?? {}) as { fromBlock?: string; toBlock?: string };
        if (p.fromBlock?.startsWith('0x') && p.toBlock?.startsWith('0x') && BigInt(p.toBlock) - BigInt(p.fromBlock) + 1n > BigInt(f.maxLogsRange)) {
          stats.tooLarge++;
          return reply(res, 200, JSON.stringify({ jsonrpc: '2.0', id: msg.id, error: { code: -32005, message: 'query returned more than 10000 results' } }));
        }
      }
      const eligible = injected < (f.maxFaults ?? 50) && (!f.methods || f.methods.includes(msg.method));
      if (eligible) {
        const r = random();
        let acc = f.dropRate ?? 0;
        if (r < acc) {
          injected++;
          stats.dropped++;
          req.socket.destroy();
          return;
        }
        acc += f.rate429 ?? 0;
        if (r < acc) {
          injected++;
          stats.rateLimited++;
          return reply(res, 429, JSON.stringify({ jsonrpc: '2.0', id: msg.id, error: { code: 429, message: 'Too Many Requests' } }));
        }
        acc += f.delayRate ?? 0;
        if (r < acc) {
          injected++;
          stats.delayed++;
          await new Promise((resolve) => setTimeout(resolve, f.delayMs ?? 200));
        }
      }
    }
    try {
      const upstream = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text });
      stats.forwarded++;
      reply(res, upstream.status, await upstream.text());
    } catch {
      req.socket.destroy();
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => req.socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    calls,
    setFaults(next) {
      f = next;
      injected = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
