/** A circuit's state as reported (log + metric hook). */
export type CircuitState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. */
  failureThreshold: number;
  /** How long the circuit stays open before one probe is let through. */
  openMs: number;
  now?: () => number;
  /** Called on every state change (the notifier logs it and sets a gauge). */
  onStateChange?: (state: CircuitState, info: { failures: number; reopensAt?: number }) => void;
}

export interface CircuitBreaker {
  readonly state: CircuitState;
  /** 0 when a request may go now (closed, or the half-open probe); otherwise ms until the probe. */
  waitMs(): number;
  /** Takes the permission to send (the half-open probe is given to one caller at a time). */
  acquire(): boolean;
  success(): void;
  failure(): void;
}

/**
 * Stops hammering a channel that is down: after `failureThreshold` consecutive failures the circuit
 * opens and requests wait; after `openMs` one probe goes through (half-open); its success closes the
 * circuit, its failure opens it again for another `openMs`.
 */
export function createCircuitBreaker(o: CircuitBreakerOptions): CircuitBreaker {
  const now = o.now ?? Date.now;
  let state: CircuitState = 'closed';
  let failures = 0;
  let reopensAt = 0;
  let probing = false;
  const set = (s: CircuitState) => {
    if (s === state) return;
    state = s;
    o.onStateChange?.(s, { failures, ...(s === 'open' && { reopensAt }) });
  };
  return {
    get state() {
      return state;
    },
    waitMs() {
      if (state === 'closed') return 0;
      if (state === 'open') return Math.max(0, reopensAt - now());
      return probing ? Math.max(1, Math.min(o.openMs, 100)) : 0;
    },
    acquire() {
      if (state === 'closed') return true;
      if (state === 'open' && now() < reopensAt) return false;
      if (probing) return false;
      set('half-open');
      probing = true;
      return true;
    },
    success() {
      failures = 0;
      probing = false;
      set('closed');
    },
    failure() {
      failures++;
      probing = false;
      if (state === 'half-open' || (state === 'closed' && failures >= o.failureThreshold)) {
        reopensAt = now() + o.openMs;
        set('open');
      }
    },
  };
}
