import { describe, expect, it } from 'vitest';
import { factKey, type DiscrepancyEventRow, type Fact, type LedgerEntryRow } from '../../src/domain/facts.js';
import { compactRow, encodeFact, idOfKey } from '../../src/sinks/clickhouse/insertRow.js';
import { decodeFactLog, encodeFactLog, FactLogMessageError } from '../../src/sinks/factLog/factLogMessage.js';

function entry(id: string, version = 2): Fact {
  const row: LedgerEntryRow = {
    entry_id: id,
    account_id: 'ACC-1',
    direction: 'credit',
    amount_minor: '123456789012345678901234567890',
    currency: 'USD',
    exponent: 2,
    booking_time: 1_700_000_000_000,
    value_time: 1_700_000_000_000,
    status: 'booked',
    tx_type: 'deposit',
    end_to_end_id: `E2E-${id}`,
    remittance: 'tab\there, newline\nthere, quote " and backslash \\ and \u2028',
    tokenization_ref: '',
    schema_version: 1,
    stream_seq: 7,
    version,
    recorded_at: 1_700_000_000_001,
  };
  return { table: 'ledger_entries', row };
}

function discrepancy(id: string): Fact {
  const row: DiscrepancyEventRow = {
    discrepancy_id: id,
    event_id: `${id}:open`,
    kind: 'MISSING_MINT',
    status: 'open',
    flow: 'deposit',
    account_id: 'ACC-1',
    wallet: '0xabc',
    currency: 'USD',
    token_key: 't',
    bank_leg_id: 'b',
    chain_leg_id: '',
    expected_amount: '100',
    actual_amount: '',
    reason: 'no mint',
    event_time: 1,
    recorded_at: 2,
  };
  return { table: 'discrepancy_events', row };
}

const text = (d: Uint8Array) => Buffer.from(d).toString('utf8');

describe('fact log messages', () => {
  // Ids as a bank may send them: separators of the format, JSON escapes, '@' and ':' inside.
  const facts = [entry('E-1'), entry('E\t2\n"x"\\y'), entry('E@3:z', 3), discrepancy('MISSING_MINT:b'), discrepancy('D\u0001')];

  it('carries each fact in its insert form: table, key and the JSONCompactEachRow line', () => {
    const [m] = encodeFactLog(facts, undefined, 1 << 20);
    const lines = text(m!.data).split('\n');
    expect(lines[0]).toBe('{"v":2,"suspects":[]}');
    expect(lines).toHaveLength(facts.length + 1);
    expect(lines[1]).toBe(`ledger_entries\t"ledger_entries:E-1@2"\t${JSON.stringify(compactRow('ledger_entries', facts[0]!.row))}`);
    const decoded = decodeFactLog(m!.data);
    expect(decoded.facts).toEqual(facts.map(encodeFact));
    // The line is what the writer inserts and hashes into the dedup token: Nullable '' as null.
    expect(JSON.parse(decoded.facts[3]!.line)).toContain(null);
    expect(decoded.facts.map((f) => f.key)).toEqual(facts.map(factKey));
  });

  it('reads version 1 messages (a worker of an earlier release) into the same insert form', () => {
    const [v1] = encodeFactLog(facts, new Set([factKey(facts[1]!)]), 1 << 20, 1);
    expect(text(v1!.data)).toMatch(/^\{"v":1,"suspects":\["ledger_entries:E\\t2\\n\\"x\\"\\\\y@2"\],"facts":\[\{"table":"ledger_entries","row":\{"entry_id":"E-1"/);
    const [v2] = encodeFactLog(facts, new Set([factKey(facts[1]!)]), 1 << 20, 2);
    expect(decodeFactLog(v1!.data)).toEqual(decodeFactLog(v2!.data));
    expect(v1!.id).not.toBe(v2!.id);
  });

  it('splits a batch by size, each message with its own suspects and an id hashed from its bytes', () => {
    const many = Array.from({ length: 40 }, (_, i) => entry(`E-${i}`));
    const suspects = new Set([factKey(many[0]!), factKey(many[39]!)]);
    const messages = encodeFactLog(many, suspects, 4_096);
    expect(messages.length).toBeGreaterThan(2);
    for (const m of messages) expect(m.data.byteLength).toBeLessThan(4_096 + 1_024);
    const decoded = messages.map((m) => decodeFactLog(m.data));
    expect(decoded.flatMap((d) => d.facts)).toEqual(many.map(encodeFact));
    expect(decoded.map((d) => d.facts.length)).toEqual(messages.map((m) => m.facts));
    expect(decoded[0]!.suspects).toEqual([factKey(many[0]!)]);
    expect(decoded.at(-1)!.suspects).toEqual([factKey(many[39]!)]);
    expect(decoded.slice(1, -1).every((d) => d.suspects.length === 0)).toBe(true);
    expect(new Set(messages.map((m) => m.id)).size).toBe(messages.length);
    expect(encodeFactLog(many, suspects, 4_096).map((m) => m.id)).toEqual(messages.map((m) => m.id));
  });

  it('refuses what it cannot load, naming the fault', () => {
    const refuse = (s: string, reason: RegExp) => {
      expect(() => decodeFactLog(Buffer.from(s))).toThrow(FactLogMessageError);
      expect(() => decodeFactLog(Buffer.from(s))).toThrow(reason);
    };
    const row = JSON.stringify(compactRow('ledger_entries', entry('E-1').row));
    refuse('not json', /does not start with a JSON header/);
    refuse('{"v":3,"suspects":[]}', /version 3 is not 1 or 2/);
    refuse('{"v":2}', /no suspects array/);
    refuse('{"v":1,"suspects":[]}', /no facts array/);
    refuse('{"v":1,"suspects":[],"facts":[{"table":"nope","row":{}}]}', /facts\[0\]\.table is not a fact table/);
    refuse('{"v":1,"suspects":[],"facts":[{"table":"matches","row":null}]}', /facts\[0\]\.row is not an object/);
    refuse(`{"v":2,"suspects":[]}\nnope\t"nope:1"\t${row}`, /facts\[0\]\.table is not a fact table/);
    refuse(`{"v":2,"suspects":[]}\nledger_entries\t"ledger_entries:E-1@2"\t${row}\nledger_entries "x" []`, /facts\[1\] is not table, key and row/);
    refuse(`{"v":2,"suspects":[]}\nledger_entries\t"matches:E-1"\t${row}`, /facts\[0\]\.key is not a fact key of ledger_entries/);
    refuse(`{"v":2,"suspects":[]}\nledger_entries\t"ledger_entries:\\x"\t${row}`, /facts\[0\]\.key is not a fact key/);
    refuse(`{"v":2,"suspects":[]}\nledger_entries\t"ledger_entries:E-1@2"\t{"entry_id":"E-1"}`, /facts\[0\]\.row is not a JSON array/);
    refuse(`{"v":2,"suspects":[]}\nledger_entries\t"ledger_entries:E-1@2"\t${row}\n\n`, /facts\[1\] is not table/);
    // A header alone is an empty message, not an error.
    expect(decodeFactLog(Buffer.from('{"v":2,"suspects":[]}')).facts).toEqual([]);
  });

  it('finds the fact id in a key, ids with ":" and "@" included', () => {
    expect(idOfKey('ledger_entries', factKey(entry('E@3:z', 3)), true)).toBe('E@3:z');
    expect(idOfKey('discrepancy_events', factKey(discrepancy('MISSING_MINT:b@x')), false)).toBe('MISSING_MINT:b@x:open');
  });
});
