import { backoffMs } from '../../lib/backoff.js';

export interface RetryOptions {
  /** Attempts in total, including the first. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryOptions = { attempts: 6, baseDelayMs: 100, maxDelayMs: 5_000 };

/**
 * ClickHouse error codes that describe the server's state, not the statement: retrying the same
 * statement later can succeed. Anything else the server reports (syntax, type, unknown table) is a
 * bug that retrying cannot fix.
 */
const TRANSIENT_CLICKHOUSE_CODES = new Set([
  '159', // TIMEOUT_EXCEEDED
  '164', // READONLY
  '202', // TOO_MANY_SIMULTANEOUS_QUERIES
  '203', // NO_FREE_CONNECTION
  '209', // SOCKET_TIMEOUT
  '210', // NETWORK_ERROR
  '241', // MEMORY_LIMIT_EXCEEDED
  '242', // TABLE_IS_READ_ONLY
  '252', // TOO_MANY_PARTS
  '285', // TOO_FEW_LIVE_REPLICAS
  '319', // UNKNOWN_STATUS_OF_INSERT
  '394', // QUERY_WAS_CANCELLED
  '425', // SYSTEM_ERROR
  '999', // KEEPER_EXCEPTION
]);

/**
 * True when an error from the client means "ClickHouse is unavailable right now": a server error
 * with a transient code, or any error that did not come from the server at all (connection
 * refused or reset, timeout, socket hang up, HTTP 5xx without a ClickHouse body).
 */
export function isTransientClickHouseError(e: unknown): boolean {
  const code = serverErrorCode(e);
  if (code !== undefined) return TRANSIENT_CLICKHOUSE_CODES.has(code);
  // A TypeError or RangeError raised in this process while building the insert (a value JSON
  // cannot hold) fails the same way every time: not the server being away. Unless it wraps a
  // socket error (fetch-style clients report refused connections as TypeError with a cause).
  if (e instanceof TypeError || e instanceof RangeError) return hasNetworkCause(e);
  return e instanceof Error;
}

function hasNetworkCause(e: Error): boolean {
  for (let c: unknown = e.cause, depth = 0; c instanceof Error && depth < 8; c = c.cause, depth++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return true;
  }
  return false;
}

/** The numeric ClickHouse error code of a server error, else undefined. Duck-typed: chdb throws
 *  `ClickHouseError` from its own copy of @clickhouse/client-common, so `instanceof` against the
 *  class exported by @clickhouse/client is false for embedded errors. Network errors carry
 *  non-numeric codes (ECONNREFUSED). */
export function serverErrorCode(e: unknown): string | undefined {
  if (!(e instanceof Error)) return undefined;
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && /^\d+$/.test(code) ? code : undefined;
}

/** Delay before retry number `attempt` (1-based): exponential, capped, half fixed and half random. */
export function backoffDelay(attempt: number, opts: RetryOptions, random: () => number = Math.random): number {
  return backoffMs(attempt - 1, { initialMs: opts.baseDelayMs, maxMs: opts.maxDelayMs, jitter: 'equal' }, random);
}
