import { jetstreamManager } from '@nats-io/jetstream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNotifier, type Notifier } from '../../src/alerts/notifier.js';
import { queryRows } from '../../src/sinks/clickhouse/queries.js';
import { startAlertReceivers, type AlertReceivers } from '../support/alertReceivers.js';
import { randomWallet, startHarness, type Harness } from '../support/harness.js';

const PD_KEY = 'Rsla00123456789abcdef0123456789a';

/**
 * A case past its service level escalates through the alert outbox to PagerDuty, once per breach
 * (acknowledge, then resolve), with one audit record each; the case jobs' clock is moved, not slept.
 */
describe('SLA breaches escalate', () => {
  let h: Harness;
  let rx: AlertReceivers;
  let notifier: Notifier;
  let skipped = 0;
  const wallet = randomWallet();

  beforeAll(async () => {
    rx = await startAlertReceivers();
    const id = Math.random().toString(36).slice(2, 8);
    h = await startHarness({
      casesClock: () => Date.now() + skipped,
      accounts: [{ accountId: 'ACC-SLA', wallets: [wallet] }],
      config: {
        cases: {
          enabled: true,
          tokens: [{ id: 'olga', role: 'operator', token: 'operator-token-0123456789abcdefghijklmn' }],
          sla: [{ kinds: ['MISSING_MINT'], acknowledgeWithinMs: 60_000, resolveWithinMs: 600_000 }],
          slaCheckIntervalMs: 3_600_000,
        },
        alerts: {
          enabled: true,
          stream: `ALERTS_${id}`,
          subjectPrefix: `alerts_${id}`,
          silenceStream: `SIL_${id}`,
          silenceSubject: `sil_${id}`,
          httpPort: -1,
          ackWaitMs: 2_000,
          grouping: { groupWaitMs: 100, groupIntervalMs: 500 },
          // An acknowledge breach is a warning (a resolve breach an error): page both here.
          pagerduty: { url: rx.pagerduty.url, routingKey: { env: 'PD_KEY' }, minIntervalMs: 0, minSeverity: 'warning' },
        },
      },
    });
    notifier = await startNotifier({ config: h.config, secrets: { env: { PD_KEY } }, log: pino({ level: 'warn' }) });
    await notifier.ready;
  }, 60_000);

  afterAll(async () => {
    await notifier?.stop();
    const jsm = await jetstreamManager(h.nc);
    for (const s of [h.config.alerts.stream, h.config.alerts.silenceStream]) await jsm.streams.delete(s).catch(() => undefined);
    await h?.stop();
    await rx?.close();
  });

  it('pages an unacknowledged case once past its due time, and again when it is not resolved in time', async () => {
    await h.posting({ entryId: 'sla-1', accountId: 'ACC-SLA', amountMinor: 9_900n });
    await h.waitFor('MISSING_MINT', async () => (await h.discrepancies()).some((d) => d.discrepancy_id === 'MISSING_MINT:bank:sla-1'));
    const sla = h.daemon.cases!.sla;
    expect(await sla.checkNow()).toBe(0); // not due yet
    skipped += 61_000;
    expect(await sla.checkNow()).toBe(1);
    expect(await sla.checkNow()).toBe(0); // once
    const ack = await h.waitFor('SLA incident', async () => rx.pagerduty.incidents().get('SLA_BREACH:MISSING_MINT:bank:sla-1:acknowledge'), 30_000);
    expect(ack.status).toBe('triggered');
    skipped += 600_000;
    expect(await sla.checkNow()).toBe(1);
    await h.waitFor('second SLA incident', async () => rx.pagerduty.incidents().get('SLA_BREACH:MISSING_MINT:bank:sla-1:resolve'), 30_000);
    const audit = await queryRows<{ action: string; actor: string }>(
      h.ch.client,
      `SELECT action, actor FROM ${h.ch.database}.audit_log FINAL WHERE subject = 'MISSING_MINT:bank:sla-1' AND action LIKE 'case.%' ORDER BY seq`,
    );
    expect(audit).toEqual([
      { action: 'case.sla_breach', actor: 'system' },
      { action: 'case.sla_breach', actor: 'system' },
    ]);
  });
});
