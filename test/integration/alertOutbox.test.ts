import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { pino } from 'pino';
import { startNotifier, type Notifier } from '../../src/alerts/notifier.js';
import { startAlertReceivers, type AlertReceivers } from '../support/alertReceivers.js';
import { randomWallet, startHarness, type Harness } from '../support/harness.js';

const PD_KEY = 'Routbox0123456789abcdef012345678';

/**
 * The daemon end to end with its outbox on: a discrepancy opened by the pipeline's window close and
 * resolved by a late mint reaches PagerDuty as a trigger and a resolve with the same dedup key
 * (the discrepancy id), through the ALERTS stream and the notifier.
 */
describe('alert outbox from the daemon to PagerDuty and Slack', () => {
  let h: Harness;
  let rx: AlertReceivers;
  let notifier: Notifier;
  const wallet = randomWallet();

  beforeAll(async () => {
    rx = await startAlertReceivers();
    const id = Math.random().toString(36).slice(2, 8);
    h = await startHarness({
      accounts: [{ accountId: 'ACC-OUTBOX', wallets: [wallet] }],
      config: {
        alerts: {
          enabled: true,
          stream: `ALERTS_${id}`,
          subjectPrefix: `alerts_${id}`,
          silenceStream: `SIL_${id}`,
          silenceSubject: `sil_${id}`,
          httpPort: -1,
          ackWaitMs: 2_000,
          grouping: { groupWaitMs: 100, groupIntervalMs: 500 },
          pagerduty: { url: rx.pagerduty.url, routingKey: { env: 'PD_KEY' }, minIntervalMs: 0 },
          slack: { webhooks: [{ name: 'ops', url: { env: 'SLACK_OPS' } }], minIntervalMs: 0 },
        },
      },
    });
    notifier = await startNotifier({ config: h.config, secrets: { env: { PD_KEY, SLACK_OPS: rx.slack.url('ops') } }, log: pino({ level: 'warn' }) });
    await notifier.ready;
  }, 60_000);

  afterAll(async () => {
    await notifier?.stop();
    const jsm = await jetstreamManager(h.nc);
    for (const s of [h.config.alerts.stream, h.config.alerts.silenceStream]) await jsm.streams.delete(s).catch(() => undefined);
    await h?.stop();
    await rx?.close();
  });

  it('pages a MISSING_MINT opened by the window close and resolves it with the same dedup key when the mint comes late', async () => {
    await h.posting({ entryId: 'ob-1', accountId: 'ACC-OUTBOX', amountMinor: 4_200n });
    const incident = await h.waitFor('PagerDuty incident', async () => rx.pagerduty.incidents().get('MISSING_MINT:bank:ob-1'), 30_000);
    expect(incident).toMatchObject({ status: 'triggered', severity: 'error' });
    expect(incident.customDetails).toMatchObject({ account: 'ACC-OUTBOX', expected_amount: '42.00 USD', bank_leg: 'bank:ob-1' });
    await h.mint(wallet, h.usd(4_200n));
    await h.waitFor('resolved incident', async () => rx.pagerduty.incidents().get('MISSING_MINT:bank:ob-1')?.status === 'resolved', 30_000);
    await h.waitFor('Slack follow-up', async () => rx.slack.accepted('ops').length === 2);
    expect(rx.pagerduty.accepted().map((e) => [e.event_action, e.dedup_key])).toEqual([
      ['trigger', 'MISSING_MINT:bank:ob-1'],
      ['resolve', 'MISSING_MINT:bank:ob-1'],
    ]);
    expect(rx.invalid()).toEqual([]);
    // The outbox holds one message per state change (msgID = event id).
    const info = await (await jetstreamManager(h.nc)).streams.info(h.config.alerts.stream);
    expect(info.state.messages).toBe(2);
  });
});
