/**
 * The one exponential backoff of the engine: retry `n` (0 for the first retry) waits up to
 * `min(maxMs, initialMs × 2^n)`, jittered so that many clients failing together do not retry
 * together:
 * - `full`: uniform in [0, cap] (RPC calls, alert deliveries: many independent callers);
 * - `equal`: half fixed, half random, in [cap/2, cap] (ClickHouse inserts: never too eager);
 * - `none`: exactly the cap (a worker's own sink and redelivery delays, where one caller waits).
 */
export interface Backoff {
  initialMs: number;
  maxMs: number;
  jitter?: 'full' | 'equal' | 'none';
}

export function backoffMs(retry: number, b: Backoff, random: () => number = Math.random): number {
  const cap = Math.min(b.maxMs, b.initialMs * 2 ** Math.min(Math.max(0, retry), 52));
  switch (b.jitter ?? 'full') {
    case 'full':
      return Math.floor(random() * cap);
    case 'equal':
      return Math.floor(cap / 2 + (random() * cap) / 2);
    case 'none':
      return cap;
  }
}
