import type { Leg, Side } from './types.js';

/*
 * What the match store (src/state/matchStore.ts, its Lua scripts) decides, as the domain reads it:
 * the fact builders (outcomeFacts.ts) turn these into facts without knowing where they were decided.
 */

/** A leg as Redis remembers it (the counterpart returned with an outcome, or an expired leg). */
export interface StoredLeg {
  id: string;
  s: Side;
  f: Leg['flow'];
  a: string;
  w: string;
  c: string;
  k: string;
  m: string;
  n: string;
  t: number;
  r: string;
  state: string;
  d: string;
  mid?: string;
}

/** What the atomic match-or-park decided for one leg. */
export type Outcome =
  | { t: 'parked'; legId: string }
  | { t: 'pending'; legId: string }
  | { t: 'stale'; legId: string }
  | { t: 'match'; legId: string; mid: string; by: 'reference' | 'attributes'; other: StoredLeg; resolves: string }
  | {
      t: 'mismatch';
      legId: string;
      kind: 'AMOUNT_MISMATCH' | 'CURRENCY_MISMATCH';
      discrepancyId: string;
      by: 'reference' | 'attributes';
      other: StoredLeg;
      resolves: string;
    }
  | { t: 'duplicate'; legId: string; other: StoredLeg }
  | { t: 'conflict'; legId: string; other: StoredLeg }
  | { t: 'reversal'; legId: string; mid: string; by: 'reference' | 'attributes'; resolves: string; other: StoredLeg | null }
  | { t: 'withdrawn'; legId: string; resolves: string };

/** What retracting an orphaned chain leg undid. */
export type RetractionOutcome =
  | { t: 'unknown'; legId?: string }
  | {
      t: 'retracted';
      legId: string;
      /** The leg's state before: parked, expired, matched, mismatched, duplicate. */
      prior: string;
      self: StoredLeg;
      /** The counterpart that was re-opened (matched or mismatched before). */
      other?: StoredLeg;
      /** The match that no longer holds. */
      mid: string;
      by: string;
      rs: string;
      /** A discrepancy that no longer holds (the leg's own MISSING_*, a mismatch, a duplicate). */
      resolves: string;
    };
