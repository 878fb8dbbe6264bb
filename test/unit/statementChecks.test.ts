import { describe, expect, it } from 'vitest';
import type { StatementBalance, StatementHeader } from '../../src/iso20022/camtMapping.js';
import { balanceCheck, sequenceCheck, type SequencePoint } from '../../src/iso20022/statementChecks.js';
import { decodeStatementMessage, statementFacts, statementMessage } from '../../src/iso20022/statementMessage.js';
import { DecodeError } from '../../src/lib/errors.js';
import { fixture, walk } from './camtFixtures.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2024, 4, 1);
const header = (over: Partial<StatementHeader> = {}): StatementHeader => ({
  family: 'camt.053',
  version: 8,
  messageId: 'M',
  reportId: 'S-5',
  account: 'DE89',
  accountCurrency: 'EUR',
  electronicSeq: 5n,
  legalSeq: null,
  from: T0 + 5 * DAY,
  to: T0 + 6 * DAY,
  createdAt: T0 + 6 * DAY,
  ...over,
});
const bal = (type: string, amountMinor: bigint, currency = 'EUR'): StatementBalance => ({ type, amountMinor, currency, exponent: 2, date: '2024-05-06', time: T0 + 6 * DAY });
const pt = (seq: bigint, reportId = `S-${seq}`): SequencePoint => ({ seq, reportId, from: T0 + Number(seq) * DAY, to: T0 + (Number(seq) + 1) * DAY });

describe('balanceCheck', () => {
  it('passes when OPBD plus the booked entries is CLBD, debit balances included', () => {
    expect(balanceCheck({ header: header(), accountId: 'A', balances: [bal('OPBD', -500n), bal('CLBD', 1_500n)], bookedNetMinor: 2_000n })).toEqual([]);
  });

  it('opens STATEMENT_BALANCE_MISMATCH with expected and actual in signed minor units', () => {
    const [f] = balanceCheck({ header: header(), accountId: 'A', balances: [bal('OPBD', 1_000n), bal('CLAV', 9n), bal('CLBD', 1_400n)], bookedNetMinor: 500n });
    expect(f).toMatchObject({ id: 'STATEMENT_BALANCE_MISMATCH:A:camt.053:S-5', kind: 'STATEMENT_BALANCE_MISMATCH', status: 'open', expected: '1500', actual: '1400', currency: 'EUR' });
    expect(f!.reason).toMatch(/OPBD 1000 \+ booked entries 500 = 1500 minor units of EUR, but CLBD is 1400 \(gap -100\)/);
  });

  it('uses ITBD for an intraday report, and checks nothing without both balances', () => {
    expect(balanceCheck({ header: header({ family: 'camt.052' }), accountId: 'A', balances: [bal('OPBD', 0n), bal('ITBD', 10n)], bookedNetMinor: 10n })).toEqual([]);
    expect(balanceCheck({ header: header(), accountId: 'A', balances: [bal('CLBD', 10n)], bookedNetMinor: 10n })).toEqual([]);
  });

  it('finds the public camt.053.001.02 sample inconsistent (CLBD in SEK) and the multi-statement one consistent', async () => {
    const [minimal] = (await walk(fixture('camt053.v2.minimal.xml'))).statements;
    expect(balanceCheck({ ...minimal!, bookedNetMinor: minimal!.net }).map((f) => f.reason)).toEqual([expect.stringMatching(/OPBD is in EUR, CLBD in SEK/)]);
    const { statements } = await walk(fixture('camt053.v2.multi.statement.xml'));
    expect(statements.map((s) => balanceCheck({ ...s, bookedNetMinor: s.net }))).toEqual([[], []]);
  });
});

describe('sequenceCheck', () => {
  const check = (h: StatementHeader, n: { prev?: SequencePoint; next?: SequencePoint; same?: SequencePoint }) => sequenceCheck({ header: h, accountId: 'A', currency: 'EUR', ...n });

  it('finds nothing for the next statement in sequence', () => {
    expect(check(header(), { prev: pt(4n) })).toEqual([]);
  });

  it('opens a gap named by the missing range', () => {
    expect(check(header(), { prev: pt(2n) }).map((f) => [f.id, f.status])).toEqual([['STATEMENT_SEQUENCE_GAP:A:camt.053:3-4', 'open']]);
  });

  it('resolves the gap a late statement falls into and opens what remains on either side', () => {
    expect(check(header(), { prev: pt(2n), next: pt(8n) }).map((f) => [f.id, f.status])).toEqual([
      ['STATEMENT_SEQUENCE_GAP:A:camt.053:3-7', 'resolved'],
      ['STATEMENT_SEQUENCE_GAP:A:camt.053:3-4', 'open'],
      ['STATEMENT_SEQUENCE_GAP:A:camt.053:6-7', 'open'],
    ]);
    expect(check(header(), { prev: pt(4n), next: pt(6n) }).map((f) => [f.id, f.status])).toEqual([['STATEMENT_SEQUENCE_GAP:A:camt.053:5-5', 'resolved']]);
  });

  it('opens an overlap for a period overlapping the previous statement, and for a reused number', () => {
    const overlapping = { ...pt(4n), to: T0 + 5 * DAY + 3_600_000 };
    expect(check(header(), { prev: overlapping }).map((f) => f.id)).toEqual(['STATEMENT_OVERLAP:A:camt.053:S-5:S-4']);
    expect(check(header(), { prev: pt(4n), same: pt(5n, 'S-5-bis') }).map((f) => f.id)).toEqual(['STATEMENT_OVERLAP:A:camt.053:S-5']);
    expect(check(header(), { prev: pt(4n), same: pt(5n, 'S-5') })).toEqual([]);
  });

  it('checks nothing for a statement without sequence numbers', () => {
    expect(check(header({ electronicSeq: null }), { prev: pt(1n) })).toEqual([]);
  });
});

describe('statement message', () => {
  it('round-trips to statement_balances facts and discrepancy events with deterministic ids', () => {
    const summary = { header: header(), accountId: 'A', balances: [bal('OPBD', 1_000n), bal('CLBD', 1_400n)], bookedNetMinor: 500n, entries: 1, postings: 1 };
    const m = statementMessage(summary, balanceCheck(summary));
    const facts = statementFacts(decodeStatementMessage(Buffer.from(JSON.stringify(m))), 99);
    expect(facts.map((f) => [f.table, 'balance_id' in f.row ? f.row.balance_id : (f.row as { event_id: string }).event_id])).toEqual([
      ['statement_balances', `A:camt.053.001.08:S-5:OPBD:${T0 + 6 * DAY}`],
      ['statement_balances', `A:camt.053.001.08:S-5:CLBD:${T0 + 6 * DAY}`],
      ['discrepancy_events', 'STATEMENT_BALANCE_MISMATCH:A:camt.053:S-5:open'],
    ]);
    expect(facts[1]!.row).toMatchObject({ amount_minor: '1400', sequence: '5', message_type: 'camt.053.001.08', statement_account: 'DE89' });
    expect(facts[2]!.row).toMatchObject({ kind: 'STATEMENT_BALANCE_MISMATCH', expected_amount: '1500', actual_amount: '1400', account_id: 'A' });
  });

  it('refuses what is not a statement message', () => {
    expect(() => decodeStatementMessage(Buffer.from('{"accountId":1}'))).toThrow(DecodeError);
    expect(() => decodeStatementMessage(Uint8Array.of(0xff))).toThrow(/not UTF-8 JSON/);
  });
});
