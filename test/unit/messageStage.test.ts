import { firstValueFrom, from, toArray } from 'rxjs';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { currencyExponent } from '../../src/domain/currencies.js';
import { IdentityMap } from '../../src/domain/identityMap.js';
import { messageStage, type MessageStageContext, type Processed } from '../../src/worker/messageStage.js';
import { PoisonEvidence } from '../../src/worker/poisonEvidence.js';
import type { MatchStore } from '../../src/state/matchStore.js';
import { createLedgerCodec, type LedgerPosting } from '../../src/streams/ledgerCodec.js';
import { fakeMsg, memoryFingerprints, type FakeMsg } from '../support/fakeMessages.js';

const WALLET = '0x00000000000000000000000000000000000a11ce';
const codec = createLedgerCodec();
const posting = (id: string, over: Partial<LedgerPosting> = {}): LedgerPosting => ({
  entryId: id,
  accountId: 'ACC-1',
  direction: 'credit',
  amountMinor: 1_000n,
  currency: 'USD',
  bookingTime: Date.now(),
  valueTime: Date.now(),
  status: 'booked',
  txType: 'deposit',
  endToEndId: null,
  remittance: null,
  tokenizationRef: null,
  ...over,
});

/** A delivered ledger message carrying `p` (or raw bytes), on delivery `deliveryCount`. */
function ledgerMsg(seq: number, p: LedgerPosting | Uint8Array, deliveryCount = 1): FakeMsg {
  const enc = p instanceof Uint8Array ? { bytes: p, headers: { 'Recon-Schema': 'ledger-posting/2' } } : codec.encode(p);
  const m = fakeMsg(seq, { stream: 'LEDGER', data: enc.bytes, deliveryCount });
  (m as unknown as { headers: { get(k: string): string } }).headers = { get: (k: string) => (enc.headers as Record<string, string>)[k] ?? '' };
  return m;
}

/**
 * The ledger message stage with an in-memory match store and content record: `fail` makes the
 * store throw for one entry id (a script error, a dropped connection), as Redis would.
 */
function stage(o: { fail?: (legId: string) => Error | undefined; poison?: PoisonEvidence } = {}) {
  const parked = new Set<string>();
  const store = {
    async matchOrPark(leg: { legId: string }) {
      const err = o.fail?.(leg.legId);
      if (err) throw err;
      const replayed = parked.has(leg.legId);
      parked.add(leg.legId);
      return { replayed, outcome: { t: 'parked', legId: leg.legId } };
    },
  } as unknown as MatchStore;
  const fingerprints = memoryFingerprints(false);
  const identities = new IdentityMap(currencyExponent, { accounts: [{ accountId: 'ACC-1', wallets: [WALLET] }], tokens: [] });
  const ctx: MessageStageContext = {
    ledgerCodec: codec,
    identities,
    store,
    fingerprints,
    unmappedPolicy: 'discrepancy',
    log: pino({ level: 'silent' }),
    ...(o.poison && { poison: o.poison }),
  };
  const run = (msgs: FakeMsg[]): Promise<Processed[]> => firstValueFrom(from(msgs.map((msg) => ({ msg, source: 'ledger' as const }))).pipe(messageStage(ctx), toArray()));
  return { run, parked };
}

describe('message stage, ledger source', () => {
  it('turns a valid posting into its facts, with no dead letter and no nak', async () => {
    const m = ledgerMsg(1, posting('E-1'));
    const [p] = await stage().run([m]);
    expect(p!.deadLetter).toBeUndefined();
    expect(p!.facts.map((f) => f.table)).toContain('ledger_entries');
    expect(p!.suspects).toEqual([]);
    expect(m.events).toEqual([]);
  });

  it('dead-letters bad input at once, naming the field, without touching the store', async () => {
    const s = stage();
    const [p] = await s.run([ledgerMsg(1, posting('E-2', { accountId: 'ACC\u00001' }))]);
    expect(p!.deadLetter).toMatchObject({ code: 'SCHEMA_VIOLATION' });
    expect(p!.deadLetter!.reason).toMatch(/accountId/);
    expect(p!.facts).toEqual([]);
    expect(s.parked.size).toBe(0);
    const [q] = await s.run([ledgerMsg(2, new TextEncoder().encode('not avro'))]);
    expect(q!.deadLetter).toMatchObject({ code: 'DECODE_ERROR' });
  });

  it('marks every fact of a redelivered message as a suspect (it may already be durable)', async () => {
    const s = stage();
    await s.run([ledgerMsg(1, posting('E-3'))]);
    const [p] = await s.run([ledgerMsg(1, posting('E-3'), 2)]);
    expect(p!.suspects.length).toBe(p!.facts.length);
    expect(p!.suspects.length).toBeGreaterThan(0);
  });

  it('naks a message whose dependency fails, with a growing delay, and emits nothing for it', async () => {
    const down = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });
    const s = stage({ fail: () => down, poison: new PoisonEvidence({ maxDeliveries: 3, minDelayMs: 100, maxDelayMs: 1_000, windowMs: 60_000 }) });
    const msgs = [1, 2, 3, 4].map((d) => ledgerMsg(7, posting('E-4'), d));
    const out = await s.run(msgs);
    expect(out).toEqual([]);
    // Nothing went through: an outage, never a dead letter, whatever the delivery count.
    expect(msgs.map((m) => m.events)).toEqual([['nak:100'], ['nak:200'], ['nak:400'], ['nak:800']]);
  });

  it('dead-letters a message that keeps failing unexpectedly while others pass, at the delivery limit, with its last error', async () => {
    const s = stage({
      fail: (legId) => (legId === 'bank:E-BAD' ? new RangeError('Invalid array length') : undefined),
      poison: new PoisonEvidence({ maxDeliveries: 3, minDelayMs: 100, maxDelayMs: 1_000, windowMs: 60_000 }),
    });
    const out: Processed[] = [];
    for (let d = 1; d <= 3; d++) out.push(...(await s.run([ledgerMsg(9, posting('E-BAD'), d), ledgerMsg(10 + d, posting(`E-OK-${d}`))])));
    const bad = out.filter((p) => p.msg.seq === 9);
    expect(bad).toHaveLength(1);
    expect(bad[0]!.deadLetter).toMatchObject({ code: 'POISON_MESSAGE' });
    expect(bad[0]!.deadLetter!.reason).toMatch(/3 deliveries .*RangeError: Invalid array length/);
    expect(out.filter((p) => p.msg.seq !== 9 && !p.deadLetter)).toHaveLength(3);
  });

  it('keeps the first content of an entry id and turns a copy with other content into a DUPLICATE only', async () => {
    const s = stage();
    await s.run([ledgerMsg(1, posting('E-5', { txType: 'fee', direction: 'debit' }))]);
    const [p] = await s.run([ledgerMsg(2, posting('E-5', { txType: 'fee', direction: 'debit', amountMinor: 999n }))]);
    expect(p!.facts.map((f) => f.table)).toEqual(['discrepancy_events']);
    expect((p!.facts[0]!.row as { kind: string }).kind).toBe('DUPLICATE');
  });
});
