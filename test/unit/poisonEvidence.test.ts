import { describe, expect, it } from 'vitest';
import { SchemaViolation, ScriptError, SinkUnavailable } from '../../src/lib/errors.js';
import { describeFailure, failureKind } from '../../src/lib/failureKind.js';
import { PoisonEvidence } from '../../src/worker/poisonEvidence.js';

const policy = { maxDeliveries: 3, minDelayMs: 100, maxDelayMs: 1_000, windowMs: 10_000 };

describe('PoisonEvidence', () => {
  it('retries with doubling, bounded delays below the delivery limit', () => {
    const e = new PoisonEvidence({ ...policy, maxDeliveries: 10 });
    const delays = [1, 2, 3, 4, 5, 6].map((n) => e.failed('m', 'unanticipated', n, 0));
    expect(delays.map((v) => (v.action === 'retry' ? v.delayMs : -1))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
  });

  it('dead-letters an unanticipated failure at the limit while other messages go through', () => {
    const e = new PoisonEvidence(policy);
    let t = 0;
    expect(e.failed('bad', 'unanticipated', 1, t).action).toBe('retry');
    e.succeeded('good-1', (t += 100));
    expect(e.failed('bad', 'unanticipated', 2, (t += 100)).action).toBe('retry');
    e.succeeded('good-2', (t += 100));
    const v = e.failed('bad', 'unanticipated', 3, (t += 100));
    expect(v).toMatchObject({ action: 'dead-letter' });
    expect(v.action === 'dead-letter' && v.reason).toMatch(/3 deliveries .*other messages went through/);
  });

  it('never dead-letters during an outage: nothing goes through while other messages fail too', () => {
    const e = new PoisonEvidence(policy);
    e.succeeded('before', 0);
    let t = 60_000; // the last success is older than the window
    for (let n = 1; n <= 20; n++) {
      for (const key of ['a', 'b', 'c']) {
        const v = e.failed(key, 'unanticipated', n, (t += 10));
        expect(v.action).toBe('retry');
        const d = e.failed(`${key}-dep`, 'dependency', n, (t += 10));
        expect(d.action).toBe('retry');
      }
    }
  });

  it('dead-letters a dependency failure at the limit only when others passed since it last failed', () => {
    const e = new PoisonEvidence(policy);
    e.failed('m', 'dependency', 1, 0);
    e.failed('m', 'dependency', 2, 100);
    expect(e.failed('m', 'dependency', 3, 200).action).toBe('retry'); // nobody passed: maybe Redis is down
    e.succeeded('other', 300);
    expect(e.failed('m', 'dependency', 4, 400).action).toBe('dead-letter');
  });

  it('judges a redelivery first seen by this worker on the recent successes of the window', () => {
    const e = new PoisonEvidence(policy);
    e.succeeded('other', 1_000);
    expect(e.failed('from-another-worker', 'unanticipated', 5, 2_000).action).toBe('dead-letter');
    expect(e.failed('dep-from-another-worker', 'dependency', 5, 2_000).action).toBe('dead-letter');
    expect(e.failed('late', 'dependency', 5, 20_000).action).toBe('retry');
  });

  it('forgets a message once it succeeds, and remembers at most maxTracked failing messages', () => {
    const e = new PoisonEvidence({ ...policy, maxTracked: 50 });
    for (let i = 0; i < 200; i++) e.failed(`m${i}`, 'unanticipated', 1, i);
    expect(e.tracked).toBe(50);
    e.succeeded('m199', 300);
    expect(e.tracked).toBe(49);
  });
});

describe('failureKind', () => {
  it('tells bad input, a dependency down and the unanticipated apart by type and error code', () => {
    expect(failureKind(new SchemaViolation('bookingTime is out of range'))).toBe('bad-input');
    expect(failureKind(new SinkUnavailable('ClickHouse unavailable'))).toBe('dependency');
    expect(failureKind(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' }))).toBe('dependency');
    expect(failureKind(Object.assign(new Error('Reached the max retries per request limit'), { name: 'MaxRetriesPerRequestError' }))).toBe('dependency');
    expect(failureKind(new Error('Connection is closed.'))).toBe('dependency');
    expect(failureKind(new Error('LOADING Redis is loading the dataset in memory'))).toBe('dependency');
    expect(failureKind(new Error('STATE_LOST t1:{m}:epoch is missing: match state is being rebuilt'))).toBe('dependency');
    expect(failureKind(new Error('wrapped', { cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) }))).toBe('dependency');
    expect(failureKind(new RangeError('Invalid time value'))).toBe('unanticipated');
    expect(failureKind(new ScriptError('The match script could not apply leg bank:x.'))).toBe('unanticipated');
    expect(failureKind(new Error('ERR Error running script: WRONGTYPE Operation against a key holding the wrong kind of value'))).toBe('unanticipated');
    expect(failureKind('a string')).toBe('unanticipated');
  });

  it('describes a failure on one bounded, well-formed line', () => {
    const line = describeFailure(new Error(`multi\nline \ud800 ${'x'.repeat(5_000)}`), 100);
    expect(line).not.toMatch(/\n/);
    expect(line.isWellFormed()).toBe(true);
    expect(line.length).toBe(101);
  });
});
