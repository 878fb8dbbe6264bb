import type { FailureKind } from '../lib/failureKind.js';
import { backoffMs } from '../lib/backoff.js';

export interface PoisonEvidenceOptions {
  /** Deliveries after which a message that keeps failing is dead-lettered (when the evidence says poison). */
  maxDeliveries: number;
  /** Redelivery delay after the first failure; doubles per delivery up to `maxDelayMs`. */
  minDelayMs: number;
  maxDelayMs: number;
  /** How far back a success or a failure of another message counts as evidence. */
  windowMs: number;
  /** Failing messages remembered at most (oldest forgotten first). */
  maxTracked?: number;
}

/** What to do with a message whose handling just failed (not for bad input: that is dead-lettered at once). */
export type FailureVerdict = { action: 'retry'; delayMs: number; othersPassed: boolean } | { action: 'dead-letter'; reason: string };

interface Failing {
  /** This worker's success count when the message last failed here. */
  successesAtFailure: number;
}

/**
 * Decides, per worker and from evidence, whether a failing message is poison or a victim of an
 * outage. Messages that went through count as evidence that the dependencies work; other messages
 * failing with none going through count as evidence of an outage.
 *
 * - A `dependency` failure (connection refused, timeout, state rebuilding) is retried with bounded
 *   exponential backoff; at the delivery limit it is dead-lettered only if other messages went
 *   through since it last failed (or within the window, when this worker sees it for the first
 *   time): the dependency works for them, so this message is what breaks it.
 * - An `unanticipated` failure (a RangeError, a script error) is dead-lettered at the limit unless
 *   the evidence says outage: nothing went through within the window while other messages failed.
 * - A real outage (everything failing) therefore never dead-letters a good message: it is retried,
 *   at most every `maxDelayMs`, for as long as the outage lasts.
 *
 * Pure and synchronous: the caller passes the clock.
 */
export class PoisonEvidence {
  private successes = 0;
  private lastSuccessAt = -Infinity;
  private lastOtherFailure = { key: '', at: -Infinity };
  private readonly failing = new Map<string, Failing>();
  private readonly maxTracked: number;

  constructor(private readonly o: PoisonEvidenceOptions) {
    this.maxTracked = o.maxTracked ?? 10_000;
  }

  /** A message was handled (its effects are on their way to durable storage). */
  succeeded(key: string, now: number): void {
    this.successes++;
    this.lastSuccessAt = now;
    this.failing.delete(key);
  }

  /** A message failed on delivery `deliveryCount` (1 for the first) with a failure of `kind`. */
  failed(key: string, kind: Exclude<FailureKind, 'bad-input'>, deliveryCount: number, now: number): FailureVerdict {
    const prev = this.failing.get(key);
    const recentSuccess = now - this.lastSuccessAt <= this.o.windowMs;
    const othersPassed = prev ? this.successes > prev.successesAtFailure : recentSuccess;
    const othersFailing = this.lastOtherFailure.key !== key && now - this.lastOtherFailure.at <= this.o.windowMs;
    const outage = !recentSuccess && othersFailing;
    this.lastOtherFailure = { key, at: now };
    this.remember(key);

    if (deliveryCount >= this.o.maxDeliveries) {
      const poison = kind === 'dependency' ? othersPassed : !outage;
      if (poison) {
        this.failing.delete(key);
        return {
          action: 'dead-letter',
          reason: `failed on each of ${deliveryCount} deliveries (limit ${this.o.maxDeliveries}) while ${othersPassed || recentSuccess ? 'other messages went through' : 'no outage was seen'}`,
        };
      }
    }
    const delayMs = backoffMs(deliveryCount - 1, { initialMs: this.o.minDelayMs, maxMs: this.o.maxDelayMs, jitter: 'none' });
    return { action: 'retry', delayMs, othersPassed };
  }

  /** Failing messages currently remembered (bounded by `maxTracked`). */
  get tracked(): number {
    return this.failing.size;
  }

  private remember(key: string): void {
    this.failing.delete(key);
    this.failing.set(key, { successesAtFailure: this.successes });
    if (this.failing.size > this.maxTracked) this.failing.delete(this.failing.keys().next().value!);
  }
}
