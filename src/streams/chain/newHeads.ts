/**
 * A websocket `eth_subscribe('newHeads')` used only as a doorbell: each notification calls
 * `onHead` so the poller runs at once instead of at its next interval. The pushed header is never
 * read (the poll reads blocks and logs itself and checks their hashes), so a node that pushes
 * garbage, skips a head or pushes a head of a side chain costs at most one needless poll.
 *
 * The socket is viem's (isows over `ws` on Node 20, which has no global WebSocket) with viem's own
 * reconnect and keep-alive off: viem gives up after a few attempts, silently when a reconnect
 * fails, and its keep-alive only sends. Here a dropped socket, a refused subscription or a ping
 * left unanswered for `timeoutMs` closes the socket and reconnects after a full-jitter backoff,
 * rotating over `urls`; polling carries on meanwhile, so nothing waits for the socket.
 */
import type { Logger } from 'pino';
import { getWebSocketRpcClient } from 'viem/utils';
import { backoffMs } from '../../lib/backoff.js';

export interface NewHeadsOptions {
  /** ws:// or wss:// endpoints, tried in turn after each failure. */
  urls: readonly string[];
  /** Called on every notification (and once after each (re)subscription, to cover the gap). */
  onHead: () => void;
  logger: Logger;
  /** Reconnect backoff: full jitter, doubling from `initialMs` up to `maxMs`. */
  retry: { initialMs: number; maxMs: number };
  /** How long a connect, the subscription or a ping may take. */
  timeoutMs: number;
  /** Liveness ping period (a half-open TCP connection delivers nothing and reports nothing). Default 15 s. */
  pingIntervalMs?: number;
}

export interface NewHeads {
  /** Connects and subscribes in the background; idempotent. */
  start(): void;
  /** Closes the socket and stops reconnecting; idempotent. */
  stop(): void;
  /** Whether a subscription is currently live. */
  subscribed(): boolean;
}

type SocketClient = Awaited<ReturnType<typeof getWebSocketRpcClient>>;

/** Subscribes to `newHeads` on `options.urls`; see the module comment. */
export function newHeads(options: NewHeadsOptions): NewHeads {
  const { urls, onHead, retry, timeoutMs } = options;
  const log = options.logger.child({ component: 'newHeads' });
  const pingIntervalMs = options.pingIntervalMs ?? 15_000;
  let active = false;
  let live = false;
  let attempt = 0;
  let urlIndex = 0;
  // Bumped on every (re)connect and teardown: callbacks of an older socket are ignored.
  let generation = 0;
  let socket: SocketClient | null = null;
  let retryTimer: NodeJS.Timeout | null = null;
  let pingTimer: NodeJS.Timeout | null = null;

  function teardown(): void {
    generation++;
    live = false;
    if (pingTimer) clearInterval(pingTimer);
    pingTimer = null;
    // close() also drops viem's cached client for the URL, so the next connect opens a new socket.
    socket?.close();
    socket = null;
  }

  function fail(gen: number, why: string, err?: unknown): void {
    if (gen !== generation || !active) return;
    teardown();
    const wait = backoffMs(attempt++, { initialMs: retry.initialMs, maxMs: retry.maxMs });
    const url = urls[urlIndex % urls.length];
    urlIndex++;
    log.warn({ url, err, backoffMs: wait }, `newHeads subscription lost (${why}); polling continues, reconnecting`);
    retryTimer = setTimeout(() => {
      retryTimer = null;
      void connect();
    }, wait);
  }

  async function connect(): Promise<void> {
    if (!active) return;
    const gen = ++generation;
    const url = urls[urlIndex % urls.length]!;
    const pending = getWebSocketRpcClient(url, { reconnect: false, keepAlive: false });
    let client: SocketClient;
    try {
      client = await withTimeout(pending, timeoutMs, 'connect');
    } catch (err) {
      // A connect that opens after its timeout must not leave a socket behind.
      pending.then(
        (late) => late.close(),
        () => undefined,
      );
      return fail(gen, 'connect failed', err);
    }
    if (gen !== generation || !active) {
      client.close();
      return;
    }
    socket = client;
    const subscribeTimer = setTimeout(() => fail(gen, 'eth_subscribe unanswered'), timeoutMs);
    client.request({
      body: { method: 'eth_subscribe', params: ['newHeads'] },
      onResponse(msg: { method?: string | undefined; result?: unknown; error?: unknown }) {
        if (gen !== generation) return;
        if (msg.method === 'eth_subscription') return onHead();
        clearTimeout(subscribeTimer);
        if (typeof msg.result !== 'string') return fail(gen, 'eth_subscribe refused', msg.error);
        live = true;
        attempt = 0;
        log.info({ url }, 'subscribed to newHeads');
        // Heads pushed while we were not subscribed are lost: poll once now.
        onHead();
        pingTimer = setInterval(() => {
          client.requestAsync({ body: { method: 'net_version' }, timeout: timeoutMs }).catch((err: unknown) => fail(gen, 'ping unanswered', err));
        }, pingIntervalMs);
        pingTimer.unref();
      },
      onError(err?: unknown) {
        clearTimeout(subscribeTimer);
        fail(gen, 'socket closed', err);
      },
    });
  }

  return {
    start() {
      if (active || urls.length === 0) return;
      active = true;
      attempt = 0;
      void connect();
    },
    stop() {
      if (!active) return;
      active = false;
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = null;
      teardown();
    },
    subscribed: () => live,
  };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
