import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { AlertState } from '../../src/alerts/alertState.js';
import { RedisStateStore } from '../../src/aml/redisStateStore.js';
import type { AmlAlertRow } from '../../src/domain/facts.js';
import type { Leg } from '../../src/domain/types.js';
import { MatchStore } from '../../src/state/matchStore.js';

/**
 * Per-event Redis state has a lifetime that matches the retention it serves, on the real Redis:
 * AML and alert keys carry TTLs (and vanish when a short one is injected); the match store, whose
 * per-leg records are fields of shared hashes, forgets each leg at its event time plus
 * lateRetentionMs and leaves no per-event key behind.
 */
const redis = new Redis('redis://127.0.0.1:6379');
afterAll(async () => {
  await redis.quit();
});

const keysOf = async (pattern: string) => {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    out.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  return out.sort();
};
const waitGone = async (pattern: string, timeoutMs = 5_000) => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = await keysOf(pattern);
    if (left.length === 0) return;
    if (Date.now() > deadline) throw new Error(`still there: ${left.join(', ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

describe('AML state keys expire with the state TTL', () => {
  it('sets a TTL no longer than stateTtlMs on every key an event writes, and the keys vanish after a short one', async () => {
    const ns = `tret-${randomUUID().slice(0, 8)}`;
    const store = new RedisStateStore(redis, ns);
    const ttlMs = 1_500;
    const t = 1_700_000_000_000;
    const r = await store.apply({
      eventId: 'bank:e1',
      time: t,
      readFrom: t - 60_000,
      readTo: t + 60_000,
      maxEvents: 100,
      retentionMs: 120_000,
      activityRetentionMs: 86_400_000,
      buckets: [{ bucketMs: 3_600_000, from: 0, to: 1 }],
      ttlMs,
      movements: [{ subjectKey: 'account:ACC-1:USD', entry: { eventId: 'bank:e1', source: 'bank', dir: 'in', amount: 100n, counterparty: '', kind: 'deposit', time: t } }],
    });
    expect(r.status).toBe('open');
    const row = { alert_id: 'a1' } as AmlAlertRow;
    await store.commit('bank:e1', [{ row, ruleId: 'r1', subjectKey: 'account:ACC-1:USD', time: t, suppressMs: 86_400_000 }], ttlMs);
    const keys = await keysOf(`${store.prefix}*`);
    expect(keys.map((k) => k.slice(store.prefix.length).split(':')[0]).sort()).toEqual(['act', 'agg', 'ev', 'sup', 'w']);
    for (const k of keys) {
      const pttl = await redis.pttl(k);
      expect(pttl, k).toBeGreaterThan(0);
      expect(pttl, k).toBeLessThanOrEqual(ttlMs);
    }
    await waitGone(`${store.prefix}*`);
  });
});

describe('alert notifier keys', () => {
  it('delivery records and folds expire after the retention, reminders after the repeat interval', async () => {
    const ns = `tret-${randomUUID().slice(0, 8)}`;
    const state = new AlertState(redis, ns, 800);
    await state.markSent('slack:ops', 'firing', [{ alertId: 'A1', value: 'posted' }]);
    await state.fold('pagerduty:default', 'G1', ['A2']);
    await state.notified('G1', 600);
    const keys = await keysOf(`${ns}:{alerts}:*`);
    expect(keys).toHaveLength(3);
    for (const k of keys) {
      const pttl = await redis.pttl(k);
      expect(pttl, k).toBeGreaterThan(0);
      expect(pttl, k).toBeLessThanOrEqual(800);
    }
    await waitGone(`${ns}:{alerts}:*`);
  });

  it('forgets an open alert never resolved once it is older than the retention (injected clock)', async () => {
    const ns = `tret-${randomUUID().slice(0, 8)}`;
    let now = 1_000_000;
    const state = new AlertState(redis, ns, 10_000, () => now);
    const open = { groupKey: 'G', kind: 'MISSING_MINT', token: 'USD', since: 5, amountMinor: '1', currency: 'USD' };
    await state.setOpen([{ alertId: 'old', open }]);
    now += 6_000;
    await state.setOpen([{ alertId: 'young', open }]);
    now += 4_001;
    const r = await state.openAlertsPruned();
    expect(r.expired).toEqual(['old']);
    expect([...r.open.keys()]).toEqual(['young']);
    expect(await redis.hkeys(`${ns}:{alerts}:open`)).toEqual(['young']);
    await state.clear();
  });
});

describe('match state is forgotten at event time + lateRetentionMs', () => {
  it('leaves no per-leg key once the watermark passes retention: matched, expired and parked legs alike', async () => {
    const ns = `tret-${randomUUID().slice(0, 8)}`;
    const RET = 5_000;
    const store = new MatchStore(redis, { namespace: ns, windowMs: 1_000, toleranceMs: 2_000, retentionMs: RET });
    const T0 = 1_700_000_000_000;
    const leg = (id: string, side: 'bank' | 'chain', amount: string, t: number, ref: string | null = null): Leg => ({
      legId: `${side}:${id}`,
      side,
      flow: 'deposit',
      accountId: 'acc-1',
      wallet: '0x1111111111111111111111111111111111111111',
      currency: 'USD',
      tokenKey: side === 'chain' ? '1:0xaa' : '',
      amountKey: amount,
      amountNative: amount,
      eventTime: t,
      reference: ref,
      fingerprint: `fp-${id}`,
    });
    await store.matchOrPark(leg('m1', 'bank', '100', T0, 'R1'), 'booked');
    await store.matchOrPark(leg('m1', 'chain', '100', T0 + 100, 'R1'), 'booked');
    await store.matchOrPark(leg('x1', 'bank', '200', T0 + 10), 'booked');
    const expired = await store.claimExpired('bank', T0 + 1_500, 100, T0);
    expect(expired.map((l) => l.id)).toEqual(['bank:x1']);
    await store.ackClaimed(['bank:x1']);
    await store.matchOrPark(leg('p1', 'chain', '300', T0 + 20, 'R3'), 'booked');
    const perLeg = (keys: string[]) => keys.map((k) => k.slice(store.prefix.length)).filter((k) => !['n', 'i', 'wm', 'dl:bank', 'dl:chain'].includes(k));
    expect(perLeg(await keysOf(`${store.prefix}*`)).length).toBeGreaterThan(0);
    expect(await store.gc(T0 + RET - 1)).toBe(0);
    expect(await store.gc(T0 + RET + 1_000)).toBe(4);
    for (const id of ['bank:m1', 'chain:m1', 'bank:x1', 'chain:p1']) expect(await store.knows(id)).toBe(false);
    // The deadline bucket of the forgotten parked leg goes at the next sweep of its side, which skips it.
    expect(await store.claimExpired('chain', T0 + RET + 1_000, 100, T0)).toEqual([]);
    // What stays is bookkeeping of bounded size: parked counts and the interned identities.
    const left = await keysOf(`${store.prefix}*`);
    expect(left.map((k) => k.slice(store.prefix.length))).toEqual(['i', 'n']);
    await store.clear();
  });
});
