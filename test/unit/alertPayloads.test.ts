import { describe, expect, it } from 'vitest';
import { alertOfFact, feedStalledAlert, type AlertEvent } from '../../src/alerts/alertEvent.js';
import { alertsConfigSchema } from '../../src/alerts/alertsConfig.js';
import { displayAmount, grafanaLink } from '../../src/alerts/alertText.js';
import { pagerdutyGroupTrigger, pagerdutyResolve, pagerdutyTrigger } from '../../src/alerts/pagerdutyEvents.js';
import { slackFiring, slackReminder, slackResolved } from '../../src/alerts/slackMessages.js';
import type { DiscrepancyEventRow } from '../../src/domain/facts.js';
import { validatePagerDutyEvent, validateSlackMessage } from '../support/alertReceivers.js';

const cfg = alertsConfigSchema.parse({ grafana: { baseUrl: 'https://grafana.example.com' } });
const KEY = 'R0123456789abcdef0123456789abcde';

function discrepancy(over: Partial<DiscrepancyEventRow> = {}): DiscrepancyEventRow {
  return {
    discrepancy_id: 'MISSING_MINT:bank:mm-1',
    event_id: 'MISSING_MINT:bank:mm-1:open',
    kind: 'MISSING_MINT',
    status: 'open',
    flow: 'deposit',
    account_id: 'ACC-1',
    wallet: `0x${'ab'.repeat(20)}`,
    currency: 'USD',
    token_key: '',
    bank_leg_id: 'bank:mm-1',
    chain_leg_id: '',
    expected_amount: '200000',
    actual_amount: '',
    reason: 'no mint within the window',
    event_time: 1_700_000_000_000,
    recorded_at: 1_700_000_100_000,
    ...over,
  };
}
const alertOf = (over: Partial<DiscrepancyEventRow> = {}) => alertOfFact({ table: 'discrepancy_events', row: discrepancy(over) }, cfg)!;
const grafana = (a?: AlertEvent) => grafanaLink(cfg.grafana, 'recon', a);

describe('alert of a fact', () => {
  it('makes a firing alert of an opened discrepancy and a resolved one of its resolution, with one id', () => {
    const open = alertOf();
    const resolved = alertOf({ status: 'resolved', event_id: 'MISSING_MINT:bank:mm-1:resolved' });
    expect(open).toMatchObject({ alertId: 'MISSING_MINT:bank:mm-1', eventId: 'MISSING_MINT:bank:mm-1:firing', state: 'firing', severity: 'error', groupKey: 'MISSING_MINT|USD' });
    expect(resolved).toMatchObject({ alertId: open.alertId, eventId: 'MISSING_MINT:bank:mm-1:resolved', state: 'resolved' });
  });

  it('ignores facts that are not alert-worthy and keeps AML alerts at or above the configured severity', () => {
    expect(alertOfFact({ table: 'matches', row: {} }, cfg)).toBeNull();
    const aml = (severity: string) =>
      alertOfFact(
        {
          table: 'aml_alerts',
          row: {
            alert_id: 'structuring:ACC-9:1',
            rule_id: 'structuring',
            rule_type: 'structuring',
            severity,
            scope: 'account',
            subject: 'ACC-9',
            currency: 'USD',
            summary: '5 deposits just below 10,000.00 USD',
            event_time: 1,
            recorded_at: 2,
            figures: '[]',
          },
        },
        cfg,
      );
    expect(aml('low')).toBeNull();
    expect(aml('high')).toMatchObject({ alertId: 'AML:structuring:ACC-9:1', kind: 'AML_STRUCTURING', severity: 'error', account: 'ACC-9', source: 'aml' });
  });

  it('shows amounts exactly, a fraction of a minor unit included', () => {
    expect(displayAmount('200000', 'minor', 'USD')).toBe('2000.00 USD');
    expect(displayAmount('9000.000000000000000001', 'minor', 'USD')).toBe('90.00000000000000000001 USD');
    expect(displayAmount('500', 'minor', 'JPY')).toBe('500 JPY');
    expect(displayAmount('-5', 'minor', 'USD')).toBe('-0.05 USD');
  });
});

describe('PagerDuty Events v2 payloads', () => {
  it('triggers with the discrepancy id as dedup key and resolves with the same key, in the documented shape', () => {
    const a = alertOf({ chain_leg_id: 'chain:31337:0xabc:1', actual_amount: '199999' });
    const t = pagerdutyTrigger(a, { routingKey: KEY, source: 'recon/prod', grafana });
    expect(validatePagerDutyEvent(t)).toEqual([]);
    expect(t.dedup_key).toBe('MISSING_MINT:bank:mm-1');
    expect(t.payload).toMatchObject({ severity: 'error', class: 'MISSING_MINT', group: 'USD', component: 'ACC-1', source: 'recon/prod' });
    expect(t.payload!.summary).toContain('2000.00 USD');
    expect(t.payload!.custom_details).toMatchObject({
      expected_amount: '2000.00 USD',
      actual_amount: '1999.99 USD',
      bank_leg: 'bank:mm-1',
      chain_leg: 'chain:31337:0xabc:1',
      account: 'ACC-1',
    });
    expect(t.links?.[0]?.href).toMatch(/^https:\/\/grafana\.example\.com\/d\/recon-overview\?.*viewPanel=11/);
    const r = pagerdutyResolve(t.dedup_key, { routingKey: KEY });
    expect(validatePagerDutyEvent(r)).toEqual([]);
    expect(r).toEqual({ routing_key: KEY, event_action: 'resolve', dedup_key: t.dedup_key });
  });

  it('folds a storm into one group event within the summary limit', () => {
    const alerts = Array.from({ length: 500 }, (_, i) => alertOf({ discrepancy_id: `MISSING_MINT:bank:s-${i}`, account_id: `ACC-${i}`, expected_amount: '100' }));
    const e = pagerdutyGroupTrigger('MISSING_MINT|USD', alerts, 500, { routingKey: KEY, source: 'recon/prod', grafana });
    expect(validatePagerDutyEvent(e)).toEqual([]);
    expect(e.dedup_key).toBe('group:MISSING_MINT|USD');
    expect(e.payload!.summary).toContain('500 open');
    expect(e.payload!.custom_details).toMatchObject({ total_amount: '500.00 USD', open_in_group: 500, more: 450 });
  });

  it('catches malformed events (the receiver refuses them as PagerDuty would)', () => {
    expect(validatePagerDutyEvent({ routing_key: 'short', event_action: 'trigger', payload: { summary: '', source: '', severity: 'fatal' } })).toHaveLength(4);
    expect(validatePagerDutyEvent({ routing_key: KEY, event_action: 'resolve' })).toEqual(['dedup_key is required for acknowledge and resolve']);
  });
});

describe('Slack Block Kit messages', () => {
  it('shows one alert at a glance: what, how much, account, wallet, since when, what to check', () => {
    const m = slackFiring([alertOf()], { grafana, maxListed: 10, now: () => 1_700_000_300_000 });
    expect(validateSlackMessage(m)).toEqual([]);
    const text = JSON.stringify(m.blocks);
    for (const s of ['MISSING_MINT', '2000.00 USD', 'ACC-1', `0x${'ab'.repeat(20)}`, 'What to check', 'Open in Grafana', '5m 0s']) expect(text).toContain(s);
    expect(m.text).toContain('MISSING_MINT 2000.00 USD on ACC-1');
  });

  it('digests a storm into one message that stays within Slack limits', () => {
    const alerts = Array.from({ length: 500 }, (_, i) => alertOf({ discrepancy_id: `MISSING_MINT:bank:s-${i}`, account_id: `ACC-${i}`, expected_amount: '100' }));
    const m = slackFiring(alerts, { grafana, maxListed: 10 }, { foldedQuietly: 3 });
    expect(validateSlackMessage(m)).toEqual([]);
    expect(m.text).toBe('500 × MISSING_MINT on USD (500.00 USD)');
    expect(JSON.stringify(m.blocks)).toContain('…and 490 more');
  });

  it('follows up on resolve, and reminds of a group still open', () => {
    const resolved = alertOf({ status: 'resolved', reason: 'late mint matched', recorded_at: 1_700_000_600_000 });
    const one = slackResolved([resolved], { maxListed: 10 });
    expect(validateSlackMessage(one)).toEqual([]);
    expect(one.text).toBe('Resolved: MISSING_MINT 2000.00 USD on ACC-1');
    expect(JSON.stringify(one.blocks)).toContain('open for 10m 0s');
    expect(validateSlackMessage(slackResolved([resolved, resolved], { maxListed: 10 }))).toEqual([]);
    const r = slackReminder({ kind: 'BALANCE_DRIFT', token: 'USD', open: 2, oldest: 1_700_000_000_000, total: '' }, { grafana, maxListed: 10 });
    expect(validateSlackMessage(r)).toEqual([]);
    expect(r.text).toBe('Still open: 2 × BALANCE_DRIFT on USD');
  });

  it('has a hook for stalled feeds that yields a valid alert', () => {
    const a = feedStalledAlert({ feed: 'chain:31337', state: 'firing', since: 1, lastSeenAt: 1, now: 2, reason: 'no confirmed block for 10 minutes' }, cfg);
    expect(validatePagerDutyEvent(pagerdutyTrigger(a, { routingKey: KEY, source: 'recon/prod' }))).toEqual([]);
    expect(validateSlackMessage(slackFiring([a], { maxListed: 10 }))).toEqual([]);
  });
});
