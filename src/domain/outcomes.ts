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
  /** Amount still open of a leg met by tranches ('' or absent: none). */
  rem?: string;
  /** How the leg was paired when its window closed (expiry sweeps only). */
  pair?: ExpiryPairing;
  /** Why a split search did not run (beyond its bound), for the discrepancy's reason. */
  note?: string;
}

/** A pairing made when a leg's window closed: a late counterpart, a tolerant rule, a proposal or one mismatch. */
export type ExpiryPairing =
  | { t: 'match'; mid: string; by: string; rule: string; other: StoredLeg; resolves: string; resolvesOther: string }
  | { t: 'proposal'; pid: string; by: string; rule: string; other: StoredLeg }
  | { t: 'mismatch'; kind: 'AMOUNT_MISMATCH'; discrepancyId: string; rule: string; other: StoredLeg; resolves: string; resolvesOther: string }
  /** A split found by search: one match per part (its discrepancy, opened as the window closed, resolves). */
  | { t: 'split'; rule: string; parts: TranchePart[]; resolves: string }
  /** A split found by search that a loose rule only proposes: the leg and its parts wait for an operator. */
  | { t: 'splitProposal'; pid: string; rule: string; parts: StoredLeg[] };

/** One tranche of a split: the match it makes with the leg being processed. */
export interface TranchePart {
  mid: string;
  rule: string;
  other: StoredLeg;
  resolves: string;
}

/** What an operator's manual match or unmatch did (src/state/lua/manualMatch.lua). */
export type ManualMatchOutcome =
  | { t: 'refused'; reason: string }
  /** n: the how-manyth manual operation on this pair (its match fact's version is 10 + n). */
  | { t: 'matched'; mid: string; bank: StoredLeg; chain: StoredLeg; resolves: string[]; n: number }
  | { t: 'unmatched'; mid: string; bank: StoredLeg; chain: StoredLeg; reopened: string[] | Record<string, never>; n: number };

/** What an operator's decision on a proposal did (src/state/lua/decideProposal.lua). */
export type ProposalDecision =
  | { t: 'unknown' }
  | { t: 'superseded' }
  | { t: 'confirmed'; pid: string; mid: string; rule: string; by: string; resolves: string; bank: StoredLeg; chain: StoredLeg; bankD: string; chainD: string }
  | { t: 'rejected'; pid: string; bank: StoredLeg; chain: StoredLeg }
  | { t: 'confirmedSplit'; pid: string; whole: StoredLeg; parts: TranchePart[]; resolves: string }
  | { t: 'rejectedSplit'; pid: string; whole: StoredLeg; parts: StoredLeg[] };

/** What the atomic match-or-park decided for one leg. */
export type Outcome =
  | { t: 'parked'; legId: string }
  | { t: 'pending'; legId: string }
  | { t: 'stale'; legId: string }
  | {
      t: 'match';
      legId: string;
      mid: string;
      by: 'reference' | 'attributes' | 'tranche';
      /** `id@version` of the matching rule. */
      rule?: string;
      other: StoredLeg;
      resolves: string;
      /** A tranche: what the other leg still has open after it ('0': complete). */
      remaining?: string;
      /** The other leg's window had closed by event time: its discrepancy opens (and `resolves` resolves it). */
      opens?: string;
    }
  | { t: 'proposal'; legId: string; pid: string; by: 'reference' | 'attributes'; rule: string; other: StoredLeg; resolves: string; opens?: string }
  | { t: 'split'; legId: string; parts: TranchePart[]; remaining: string }
  | {
      t: 'mismatch';
      legId: string;
      kind: 'AMOUNT_MISMATCH' | 'CURRENCY_MISMATCH';
      discrepancyId: string;
      by: 'reference' | 'attributes';
      other: StoredLeg;
      resolves: string;
      opens?: string;
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
      /** Tranches re-opened when the retracted leg was met by several legs of the other side. */
      others?: { other: StoredLeg; mid: string }[];
      by: string;
      rs: string;
      /** A discrepancy that no longer holds (the leg's own MISSING_*, a mismatch, a duplicate). */
      resolves: string;
    };
