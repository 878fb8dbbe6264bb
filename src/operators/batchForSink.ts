import { bufferTime, filter, pipe, type OperatorFunction } from 'rxjs';

/**
 * Groups items into batches of at most `maxItems`, emitted at the latest `maxDelayMs` after the
 * batch's first item; empty windows emit nothing.
 *
 *   --a-b-c-------d----|   (maxItems 2, maxDelayMs 5)   ----[a,b]--[c]-----[d]|
 */
export function batchForSink<T>(maxItems: number, maxDelayMs: number): OperatorFunction<T, T[]> {
  return pipe(
    bufferTime<T>(maxDelayMs, null, maxItems),
    filter((batch) => batch.length > 0),
  );
}
