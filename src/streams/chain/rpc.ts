/**
 * RPC plumbing for the ingester: a client over one or several JSON-RPC URLs (viem `fallback`:
 * a URL that fails is skipped for the next one, per request), and retries with exponential backoff
 * and full jitter for what is worth retrying (timeouts, HTTP 429 / 5xx, dropped connections).
 * A "range or result too large" answer is not retried here: the caller shrinks the range.
 */
import { createPublicClient, fallback, http, type PublicClient } from 'viem';
import { isRangeTooLargeError } from './blockRanges.js';
import { backoffMs } from '../../lib/backoff.js';

export interface ChainClientOptions {
  rpcUrls: readonly string[];
  timeoutMs: number;
}

/** A public client over `rpcUrls` with viem's own retries off (see `withRetry`). */
export function createChainClient(o: ChainClientOptions): PublicClient {
  const transports = o.rpcUrls.map((u) => http(u, { retryCount: 0, timeout: o.timeoutMs }));
  const transport =
    transports.length === 1
      ? transports[0]!
      : fallback(transports, {
          retryCount: 0,
          // A provider that refuses the range refuses it for a reason: shrink rather than hop.
          shouldThrow: (e) => isRangeTooLargeError(e),
        });
  return createPublicClient({ transport }) as PublicClient;
}

export interface RetryOptions {
  /** Retries after the first attempt. */
  retries: number;
  initialMs: number;
  maxMs: number;
  /** Called before each wait, e.g. to log. */
  onRetry?: (e: unknown, attempt: number, waitMs: number) => void;
  /** Defaults to `Math.random`; tests pin it. */
  random?: () => number;
  /** Stops retrying (e.g. shutting down). */
  cancelled?: () => boolean;
}

/** Whether an RPC failure is transient: timeouts, rate limits, server errors, broken connections. */
export function isRetryableRpcError(e: unknown): boolean {
  if (isRangeTooLargeError(e)) return false;
  for (let cur: unknown = e, depth = 0; cur && depth < 10; depth++) {
    const o = cur as { name?: unknown; status?: unknown; code?: unknown; message?: unknown; details?: unknown; cause?: unknown };
    if (o.name === 'TimeoutError' || o.name === 'AbortError') return true;
    if (typeof o.status === 'number' && (o.status === 429 || o.status === 408 || o.status >= 500)) return true;
    if (o.code === 429 || o.code === -32005 || o.code === -32603 || o.code === 'ECONNRESET' || o.code === 'ECONNREFUSED') return true;
    const text = `${typeof o.message === 'string' ? o.message : ''} ${typeof o.details === 'string' ? o.details : ''}`;
    if (/timeout|timed out|rate limit|too many requests|429|ECONNRESET|ECONNREFUSED|socket hang up|fetch failed|other side closed|network/i.test(text)) {
      return true;
    }
    cur = o.cause;
  }
  return false;
}

/** Runs `fn`, retrying transient failures with jittered backoff; rethrows the last error. */
export async function withRetry<T>(fn: () => Promise<T>, o: RetryOptions): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (attempt >= o.retries || !isRetryableRpcError(e) || o.cancelled?.()) throw e;
      const wait = backoffMs(attempt, { initialMs: o.initialMs, maxMs: o.maxMs }, o.random);
      o.onRetry?.(e, attempt + 1, wait);
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}
