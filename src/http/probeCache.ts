/**
 * A probe whose answer is reused for `ttlMs`: calls within the interval share the last result
 * (resolved or rejected: a failing dependency is not hammered harder than a healthy one), and
 * calls while it runs share the one in flight. So N readiness checks or scrapes a second cost at
 * most one round trip to the dependency per interval. `ttlMs` 0 runs `fn` on every call, still
 * sharing an attempt in flight.
 */
export function cachedProbe<T>(fn: () => Promise<T>, ttlMs: number, now: () => number = performance.now.bind(performance)): () => Promise<T> {
  let last: { at: number; result: Promise<T> } | null = null;
  let inFlight: Promise<T> | null = null;
  return () => {
    if (inFlight) return inFlight;
    if (last && now() - last.at < ttlMs) return last.result;
    const started = now();
    const p = Promise.resolve().then(fn);
    inFlight = p;
    // A settled promise is kept (with a no-op catch so a cached rejection is never "unhandled").
    p.catch(() => undefined).finally(() => {
      inFlight = null;
      last = { at: started, result: p };
    });
    return p;
  };
}
