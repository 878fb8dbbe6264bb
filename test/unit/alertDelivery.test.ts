import { describe, expect, it } from 'vitest';
import { deliveryBackoffMs as backoffMs, parseRetryAfter } from '../../src/alerts/alertChannel.js';
import { alertsConfigSchema } from '../../src/alerts/alertsConfig.js';
import { redactAlertsConfig, resolveAlertSecrets } from '../../src/alerts/alertSecrets.js';
import { createCircuitBreaker, type CircuitState } from '../../src/alerts/circuitBreaker.js';
import { SilenceRegistry, silenceMatches } from '../../src/alerts/silences.js';
import { silenceSchema } from '../../src/alerts/alertsConfig.js';
import { ConfigError } from '../../src/lib/errors.js';

describe('retry timing', () => {
  it('backs off exponentially with full jitter, capped', () => {
    const p = { baseMs: 100, maxMs: 1_000 };
    expect([1, 2, 3, 4, 5, 20].map((n) => backoffMs(n, p, () => 0.999999))).toEqual([99, 199, 399, 799, 999, 999]);
    expect(backoffMs(3, p, () => 0)).toBe(0);
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfter('2', 0)).toBe(2_000);
    expect(parseRetryAfter('0.5', 0)).toBe(500);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6_000);
    expect(parseRetryAfter(null, 0)).toBeUndefined();
    expect(parseRetryAfter('soon', 0)).toBeUndefined();
  });
});

describe('circuit breaker', () => {
  it('opens after consecutive failures, lets one probe through after the open period, closes on its success', () => {
    let t = 0;
    const states: CircuitState[] = [];
    const b = createCircuitBreaker({ failureThreshold: 3, openMs: 1_000, now: () => t, onStateChange: (s) => states.push(s) });
    b.failure();
    b.failure();
    expect(b.state).toBe('closed');
    b.success(); // a success resets the count
    b.failure();
    b.failure();
    b.failure();
    expect(b.state).toBe('open');
    expect(b.acquire()).toBe(false);
    expect(b.waitMs()).toBe(1_000);
    t = 1_000;
    expect(b.acquire()).toBe(true); // the probe
    expect(b.acquire()).toBe(false); // only one
    b.failure(); // probe failed: open again
    expect(b.state).toBe('open');
    t = 2_000;
    expect(b.acquire()).toBe(true);
    b.success();
    expect(b.state).toBe('closed');
    expect(states).toEqual(['open', 'half-open', 'open', 'half-open', 'closed']);
  });
});

describe('silences', () => {
  const s = silenceSchema.parse({ id: 's1', match: { kind: 'MISSING_MINT', account: 'ACC-1' }, startsAt: 1_000, endsAt: 5_000, createdBy: 'alice', comment: 'core banking maintenance' });
  const alert = { kind: 'MISSING_MINT', account: 'ACC-1', wallet: '0xAB' };

  it('silences alerts matching every field it names, only within its period', () => {
    expect(silenceMatches(s, alert, 999)).toBe(false);
    expect(silenceMatches(s, alert, 1_000)).toBe(true);
    expect(silenceMatches(s, alert, 5_000)).toBe(false);
    expect(silenceMatches(s, { ...alert, account: 'ACC-2' }, 2_000)).toBe(false);
    const byWallet = silenceSchema.parse({ id: 's2', match: { wallet: '0xAb' }, endsAt: 9_000, createdBy: 'bob', comment: 'known test wallet' });
    expect(silenceMatches(byWallet, { kind: 'X', account: '', wallet: '0xab' }, 0)).toBe(true);
  });

  it('refuses a silence without who, why or a matcher, and lets a later one with the same id lift it', () => {
    expect(() => silenceSchema.parse({ id: 'x', match: {}, endsAt: 1, createdBy: 'a', comment: 'b' })).toThrow();
    expect(() => silenceSchema.parse({ id: 'x', match: { kind: 'K' }, endsAt: 1, createdBy: '', comment: 'b' })).toThrow();
    const r = new SilenceRegistry([s]);
    expect(r.match(alert, 2_000)?.createdBy).toBe('alice');
    r.set({ ...s, endsAt: new Date(2_000) });
    expect(r.match(alert, 2_000)).toBeUndefined();
  });

  it('forgets silences once they ended (injected clock): the registry does not grow with the stream history', () => {
    const r = new SilenceRegistry();
    for (let i = 0; i < 1_000; i++) r.set({ ...s, id: `old-${i}`, endsAt: new Date(10_000 + i) });
    r.set({ ...s, id: 'future', startsAt: new Date(50_000), endsAt: new Date(60_000) });
    expect(r.size).toBe(1_001);
    expect(r.match(alert, 10_500)).toMatchObject({ id: 'old-501' });
    expect(r.size).toBe(500);
    expect(r.active(20_000)).toEqual([]);
    expect(r.size).toBe(1);
    expect(r.match(alert, 55_000)?.id).toBe('future');
    expect(r.active(60_000)).toEqual([]);
    expect(r.size).toBe(0);
  });
});

describe('alert secrets', () => {
  const KEY = 'R0123456789abcdef0123456789abcde';
  const config = alertsConfigSchema.parse({
    pagerduty: { routingKey: { env: 'PD_KEY' }, routes: [{ match: { severities: ['critical'] }, routingKey: { file: '/run/secrets/pd-critical' } }] },
    slack: { webhooks: [{ name: 'ops', url: { env: 'SLACK_OPS' } }] },
  });

  it('resolves routing keys and webhook URLs from the environment and files', () => {
    const t = resolveAlertSecrets(config, { env: { PD_KEY: KEY, SLACK_OPS: 'https://hooks.slack.com/services/T0/B0/XXXX' }, readFile: () => `${KEY.replace('R', 'C')}\n` });
    expect(t.pagerduty.map((p) => p.name)).toEqual(['pagerduty:route0', 'pagerduty:default']);
    expect(t.pagerduty[0]!.routingKey).toBe(KEY.replace('R', 'C'));
    expect(t.slack[0]!.url).toBe('https://hooks.slack.com/services/T0/B0/XXXX');
  });

  it('fails at start naming the field, never the secret', () => {
    const bad = 'not-a-key-but-a-secret-value';
    const err = (() => {
      try {
        resolveAlertSecrets(config, { env: { PD_KEY: bad, SLACK_OPS: 'https://x' }, readFile: () => KEY });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain('alerts.pagerduty.routingKey');
    expect((err as Error).message).not.toContain(bad);
    expect(() => resolveAlertSecrets(config, { env: { PD_KEY: KEY }, readFile: () => KEY })).toThrow(/SLACK_OPS is not set/);
    expect(() => resolveAlertSecrets(config, { env: { PD_KEY: KEY, SLACK_OPS: 'https://hooks.slack.com/api/x' }, readFile: () => KEY })).toThrow(/hooks.slack.com\/services/);
  });

  it('redacts inline secrets in the printed configuration and keeps references', () => {
    const inline = alertsConfigSchema.parse({
      pagerduty: { routingKey: KEY },
      slack: {
        webhooks: [
          { name: 'a', url: 'https://hooks.slack.com/services/T/B/S' },
          { name: 'b', url: { env: 'X' } },
        ],
      },
    });
    const r = JSON.stringify(redactAlertsConfig(inline));
    expect(r).not.toContain(KEY);
    expect(r).not.toContain('services/T/B/S');
    expect(r).toContain('{"env":"X"}');
  });
});
