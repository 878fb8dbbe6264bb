import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { Fact } from '../../src/domain/facts.js';
import { factsOfOutcome } from '../../src/domain/outcomeFacts.js';
import type { Leg } from '../../src/domain/types.js';
import { startSweeper } from '../../src/jobs/sweeper.js';
import { parseMatchingRules } from '../../src/matching/ruleFile.js';
import type { FactWriter } from '../../src/sinks/clickhouse/factWriter.js';
import { MatchStore } from '../../src/state/matchStore.js';

/**
 * Same input, same facts: one stream of bank and chain legs (exact, out of order, late within and
 * beyond the window, missing, fee, tranches, a typed-wrong amount) replayed through the real Lua
 * scripts and the real sweeper with different batch sizes and sweep intervals. The books they end
 * with (every match's status, every discrepancy's status) are identical; among the cases is the one
 * a batch used to get wrong: a late mint processed in the same batch as the block that closes its
 * credit's window.
 */
const WINDOW = 60_000;
const LATENESS = 30_000;
const RETENTION = 3_600_000;
const T0 = 1_750_000_000_000;
const RULES = parseMatchingRules({
  version: 'det-1',
  rules: [
    { id: 'exact-reference', key: 'reference' },
    { id: 'tranches', key: 'reference', split: true },
    { id: 'exact-attributes', key: 'accountAmount' },
    { id: 'deposit-fee', key: 'accountAmount', flows: ['deposit'], fees: { USD: { fixedMinor: 50 } } },
    { id: 'typed-wrong', key: 'accountAmount', stage: 'expiry', tolerance: { bps: 10_000 }, outcome: 'mismatch' },
  ],
});

interface Arrival {
  at: number;
  leg: Leg;
}

const leg = (side: 'bank' | 'chain', id: string, account: string, amount: bigint, t: number, reference: string | null = null): Leg => ({
  legId: `${side}:${id}`,
  side,
  flow: 'deposit',
  accountId: account,
  wallet: `0x${account.padStart(40, '0')}`,
  currency: 'USD',
  tokenKey: side === 'chain' ? '31337:0xtoken' : '',
  amountKey: amount.toString(),
  amountNative: side === 'chain' ? (amount * 10n ** 16n).toString() : amount.toString(),
  eventTime: t,
  reference,
  fingerprint: `fp-${id}`,
});

/** Eight cases per round, on five accounts, amounts unique per account. */
function traffic(rounds: number): Arrival[] {
  const out: Arrival[] = [];
  const chainAt = (t: number) => t + 2_000; // confirmed blocks arrive in block-time order
  for (let i = 0; i < rounds * 8; i++) {
    const t = T0 + i * 20_000;
    const acc = `ACC${i % 5}`;
    const amount = 10_000n + BigInt(i) * 7n;
    const bank = (a = amount, ref: string | null = null) => out.push({ at: t + 1_000, leg: leg('bank', `b${i}`, acc, a, t, ref) });
    const chain = (n: string, a: bigint, ct: number, ref: string | null = null) => out.push({ at: chainAt(ct), leg: leg('chain', `c${i}${n}`, acc, a, ct, ref) });
    switch (i % 8) {
      case 0:
        bank();
        chain('', amount, t + 2_000);
        break;
      case 1: // minted before the credit is booked
        bank();
        chain('', amount, t - 3_000);
        break;
      case 2: // late, beyond the window, inside window + lateness
        bank();
        chain('', amount, t + WINDOW + 20_000);
        break;
      case 3: // very late: beyond window + lateness, within the retention
        bank();
        chain('', amount, t + WINDOW + LATENESS + 40_000);
        break;
      case 4: // never minted
        bank();
        break;
      case 5: // minted less a 0.50 fee
        bank();
        chain('', amount - 50n, t + 4_000);
        break;
      case 6: // minted in two tranches carrying the credit's reference
        bank(amount, `REF-${i}`);
        chain('a', amount - 3_000n, t + 3_000, `REF-${i}`);
        chain('b', 3_000n, t + 6_000, `REF-${i}`);
        break;
      case 7: // an amount typed wrong, no reference
        bank();
        chain('', amount + 900n, t + 5_000);
        break;
    }
  }
  return out.sort((a, b) => a.at - b.at || a.leg.legId.localeCompare(b.leg.legId));
}

const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
const stores: MatchStore[] = [];
afterAll(async () => {
  for (const s of stores) await s.clear();
  redis.disconnect();
});

/** Plays the arrivals in batches of `batch` (one script call each), sweeping every `sweepEvery` legs. */
async function replay(arrivals: Arrival[], batch: number, sweepEvery: number) {
  const store = new MatchStore(redis, { namespace: `det-${randomUUID()}`, toleranceMs: WINDOW + LATENESS, windowMs: WINDOW, retentionMs: RETENTION, rules: () => RULES });
  stores.push(store);
  const facts: Fact[] = [];
  const writer: FactWriter = {
    write: async (fs) => {
      facts.push(...fs);
      return { inserted: fs.length, skippedDuplicates: 0 };
    },
  };
  // The ledger feed never idles here: the watermarks are event time only.
  const sweeper = startSweeper({ store, writer, log: pino({ level: 'silent' }), allowedLatenessMs: LATENESS, ledgerIdleMs: 1e12, retentionMs: RETENTION, intervalMs: 1e9, now: () => T0 });
  let sinceSweep = 0;
  for (let i = 0; i < arrivals.length; i += batch) {
    const part = arrivals.slice(i, i + batch);
    const results = await Promise.all(part.map((a) => store.matchOrPark(a.leg, 'booked')));
    results.forEach((r, j) => {
      facts.push(...factsOfOutcome(part[j]!.leg, r.outcome, T0));
    });
    for (const side of ['bank', 'chain'] as const) {
      const ts = part.filter((a) => a.leg.side === side).map((a) => a.leg.eventTime);
      if (ts.length > 0) await store.advanceWatermark(side === 'bank' ? 'ledger' : 'chain', Math.max(...ts), T0);
    }
    sinceSweep += part.length;
    if (sinceSweep >= sweepEvery) {
      await sweeper.sweepOnce();
      sinceSweep = 0;
    }
  }
  // Drain: both feeds move on past every window, then the windows close.
  const end = arrivals.at(-1)!.leg.eventTime + RETENTION / 2;
  await store.advanceWatermark('ledger', end, T0);
  await store.advanceWatermark('chain', end, T0);
  while ((await sweeper.sweepOnce()) > 0);
  await sweeper.stop();
  return books(facts);
}

/** The final status of every match and discrepancy (a resolution beats an opening; a later match version beats an earlier one). */
function books(facts: Fact[]) {
  const matches: Record<string, string> = {};
  const version: Record<string, number> = {};
  const discrepancies: Record<string, string> = {};
  for (const f of facts) {
    if (f.table === 'matches' && (version[f.row.match_id] ?? -1) < f.row.version) {
      matches[f.row.match_id] = `${f.row.status} ${f.row.rule_id}`;
      version[f.row.match_id] = f.row.version;
    }
    if (f.table === 'discrepancy_events' && discrepancies[f.row.discrepancy_id] !== 'resolved') discrepancies[f.row.discrepancy_id] = f.row.status;
  }
  return { matches, discrepancies };
}

describe('same input, same facts', () => {
  it('ends with identical books whatever the batch size and sweep interval', async () => {
    const arrivals = traffic(6);
    const oneByOne = await replay(arrivals, 1, 1);
    const batched = await replay(arrivals, 7, 13);
    const large = await replay(arrivals, 64, 50);
    expect(batched).toEqual(oneByOne);
    expect(large).toEqual(oneByOne);

    // And they are the books the cases call for.
    const open = Object.entries(oneByOne.discrepancies)
      .filter(([, s]) => s === 'open')
      .map(([id]) => id.split(':')[0]);
    const count = (k: string) => open.filter((x) => x === k).length;
    expect(count('MISSING_MINT')).toBe(6); // case 4
    expect(count('AMOUNT_MISMATCH')).toBe(6); // case 7, one naming both legs
    expect(open).toHaveLength(12);
    // The late mints (cases 2 and 3) opened their credit's MISSING_MINT and resolved it.
    const resolved = Object.entries(oneByOne.discrepancies).filter(([, s]) => s === 'resolved');
    expect(resolved.map(([id]) => id.split(':')[0]).sort()).toEqual(Array(12).fill('MISSING_MINT'));
    const rules = Object.values(oneByOne.matches).map((m) => m.split(' ')[1]);
    expect(rules.filter((r) => r === 'deposit-fee')).toHaveLength(6);
    expect(rules.filter((r) => r === 'tranches')).toHaveLength(12);
    expect(Object.keys(oneByOne.matches)).toHaveLength(6 * 5 + 12);
  });
});
