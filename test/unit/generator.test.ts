import { describe, expect, it } from 'vitest';
import { createLedgerCodec } from '../../src/streams/ledgerCodec.js';
import { EXPECTED_OF_FAULT, FAULT_KINDS, generateTrafficPlan, mulberry32, type Step, type TrafficOptions } from '../../src/generator/index.js';

const signers = Array.from({ length: 9 }, (_, i) => ({ accountIndex: i + 1, address: `0x${String(i + 1).padStart(40, '0')}` }));
const base: TrafficOptions = {
  seed: 42,
  durationMs: 600_000,
  rate: 5,
  faultShare: 0.1,
  startTime: Date.UTC(2025, 0, 1),
  signers,
  idPrefix: 'T',
};
const SCALE = 10n ** 16n; // USD cents → 18-decimal base units

describe('traffic generator', () => {
  it('mulberry32 is deterministic for a seed and differs across seeds', () => {
    const a = mulberry32(1),
      b = mulberry32(1),
      c = mulberry32(2);
    const xs = [a(), a(), a()];
    expect([b(), b(), b()]).toEqual(xs);
    expect(c()).not.toEqual(xs[0]);
    for (const x of xs) expect(x >= 0 && x < 1).toBe(true);
  });

  it('produces the same plan for the same seed and another for another seed', () => {
    const p1 = generateTrafficPlan(base);
    const p2 = generateTrafficPlan(base);
    const p3 = generateTrafficPlan({ ...base, seed: 43 });
    const key = (s: Step) => JSON.stringify(s, (_, v) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? [...v] : v));
    expect(p2.steps.map(key)).toEqual(p1.steps.map(key));
    expect(p2.customers).toEqual(p1.customers);
    expect(p3.steps.map(key)).not.toEqual(p1.steps.map(key));
  });

  it('injects faults in roughly the configured share, of every kind', () => {
    const plan = generateTrafficPlan(base);
    const n = plan.scenarios.length;
    expect(n).toBeGreaterThan(2_500); // 600 s at 5 per second
    const faulted = plan.scenarios.filter((s) => s.label.fault !== null);
    expect(faulted.length / n).toBeGreaterThan(0.08);
    expect(faulted.length / n).toBeLessThan(0.12);
    for (const k of FAULT_KINDS) expect(faulted.some((s) => s.label.fault === k)).toBe(true);
    const none = generateTrafficPlan({ ...base, faultShare: 0 });
    expect(none.scenarios.every((s) => s.label.fault === null)).toBe(true);
  });

  it('labels every step, and every fault with the discrepancies it must produce', () => {
    const plan = generateTrafficPlan(base);
    const ids = new Set(plan.scenarios.map((s) => s.label.scenarioId));
    for (const step of plan.steps) {
      expect(ids.has(step.label.scenarioId)).toBe(true);
      expect(step.label.note.length).toBeGreaterThan(0);
      if (step.label.fault) expect(step.label.expect).toEqual(EXPECTED_OF_FAULT[step.label.fault]);
      else expect(step.label.expect).toEqual([]);
    }
    // Under the shipped matching rules: one AMOUNT_MISMATCH naming both legs, not two MISSING_*.
    expect(EXPECTED_OF_FAULT.amount_mismatch).toEqual(['AMOUNT_MISMATCH']);
    expect(EXPECTED_OF_FAULT.partial_tranche).toEqual(['PARTIALLY_MATCHED']);
    for (const k of FAULT_KINDS) expect(EXPECTED_OF_FAULT[k].length).toBeGreaterThan(0);
  });

  it('keeps steps sorted in time and gives every posting a unique message id', () => {
    const plan = generateTrafficPlan(base);
    for (let i = 1; i < plan.steps.length; i++) expect(plan.steps[i]!.at).toBeGreaterThanOrEqual(plan.steps[i - 1]!.at);
    const msgIds = plan.steps.flatMap((s) => (s.kind === 'posting' ? [`${s.posting.entryId}:${s.posting.status}:${s.msgIdSuffix ?? ''}`] : []));
    expect(new Set(msgIds).size).toBe(msgIds.length);
  });

  it("mints the amount of the credit for every clean deposit, to the customer's wallet", () => {
    const plan = generateTrafficPlan(base);
    const walletOf = new Map(plan.customers.map((c) => [c.accountId, c.wallet]));
    const deposits = plan.scenarios.filter((s) => s.label.scenario === 'deposit' && !s.label.reconcileBy && (s.label.fault === null || s.label.fault === 'duplicate'));
    expect(deposits.length).toBeGreaterThan(500);
    for (const d of deposits) {
      const steps = plan.steps.filter((s) => s.label.scenarioId === d.label.scenarioId);
      const credits = steps.filter((s): s is Extract<Step, { kind: 'posting' }> => s.kind === 'posting' && s.msgIdSuffix === undefined);
      const mints = steps.filter((s): s is Extract<Step, { kind: 'mint' }> => s.kind === 'mint');
      expect(mints).toHaveLength(1);
      for (const c of credits) {
        expect(c.posting.txType).toBe('deposit');
        expect(c.posting.direction).toBe('credit');
        expect(c.posting.amountMinor * SCALE).toBe(mints[0]!.amount);
        expect(mints[0]!.to).toBe(walletOf.get(c.posting.accountId));
        expect(mints[0]!.at).toBeGreaterThan(c.at);
      }
    }
  });

  it('gives a share of clean deposits an imperfection the matching rules must reconcile, labelled with the rule', () => {
    const plan = generateTrafficPlan(base);
    const by = (rule: string) => plan.scenarios.filter((s) => s.label.reconcileBy === rule);
    const stepsOf = (id: string) => plan.steps.filter((s) => s.label.scenarioId === id);
    const mintsOf = (id: string) => stepsOf(id).filter((s): s is Extract<Step, { kind: 'mint' }> => s.kind === 'mint');
    const postingsOf = (id: string) => stepsOf(id).filter((s): s is Extract<Step, { kind: 'posting' }> => s.kind === 'posting');
    for (const rule of ['deposit-fee', 'tranches', 'token-rounding']) expect(by(rule).length, rule).toBeGreaterThan(20);
    for (const s of by('deposit-fee')) {
      const [credit, fee] = postingsOf(s.label.scenarioId);
      expect(fee!.posting).toMatchObject({ txType: 'fee', direction: 'debit', amountMinor: 50n, accountId: credit!.posting.accountId });
      expect(mintsOf(s.label.scenarioId).map((m) => m.amount)).toEqual([(credit!.posting.amountMinor - 50n) * SCALE]);
    }
    for (const s of by('tranches')) {
      const [credit] = postingsOf(s.label.scenarioId);
      const mints = mintsOf(s.label.scenarioId);
      expect(mints).toHaveLength(2);
      expect(mints.every((m) => m.reference === credit!.posting.tokenizationRef && m.reference !== undefined)).toBe(true);
      expect(mints[0]!.amount + mints[1]!.amount).toBe(credit!.posting.amountMinor * SCALE);
      expect(credit!.schemaVersion).toBe(2);
    }
    for (const s of by('token-rounding')) {
      const [credit] = postingsOf(s.label.scenarioId);
      expect(mintsOf(s.label.scenarioId).map((m) => m.amount)).toEqual([credit!.posting.amountMinor * SCALE - 1n]);
    }
  });

  it('generates realistic amounts: mostly 10 to 5,000 USD, a few larger', () => {
    const plan = generateTrafficPlan(base);
    const amounts = plan.steps.flatMap((s) => (s.kind === 'posting' && s.posting.txType === 'deposit' ? [s.posting.amountMinor] : []));
    const inRange = amounts.filter((a) => a >= 1_000n && a <= 500_000n).length;
    expect(inRange / amounts.length).toBeGreaterThan(0.85);
    expect(amounts.some((a) => a > 500_000n)).toBe(true);
    expect(amounts.every((a) => a > 0n && a <= 25_000_000n * 10n)).toBe(true);
  });

  it('never burns or sends more tokens than a wallet holds at that point of the plan', () => {
    const plan = generateTrafficPlan({ ...base, faultShare: 0.3 });
    const held = new Map<string, bigint>();
    const add = (w: string, v: bigint) => held.set(w, (held.get(w) ?? 0n) + v);
    for (const s of plan.steps) {
      if (s.kind === 'mint') add(s.to, s.amount);
      if (s.kind === 'burn' || s.kind === 'transfer') {
        const from = s.from;
        expect(held.get(from) ?? 0n, `${s.label.note}`).toBeGreaterThanOrEqual(s.amount);
        add(from, -s.amount);
        if (s.kind === 'transfer') add(s.to, s.amount);
      }
      if (s.kind === 'transfer') expect(plan.customers.find((c) => c.wallet === s.from)?.signerIndex).toBe(s.fromIndex);
    }
  });

  it('keeps clean traffic balanced: per account, bank balance equals token balance', () => {
    const plan = generateTrafficPlan({ ...base, faultShare: 0 });
    // In token base units: a fee is debited at the bank as well; a rounding loses exactly one wei.
    const bank = new Map<string, bigint>(),
      chain = new Map<string, bigint>(),
      wei = new Map<string, bigint>();
    const add = (m: Map<string, bigint>, k: string, v: bigint) => m.set(k, (m.get(k) ?? 0n) + v);
    for (const s of plan.steps) {
      if (s.kind === 'posting' && s.posting.status === 'booked') add(bank, s.posting.accountId, (s.posting.direction === 'credit' ? s.posting.amountMinor : -s.posting.amountMinor) * SCALE);
      if (s.kind === 'mint') add(chain, s.to, s.amount);
      if (s.kind === 'mint' && s.label.reconcileBy === 'token-rounding') add(wei, s.to, 1n);
      if (s.kind === 'burn') add(chain, s.from, -s.amount);
      if (s.kind === 'transfer') {
        add(chain, s.from, -s.amount);
        add(chain, s.to, s.amount);
      }
    }
    for (const m of plan.accountMappings) expect(bank.get(m.accountId) ?? 0n, m.accountId).toBe((chain.get(m.wallets[0]!) ?? 0n) + (wei.get(m.wallets[0]!) ?? 0n));
  });

  it('encodes every posting step, except the poison ones, with the real codec', () => {
    const codec = createLedgerCodec({ now: () => base.startTime });
    const plan = generateTrafficPlan({ ...base, durationMs: 120_000, faultShare: 0.5 });
    for (const s of plan.steps) {
      if (s.kind === 'posting') {
        const { bytes, headers } = codec.encode(s.posting, s.schemaVersion);
        if (s.label.fault === 'poison_currency') expect(() => codec.decode(bytes, headers)).toThrow(/currency/);
        else expect(codec.decode(bytes, headers).amountMinor).toBe(s.posting.amountMinor);
      } else if (s.kind === 'poison') {
        expect(() => codec.decode(s.bytes, s.headers)).toThrow();
      }
    }
  });
});
