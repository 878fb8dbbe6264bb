/**
 * The checks a bank statement allows on its own and against the statements before and after it
 * (pure, no I/O): opening booked balance plus the booked entries must equal the closing booked
 * balance; statement sequence numbers (ElctrncSeqNb, else LglSeqNb) must have no gap; consecutive
 * statements' periods must not overlap. Each finding is a discrepancy with a deterministic id, so
 * re-ingesting a statement repeats the same facts and a gap filled later is resolved by id.
 */
import type { StatementBalance, StatementHeader } from './camtMapping.js';

export type StatementDiscrepancyKind = 'STATEMENT_BALANCE_MISMATCH' | 'STATEMENT_SEQUENCE_GAP' | 'STATEMENT_OVERLAP';

export interface StatementFinding {
  id: string;
  kind: StatementDiscrepancyKind;
  status: 'open' | 'resolved';
  reason: string;
  accountId: string;
  currency: string;
  /** Signed minor units, decimal strings ('' when not about an amount). */
  expected: string;
  actual: string;
  eventTime: number;
}

/** A statement as the sequence check remembers it. */
export interface SequencePoint {
  seq: bigint;
  reportId: string;
  from: number | null;
  to: number | null;
}

/** The sequence number a statement is ordered by: ElctrncSeqNb, else LglSeqNb, else none. */
export const sequenceOf = (h: Pick<StatementHeader, 'electronicSeq' | 'legalSeq'>): bigint | null => h.electronicSeq ?? h.legalSeq;

/** Prefix of a statement's findings: account and message family (sequences are per family). */
const scope = (accountId: string, h: Pick<StatementHeader, 'family'>) => `${accountId}:${h.family}`;

/**
 * Opening booked balance (OPBD, else PRCD) plus the booked entries against the closing booked
 * balance (CLBD, else ITBD for an intraday report): a mismatch when they differ or disagree on
 * currency; nothing when the statement lacks either balance.
 */
export function balanceCheck(s: { header: StatementHeader; accountId: string; balances: readonly StatementBalance[]; bookedNetMinor: bigint }): StatementFinding[] {
  const find = (...types: string[]) => types.map((t) => s.balances.find((b) => b.type === t)).find((b) => b !== undefined);
  const opening = find('OPBD', 'PRCD');
  const closing = find('CLBD', 'ITBD');
  if (!opening || !closing) return [];
  const expected = opening.amountMinor + s.bookedNetMinor;
  const sameCurrency = opening.currency === closing.currency;
  if (sameCurrency && expected === closing.amountMinor) return [];
  const h = s.header;
  return [
    {
      id: `STATEMENT_BALANCE_MISMATCH:${scope(s.accountId, h)}:${h.reportId}`,
      kind: 'STATEMENT_BALANCE_MISMATCH',
      status: 'open',
      reason: sameCurrency
        ? `${h.family} ${h.reportId}: ${opening.type} ${opening.amountMinor} + booked entries ${s.bookedNetMinor} = ${expected} minor units of ${opening.currency}, but ${closing.type} is ${closing.amountMinor} (gap ${closing.amountMinor - expected}).`
        : `${h.family} ${h.reportId}: ${opening.type} is in ${opening.currency}, ${closing.type} in ${closing.currency}; they cannot be reconciled.`,
      accountId: s.accountId,
      currency: closing.currency,
      expected: expected.toString(),
      actual: closing.amountMinor.toString(),
      eventTime: closing.time,
    },
  ];
}

const gapId = (accountId: string, h: Pick<StatementHeader, 'family'>, from: bigint, to: bigint) => `STATEMENT_SEQUENCE_GAP:${scope(accountId, h)}:${from}-${to}`;

/**
 * A statement against its neighbours in sequence (the highest number below it, the lowest above
 * it, as recorded before it arrived): a gap before or after it is opened, the gap it falls into is
 * resolved (what remains of it on either side is opened again), and a period that overlaps a
 * neighbour's, or a number already used by another statement, is an overlap.
 */
export function sequenceCheck(o: {
  header: StatementHeader;
  accountId: string;
  currency: string;
  prev?: SequencePoint | undefined;
  next?: SequencePoint | undefined;
  same?: SequencePoint | undefined;
}): StatementFinding[] {
  const h = o.header;
  const seq = sequenceOf(h);
  if (seq === null) return [];
  const out: StatementFinding[] = [];
  const at = h.to ?? h.createdAt;
  const finding = (id: string, kind: StatementDiscrepancyKind, status: 'open' | 'resolved', reason: string): StatementFinding => ({
    id,
    kind,
    status,
    reason,
    accountId: o.accountId,
    currency: o.currency,
    expected: '',
    actual: '',
    eventTime: at,
  });
  const { prev, next } = o;
  if (o.same && o.same.reportId !== h.reportId) {
    out.push(
      finding(`STATEMENT_OVERLAP:${scope(o.accountId, h)}:${h.reportId}`, 'STATEMENT_OVERLAP', 'open', `${h.family} ${h.reportId} has sequence number ${seq}, already used by ${o.same.reportId}.`),
    );
  }
  // The gap this statement falls into, when both neighbours were there before it.
  if (prev && next && next.seq - prev.seq > 1n) {
    out.push(
      finding(gapId(o.accountId, h, prev.seq + 1n, next.seq - 1n), 'STATEMENT_SEQUENCE_GAP', 'resolved', `${h.family} ${h.reportId} (number ${seq}) arrived between ${prev.seq} and ${next.seq}.`),
    );
  }
  if (prev && seq - prev.seq > 1n) {
    out.push(
      finding(
        gapId(o.accountId, h, prev.seq + 1n, seq - 1n),
        'STATEMENT_SEQUENCE_GAP',
        'open',
        `${h.family} statements ${prev.seq + 1n}..${seq - 1n} of account ${o.accountId} are missing: ${prev.reportId} (number ${prev.seq}) is followed by ${h.reportId} (number ${seq}).`,
      ),
    );
  }
  if (next && next.seq - seq > 1n) {
    out.push(
      finding(
        gapId(o.accountId, h, seq + 1n, next.seq - 1n),
        'STATEMENT_SEQUENCE_GAP',
        'open',
        `${h.family} statements ${seq + 1n}..${next.seq - 1n} of account ${o.accountId} are missing: ${h.reportId} (number ${seq}) is followed by ${next.reportId} (number ${next.seq}).`,
      ),
    );
  }
  const overlaps = (a: SequencePoint) => a.from !== null && a.to !== null && h.from !== null && h.to !== null && a.from < h.to && h.from < a.to;
  for (const n of [prev, next]) {
    if (n && n.reportId !== h.reportId && overlaps(n)) {
      out.push(
        finding(
          `STATEMENT_OVERLAP:${scope(o.accountId, h)}:${h.reportId}:${n.reportId}`,
          'STATEMENT_OVERLAP',
          'open',
          `${h.family} ${h.reportId} covers ${new Date(h.from!).toISOString()}..${new Date(h.to!).toISOString()}, overlapping ${n.reportId} (${new Date(n.from!).toISOString()}..${new Date(n.to!).toISOString()}).`,
        ),
      );
    }
  }
  return out;
}
