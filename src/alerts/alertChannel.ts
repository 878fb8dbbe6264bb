import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { createCircuitBreaker, type CircuitBreaker, type CircuitState } from './circuitBreaker.js';
import { backoffMs } from '../lib/backoff.js';

/** What became of one request after its retries: accepted by the channel, or refused for good. */
export type DeliveryResult = { outcome: 'accepted'; status: number; body: string; attempts: number } | { outcome: 'rejected'; status: number; body: string; attempts: number };

export interface RetryPolicy {
  baseMs: number;
  maxMs: number;
  timeoutMs: number;
}

export interface AlertChannelOptions {
  /** Name used in logs and metrics (never the URL: a webhook URL is a secret). */
  name: string;
  url: string;
  /** Minimum spacing between requests (Slack: 1 s per webhook). */
  minIntervalMs: number;
  retry: RetryPolicy;
  circuitBreaker: { failureThreshold: number; openMs: number };
  log: Logger;
  onCircuit?: (channel: string, state: CircuitState) => void;
  onAttempt?: (channel: string, result: 'accepted' | 'rejected' | 'rate_limited' | 'server_error' | 'timeout' | 'network_error' | 'circuit_open') => void;
  fetch?: typeof fetch;
  random?: () => number;
  now?: () => number;
}

export interface AlertChannel {
  readonly name: string;
  readonly breaker: CircuitBreaker;
  /**
   * Posts `body` as JSON until the channel accepts it (2xx) or refuses it for good (a 4xx other
   * than 408/429). Transient failures — 5xx, timeouts, network errors, 429 — are retried without
   * end (exponential backoff with full jitter; a 429's Retry-After is honoured and delays every
   * request of the channel); `signal` stops it (rejects with an AbortError).
   */
  send(body: unknown, signal: AbortSignal): Promise<DeliveryResult>;
}

/** Retry-After as ms: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.ceil(Number(value) * 1_000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Exponential backoff with full jitter: uniform in [0, min(max, base·2^(attempt−1))]. */
export function deliveryBackoffMs(attempt: number, p: Pick<RetryPolicy, 'baseMs' | 'maxMs'>, random: () => number = Math.random): number {
  return backoffMs(attempt - 1, { initialMs: p.baseMs, maxMs: p.maxMs }, random);
}

/**
 * One delivery channel (a PagerDuty routing key, a Slack webhook): paced, retried, and guarded by
 * a circuit breaker that opens after consecutive failures and reports each state change.
 */
export function createAlertChannel(o: AlertChannelOptions): AlertChannel {
  const doFetch = o.fetch ?? fetch;
  const random = o.random ?? Math.random;
  const now = o.now ?? Date.now;
  const breaker = createCircuitBreaker({
    ...o.circuitBreaker,
    now,
    onStateChange: (state, info) => {
      if (state === 'open') o.log.error({ channel: o.name, failures: info.failures, reopensInMs: (info.reopensAt ?? now()) - now() }, 'alert channel circuit open: not sending until a probe succeeds');
      else o.log.warn({ channel: o.name, state }, `alert channel circuit ${state}`);
      o.onCircuit?.(o.name, state);
    },
  });
  let nextAt = 0;
  /** Reserves the next send slot synchronously (so concurrent callers are spaced too) and waits for it. */
  const pace = async (signal: AbortSignal) => {
    const t = now();
    const slot = Math.max(t, nextAt);
    nextAt = slot + o.minIntervalMs;
    if (slot > t) await sleep(slot - t, undefined, { signal });
  };

  async function send(body: unknown, signal: AbortSignal): Promise<DeliveryResult> {
    const payload = JSON.stringify(body);
    for (let attempt = 1; ; attempt++) {
      signal.throwIfAborted();
      while (!breaker.acquire()) {
        o.onAttempt?.(o.name, 'circuit_open');
        await sleep(Math.max(10, breaker.waitMs()), undefined, { signal });
      }
      await pace(signal);
      let status = 0;
      let text = '';
      let retryAfter: number | undefined;
      let failure: 'rate_limited' | 'server_error' | 'timeout' | 'network_error' | undefined;
      try {
        const res = await doFetch(o.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: payload,
          signal: AbortSignal.any([signal, AbortSignal.timeout(o.retry.timeoutMs)]),
        });
        status = res.status;
        text = await res.text();
        if (status >= 200 && status < 300) {
          breaker.success();
          o.onAttempt?.(o.name, 'accepted');
          return { outcome: 'accepted', status, body: text, attempts: attempt };
        }
        if (status === 429) {
          failure = 'rate_limited';
          retryAfter = parseRetryAfter(res.headers.get('retry-after'), now());
        } else if (status >= 500 || status === 408) {
          failure = 'server_error';
        } else {
          // Answered, so the channel is up: a permanent refusal does not count against the circuit.
          breaker.success();
          o.onAttempt?.(o.name, 'rejected');
          return { outcome: 'rejected', status, body: text, attempts: attempt };
        }
      } catch (e) {
        if (signal.aborted) throw e;
        failure = (e as Error).name === 'TimeoutError' ? 'timeout' : 'network_error';
        text = (e as Error).message;
      }
      o.onAttempt?.(o.name, failure);
      let delay: number;
      if (failure === 'rate_limited') {
        // Busy, not down: the circuit stays as it is; every request of the channel waits.
        breaker.success();
        delay = retryAfter ?? deliveryBackoffMs(attempt, o.retry, random);
        nextAt = Math.max(nextAt, now() + delay);
        delay = 0; // pace() waits for nextAt
      } else {
        breaker.failure();
        delay = deliveryBackoffMs(attempt, o.retry, random);
      }
      o.log.warn({ channel: o.name, attempt, status, failure, retryAfterMs: retryAfter, retryInMs: delay, response: text.slice(0, 200) }, 'alert delivery failed; retrying');
      if (delay > 0) await sleep(delay, undefined, { signal });
    }
  }

  return { name: o.name, breaker, send };
}
