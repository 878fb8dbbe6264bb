import { describe, expect, it } from 'vitest';
import { caseAgeMs, slaBreaches, slaRuleFor, type SlaRule } from '../../src/cases/sla.js';

const H = 3_600_000;
const rules: SlaRule[] = [
  { kinds: [], minAmountMinor: 0n, acknowledgeWithinMs: 24 * H, resolveWithinMs: 5 * 24 * H },
  { kinds: ['MISSING_MINT', 'MISSING_BURN'], minAmountMinor: 0n, acknowledgeWithinMs: 4 * H, resolveWithinMs: 24 * H },
  { kinds: ['MISSING_MINT', 'MISSING_BURN'], minAmountMinor: 1_000_000n, acknowledgeWithinMs: 1 * H, resolveWithinMs: 4 * H },
];

describe('case SLA', () => {
  it('picks the highest amount band of the rules covering the kind, a kind rule over a catch-all', () => {
    expect(slaRuleFor(rules, { kind: 'MISSING_MINT', amountMinor: 999_999n })).toBe(rules[1]);
    expect(slaRuleFor(rules, { kind: 'MISSING_MINT', amountMinor: 1_000_000n })).toBe(rules[2]);
    expect(slaRuleFor(rules, { kind: 'DUPLICATE', amountMinor: 10n ** 12n })).toBe(rules[0]);
  });

  it('breaches acknowledgement one millisecond after it is due, not at the due time', () => {
    const s = { kind: 'MISSING_MINT', amountMinor: 2_000_000n, openedAt: 0, acknowledgedAt: null, resolvedAt: null };
    expect(slaBreaches(rules, s, H)).toEqual([]);
    expect(slaBreaches(rules, s, H + 1).map((b) => b.what)).toEqual(['acknowledge']);
    expect(slaBreaches(rules, s, 4 * H + 1).map((b) => b.what)).toEqual(['acknowledge', 'resolve']);
  });

  it('keeps a breach that happened even once the case is acknowledged late, and none when done in time', () => {
    const late = { kind: 'MISSING_MINT', amountMinor: 0n, openedAt: 0, acknowledgedAt: 5 * H, resolvedAt: 6 * H };
    expect(slaBreaches(rules, late, 100 * H).map((b) => b.what)).toEqual(['acknowledge']);
    const onTime = { kind: 'MISSING_MINT', amountMinor: 0n, openedAt: 0, acknowledgedAt: H, resolvedAt: 2 * H };
    expect(slaBreaches(rules, onTime, 100 * H)).toEqual([]);
  });

  it('ages a case until now, or until it was resolved', () => {
    expect(caseAgeMs({ openedAt: 1_000, resolvedAt: null }, 5_000)).toBe(4_000);
    expect(caseAgeMs({ openedAt: 1_000, resolvedAt: 3_000 }, 5_000)).toBe(2_000);
  });
});
