/**
 * `npm run bench:matching [-- --legs N]`: CPU per leg of the matching rule cascade against
 * exact-only matching, in the same run, straight through MatchStore on the real Redis scripts (no
 * NATS, no ClickHouse: this isolates what the rules add). The traffic is the same for both: deposits
 * on 1,000 accounts, minted exactly (80 %), less a 0.50 fee (10 %), in two tranches carrying the
 * reference (5 %), or never (5 %). Rounds alternate exact / cascade twice so that drift on a shared
 * machine shows. Then the tolerant search's worst case at its bound: an account holding 256 waiting
 * legs none of which is in range, probed by 2,000 legs of the other side.
 * CPU: this process (probe computation, encoding, decoding) and the Redis server (the scripts).
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import type { Leg } from '../src/domain/types.js';
import { DEFAULT_MATCHING_RULES, loadMatchingRules, parseMatchingRules, type MatchingRuleSet } from '../src/matching/ruleFile.js';
import { MatchStore } from '../src/state/matchStore.js';
import { findSplit } from '../src/domain/subsetSum.js';
import { cpuAccounting } from './cpuAccounting.js';

const { values: argv } = parseArgs({ options: { legs: { type: 'string', default: '20000' }, url: { type: 'string', default: 'redis://127.0.0.1:6379' } } });
const N = Number(argv.legs);
const T0 = Date.now() - 3_600_000;
const redis = new Redis(argv.url, { maxRetriesPerRequest: 1 });
const cpu = await cpuAccounting(redis);

const leg = (side: 'bank' | 'chain', id: string, a: number, amount: bigint, t: number, reference: string | null): Leg => ({
  legId: side === 'bank' ? `bank:${id}` : `chain:31337:0x${id.padStart(64, '0')}:0`,
  side,
  flow: 'deposit',
  accountId: `ACC-${a}`,
  wallet: `0x${(0xa11ce000000n + BigInt(a)).toString(16).padStart(40, '0')}`,
  currency: 'USD',
  tokenKey: side === 'chain' ? '31337:0x5fbdb2315678afecb367f032d93f642f64180aa3' : '',
  amountKey: amount.toString(),
  amountNative: (amount * 10n ** 16n).toString(),
  eventTime: t,
  reference,
  fingerprint: id,
});

/** Bank and chain legs in arrival order: each credit, then its mint(s) a few legs later. */
function traffic(): Leg[] {
  const out: Leg[] = [];
  for (let i = 0; i < N; i++) {
    const a = i % 1_000;
    const amount = 100_000n + BigInt(i);
    const t = T0 + i * 10;
    const kind = i % 20;
    const ref = kind === 18 ? `REF-${i}` : null;
    out.push(leg('bank', `b${i}`, a, amount, t, ref));
    if (kind < 16) out.push(leg('chain', `${i}a`, a, amount, t + 5, null));
    else if (kind < 18) out.push(leg('chain', `${i}a`, a, amount - 50n, t + 5, null));
    else if (kind === 18) out.push(leg('chain', `${i}a`, a, amount - 40_000n, t + 5, ref), leg('chain', `${i}b`, a, 40_000n, t + 6, ref));
  }
  return out;
}

async function round(name: string, rules: MatchingRuleSet, legs: Leg[]) {
  const store = new MatchStore(redis, { namespace: `bm-${randomUUID().slice(0, 8)}`, toleranceMs: 120_000, windowMs: 60_000, retentionMs: 3_600_000, rules: () => rules });
  const start = cpu.sample();
  const t0 = performance.now();
  let matched = 0;
  for (let i = 0; i < legs.length; i += 256) {
    const rs = await Promise.all(legs.slice(i, i + 256).map((l) => store.matchOrPark(l, 'booked')));
    for (const r of rs) if (r.outcome.t === 'match' || r.outcome.t === 'split') matched++;
  }
  const wall = performance.now() - t0;
  const used = cpu.since(start);
  await store.clear();
  const per = (s: number) => ((s * 1e6) / legs.length).toFixed(1);
  console.log(
    `${name.padEnd(22)} legs ${legs.length}  matched ${String(matched).padStart(6)}  client ${per(used.daemon).padStart(6)} µs/leg  redis ${per(used.redis).padStart(6)} µs/leg  total ${per(used.daemon + used.redis).padStart(6)} µs/leg  wall ${((wall * 1e3) / legs.length).toFixed(1)} µs/leg`,
  );
  return used.daemon + used.redis;
}

const cascade = loadMatchingRules('config/matching-rules.yaml');
const legs = traffic();
console.log(`matching cascade bench: ${legs.length} legs; ceiling to compare with: exact-only (${DEFAULT_MATCHING_RULES.version}) in this run`);
const totals: Record<string, number[]> = { exact: [], cascade: [] };
for (let r = 0; r < 2; r++) {
  totals.exact!.push(await round(`exact-only #${r + 1}`, DEFAULT_MATCHING_RULES, legs));
  totals.cascade!.push(await round(`cascade (${cascade.rules.length} rules) #${r + 1}`, cascade, legs));
}
const sum = (xs: number[]) => xs.reduce((s, x) => s + x, 0);
console.log(`cascade / exact-only CPU: ${((sum(totals.cascade!) / sum(totals.exact!) - 1) * 100).toFixed(1)} % (target: at most +20 %)`);

// Worst case at the bound: 256 waiting legs on one account, none in range of the probing legs.
const tolerant = parseMatchingRules({ version: 'bound', rules: [{ id: 'wide', key: 'accountAmount', tolerance: { absMinor: 10 } }] });
const store = new MatchStore(redis, { namespace: `bw-${randomUUID().slice(0, 8)}`, toleranceMs: 120_000, windowMs: 60_000, retentionMs: 3_600_000, rules: () => tolerant });
const parked = Array.from({ length: 256 }, (_, i) => leg('bank', `p${i}`, 7, 1_000_000n + BigInt(i) * 1_000n, T0 + i, null));
await Promise.all(parked.map((l) => store.matchOrPark(l, 'booked')));
async function probe(what: string, legs: Leg[]) {
  const s0 = cpu.sample();
  for (let i = 0; i < legs.length; i += 256) await Promise.all(legs.slice(i, i + 256).map((l) => store.matchOrPark(l, 'booked')));
  const w = cpu.since(s0);
  console.log(
    `tolerant search at its bound (256 waiting legs on one account), ${what}: redis ${((w.redis * 1e6) / legs.length).toFixed(1)} µs/leg, client ${((w.daemon * 1e6) / legs.length).toFixed(1)} µs/leg`,
  );
}
// Amounts of another magnitude: the text range of the amount bounds prunes the read.
await probe(
  'amounts out of range',
  Array.from({ length: 2_000 }, (_, i) => leg('chain', `q${i}`, 7, 500n + BigInt(i) * 100_000_000n, T0 + 300 + i, null)),
);
// Amounts among the waiting legs' but event times beyond the window: every waiting leg is read.
await probe(
  'amounts in range, times not',
  Array.from({ length: 2_000 }, (_, i) => leg('chain', `r${i}`, 7, 1_000_000n + BigInt(i % 256) * 1_000n + 5n, T0 + 10_000_000 + i, null)),
);
await store.clear();

// The split search at its bound: 16 open legs, splits of up to 16 parts, none adds up (every subset tried).
const cands = Array.from({ length: 16 }, (_, i) => ({ id: `l${i}`, amountKey: String(1_000_000 + i * 1_000), eventTime: i }));
for (const [legs, parts] of [
  [12, 4],
  [16, 16],
] as const) {
  const t0 = process.cpuUsage();
  const r = findSplit({ lo: '1', hi: '1' }, cands.slice(0, legs), { maxLegs: legs, maxParts: parts });
  const u = process.cpuUsage(t0);
  console.log(`split search at its bound (${legs} open legs, up to ${parts} parts, no split): ${r.t === 'none' ? r.subsetsTried : '?'} subsets in ${((u.user + u.system) / 1e3).toFixed(1)} ms of CPU`);
}
redis.disconnect();
