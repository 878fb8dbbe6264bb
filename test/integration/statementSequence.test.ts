import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { redisStatementSequences } from '../../src/iso20022/statementSequence.js';

/** Two ingesters checking statements of one account take turns: neighbours, publish and record never interleave. */
describe('statement sequence lock', () => {
  const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
  afterAll(() => redis.disconnect());

  it('serialises the critical sections of one account and family, not of different ones', async () => {
    const ns = `t-${randomUUID()}`;
    const a = redisStatementSequences(redis, ns);
    const b = redisStatementSequences(redis, ns);
    const events: string[] = [];
    const section = (who: string) => async () => {
      events.push(`${who}:in`);
      await new Promise((r) => setTimeout(r, 60));
      events.push(`${who}:out`);
      return who;
    };
    const [x, y] = await Promise.all([a.exclusive('ACC-1', 'camt.053', section('a')), b.exclusive('ACC-1', 'camt.053', section('b'))]);
    expect([x, y]).toEqual(['a', 'b']);
    // One whole section, then the other.
    expect([events.slice(0, 2), events.slice(2)].map((p) => p.map((e) => e.split(':')[1]))).toEqual([
      ['in', 'out'],
      ['in', 'out'],
    ]);
    // Another account does not wait.
    events.length = 0;
    await Promise.all([a.exclusive('ACC-1', 'camt.053', section('c')), b.exclusive('ACC-2', 'camt.053', section('d'))]);
    expect(events.slice(0, 2).sort()).toEqual(['c:in', 'd:in']);
    // The lock is released even when the section throws.
    await expect(a.exclusive('ACC-1', 'camt.053', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await b.exclusive('ACC-1', 'camt.053', async () => 'free')).toBe('free');
    await redis.del(`${ns}:camt:seq:{ACC-1}:camt.053:lock`);
  });
});
