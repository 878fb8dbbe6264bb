/**
 * `npx tsx bench/parkedBytes.ts [--legs N] [--accounts N] [--side bank|chain|both]`: Redis bytes per
 * parked (unmatched) leg, measured straight through MatchStore (no NATS, no ClickHouse): parks N legs
 * shaped like the bench's traffic (unique amounts, accounts round-robin, one wallet per account,
 * event times one millisecond apart), then reads INFO memory before and after. Cleans up after itself.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import type { Leg } from '../src/domain/types.js';
import { MatchStore } from '../src/state/matchStore.js';

const { values: argv } = parseArgs({
  options: {
    legs: { type: 'string', default: '200000' },
    accounts: { type: 'string', default: '1000' },
    side: { type: 'string', default: 'bank' },
    url: { type: 'string', default: 'redis://127.0.0.1:6379' },
  },
});
const N = Number(argv.legs);
const ACCOUNTS = Number(argv.accounts);
const T0 = Date.now() - 60_000;
const ns = `t${randomUUID().slice(0, 8)}`;
const wallet = (a: number) => `0x${(0xa11ce000000n + BigInt(a)).toString(16).padStart(40, '0')}`;
const hex64 = (i: number) => `0x${'1234abcd'}${i.toString(16).padStart(56, '0')}`;

function legOf(i: number): Leg {
  const a = i % ACCOUNTS;
  const amount = String(1_000 + i);
  const chain = argv.side === 'chain' || (argv.side === 'both' && i % 2 === 1);
  return chain
    ? {
        legId: `chain:31337:${hex64(i)}:0`,
        side: 'chain',
        flow: 'deposit',
        accountId: `ACC-${a}`,
        wallet: wallet(a),
        currency: 'USD',
        tokenKey: '31337:0x5fbdb2315678afecb367f032d93f642f64180aa3',
        amountKey: amount,
        amountNative: `${amount}0000000000000000`,
        eventTime: T0 + i,
        reference: null,
        fingerprint: randomUUID().replaceAll('-', '').slice(0, 16),
      }
    : {
        legId: `bank:${ns}-E-${i}`,
        side: 'bank',
        flow: 'deposit',
        accountId: `ACC-${a}`,
        wallet: wallet(a),
        currency: 'USD',
        tokenKey: '',
        amountKey: amount,
        amountNative: amount,
        eventTime: T0 + i,
        reference: null,
        fingerprint: randomUUID().replaceAll('-', '').slice(0, 16),
      };
}

const redis = new Redis(argv.url);
const store = new MatchStore(redis, { namespace: ns, toleranceMs: 35 * 60_000, windowMs: 30 * 60_000, retentionMs: 7 * 24 * 3_600_000 });
const used = async () => {
  await redis.call('MEMORY', 'PURGE').catch(() => undefined);
  return Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
};
try {
  const before = await used();
  const t0 = performance.now();
  const inFlight = new Set<Promise<unknown>>();
  for (let i = 0; i < N; i++) {
    const p = store.matchOrPark(legOf(i), 'booked').then((r) => {
      if (r.outcome.t !== 'parked') throw new Error(`leg ${i} was not parked: ${r.outcome.t}`);
    });
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
    if (inFlight.size >= 512) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  const secs = (performance.now() - t0) / 1_000;
  const after = await used();
  const parked = await store.parkedCount();
  const n = parked.bank + parked.chain;
  console.info(
    JSON.stringify({ legs: N, side: argv.side, accounts: ACCOUNTS, parked: n, deltaBytes: after - before, bytesPerParkedLeg: Math.round((after - before) / n), parksPerSec: Math.round(N / secs) }),
  );
} finally {
  await store.clear();
  redis.disconnect();
}
