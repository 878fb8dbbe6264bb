/**
 * A fault-injecting JSON-RPC proxy on 127.0.0.1 in front of a real node (anvil): the test's peer,
 * standing in for a flaky provider. For a share of requests it drops the connection, delays the
 * answer, answers HTTP 429, or refuses an eth_getLogs range as too large, always within a bounded
 * number of faults, with a seeded generator so a run is reproducible. Everything else is forwarded.
 * With `lagBlocks` it plays a node that is behind its peers (still syncing): its head is the real
 * one minus `lagBlocks`, and it knows no block above that.
 *
 * `startTcpProxy` is a plain TCP relay (for websockets) that a test can kill and revive.
 *
 * Run as a program (`tsx test/support/rpcProxy.ts <target> <latencyMs> [http|tcp]`), it is a
 * fixed-latency proxy in a process of its own (so its work does not share a benchmark's event loop)
 * and prints its URL as the first line of stdout: `http` (default) this JSON-RPC proxy, `tcp` the
 * TCP relay with the latency split over both directions (costs almost no CPU, like a provider on
 * another machine).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { pathToFileURL } from 'node:url';
import { connect as tcpConnect, createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';

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
  /**
   * A stale view: eth_blockNumber answers the real head minus this; eth_getBlockByNumber/ByHash of
   * a block above that (and 'latest' as that block) answer null; eth_getLogs by the hash of such a
   * block answers "unknown block". Never faulted at random by itself.
   */
  lagBlocks?: number;
  /** Strips `blockTimestamp` from eth_getLogs results (a node of the older spec). */
  stripLogTimestamps?: boolean;
  /**
   * Added to every request before it is forwarded, as a fixed round trip to a remote provider
   * (not a fault: not counted, not limited by `maxFaults`).
   */
  latencyMs?: number;
  /** Only these methods get random faults (default all). */
  methods?: string[];
  seed?: number;
}

export interface RpcProxy {
  url: string;
  /** Counts by kind: forwarded, dropped, rateLimited, delayed, tooLarge. */
  stats: Record<'forwarded' | 'dropped' | 'rateLimited' | 'delayed' | 'tooLarge' | 'stale', number>;
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
  const stats = { forwarded: 0, dropped: 0, rateLimited: 0, delayed: 0, tooLarge: 0, stale: 0 };
  const calls: RpcProxy['calls'] = [];

  const body = (req: IncomingMessage) =>
    new Promise<string>((resolve, reject) => {
      let b = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (b += c));
      req.on('end', () => resolve(b));
      req.on('error', reject);
    });

  const reply = (res: ServerResponse, status: number, payload: string | Buffer) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(payload);
  };

  type Req = { id?: unknown; method?: string; params?: unknown[] };
  const upstreamCall = async (method: string, params: unknown[]): Promise<unknown> => {
    const r = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) });
    return ((await r.json()) as { result?: unknown }).result;
  };
  /** The stale node's answer to `msg`, or undefined to forward it. */
  const staleAnswer = async (msg: Req): Promise<object | undefined> => {
    const lag = f.lagBlocks;
    if (lag === undefined || !msg.method) return undefined;
    const ok = (result: unknown) => {
      stats.stale++;
      return { jsonrpc: '2.0', id: msg.id, result };
    };
    const staleHead = async () => {
      const real = BigInt((await upstreamCall('eth_blockNumber', [])) as string);
      return real - BigInt(lag) < 0n ? 0n : real - BigInt(lag);
    };
    const p = msg.params ?? [];
    switch (msg.method) {
      case 'eth_blockNumber':
        return ok(`0x${(await staleHead()).toString(16)}`);
      case 'eth_getBlockByNumber': {
        const tag = p[0] as string;
        const stale = await staleHead();
        if (tag === 'latest' || tag === 'pending') return ok(await upstreamCall('eth_getBlockByNumber', [`0x${stale.toString(16)}`, p[1] ?? false]));
        if (tag.startsWith('0x') && BigInt(tag) > stale) return ok(null);
        return undefined;
      }
      case 'eth_getBlockByHash':
      case 'eth_getLogs': {
        const hash = msg.method === 'eth_getBlockByHash' ? (p[0] as string) : (p[0] as { blockHash?: string }).blockHash;
        if (!hash) return undefined;
        const b = (await upstreamCall('eth_getBlockByHash', [hash, false])) as { number?: string } | null;
        if (b?.number === undefined || BigInt(b.number) <= (await staleHead())) return undefined;
        if (msg.method === 'eth_getBlockByHash') return ok(null);
        stats.stale++;
        return { jsonrpc: '2.0', id: msg.id, error: { code: -32000, message: 'unknown block' } };
      }
      default:
        return undefined;
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const text = await body(req);
    if (f.latencyMs) await new Promise((resolve) => setTimeout(resolve, f.latencyMs));
    let msg: Req | null = null;
    let batch: Req[] | null = null;
    try {
      const parsed = JSON.parse(text) as unknown;
      if (Array.isArray(parsed)) batch = parsed as Req[];
      else msg = parsed as Req;
    } catch {
      // forward as is
    }
    if (batch && f.lagBlocks !== undefined) {
      // A stale node answers a batch element by element (each from the same stale view).
      const out: unknown[] = [];
      for (const m of batch) {
        calls.push({ method: m.method ?? '', params: m.params });
        const stale = await staleAnswer(m);
        if (stale) out.push(stale);
        else {
          const r = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(m) });
          out.push(await r.json());
        }
      }
      stats.forwarded++;
      return reply(res, 200, JSON.stringify(out));
    }
    if (batch) for (const m of batch) calls.push({ method: m.method ?? '', params: m.params });
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
      const stale = await staleAnswer(msg);
      if (stale) return reply(res, 200, JSON.stringify(stale));
    }
    try {
      const upstream = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text });
      stats.forwarded++;
      if (f.stripLogTimestamps && msg?.method === 'eth_getLogs') {
        const parsed = JSON.parse(await upstream.text()) as { result?: Record<string, unknown>[] };
        for (const l of parsed.result ?? []) delete l.blockTimestamp;
        return reply(res, upstream.status, JSON.stringify(parsed));
      }
      // The bytes as they came (no decoding and re-encoding of a large eth_getLogs answer).
      reply(res, upstream.status, Buffer.from(await upstream.arrayBuffer()));
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

export interface TcpProxy {
  port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Destroys every relayed connection and stops listening (new connections are refused). */
  kill(): Promise<void>;
  /** Listens again on the same port. */
  revive(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Relays TCP connections on a free 127.0.0.1 port to `targetPort` (e.g. anvil's websocket). With
 * `delayMs`, every chunk waits half of it in each direction (in order): a round trip that far away,
 * at the cost of a timer per chunk, nothing parsed.
 */
export async function startTcpProxy(targetPort: number, options: { delayMs?: number } = {}): Promise<TcpProxy> {
  const half = (options.delayMs ?? 0) / 2;
  const sockets = new Set<Socket>();
  let accepted = 0;
  let server: TcpServer | null = null;
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const srv = createTcpServer((client) => {
        accepted++;
        const upstream = tcpConnect(targetPort, '127.0.0.1');
        sockets.add(client);
        sockets.add(upstream);
        const end = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        for (const sock of [client, upstream]) {
          sock.on('error', end);
          sock.on('close', end);
        }
        if (half > 0) {
          const relay = (from: Socket, to: Socket) => from.on('data', (chunk) => setTimeout(() => to.writable && to.write(chunk), half));
          relay(client, upstream);
          relay(upstream, client);
        } else {
          client.pipe(upstream);
          upstream.pipe(client);
        }
      });
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', () => {
        server = srv;
        resolve((srv.address() as AddressInfo).port);
      });
    });
  const port = await listen(0);
  const kill = async () => {
    const srv = server;
    server = null;
    for (const sock of sockets) sock.destroy();
    sockets.clear();
    if (srv) await new Promise<void>((resolve) => srv.close(() => resolve()));
  };
  return {
    port,
    get accepted() {
      return accepted;
    },
    kill,
    async revive() {
      if (!server) await listen(port);
    },
    close: kill,
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [target, latency, kind] = process.argv.slice(2);
  if (!target) throw new Error('usage: rpcProxy.ts <target url> [latencyMs] [http|tcp]');
  if (kind === 'tcp') {
    const relay = await startTcpProxy(Number(new URL(target).port), { delayMs: Number(latency ?? 0) });
    console.log(`http://127.0.0.1:${relay.port}`);
    process.on('SIGTERM', () => void relay.close().then(() => process.exit(0)));
  } else {
    const proxy = await startRpcProxy(target, { latencyMs: Number(latency ?? 0) });
    console.log(proxy.url);
    process.on('SIGTERM', () => void proxy.close().then(() => process.exit(0)));
  }
}
