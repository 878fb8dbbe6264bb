import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { alertOfFact, type AlertEvent } from '../../src/alerts/alertEvent.js';
import { createAlertOutbox } from '../../src/alerts/alertOutbox.js';
import type { AlertsConfig } from '../../src/alerts/alertsConfig.js';
import { ALERT_REDACT_PATHS } from '../../src/alerts/alertSecrets.js';
import { ensureNotifierStreams } from '../../src/alerts/alertStreams.js';
import { startNotifier, type Notifier } from '../../src/alerts/notifier.js';
import { publishSilence } from '../../src/alerts/silences.js';
import { parseConfig } from '../../src/config/load.js';
import type { Config, ConfigInput } from '../../src/config/schema.js';
import type { DiscrepancyEventRow } from '../../src/domain/facts.js';
import { startAlertReceivers, whileTrue, firstN, processed, type AlertReceivers } from '../support/alertReceivers.js';
import { isolatedNames } from '../support/harness.js';
import { waitFor as waitUntil } from '../support/waitFor.js';

const PD_KEY = 'Rtest0123456789abcdef0123456789a';
const root = new URL('../../', import.meta.url).pathname;

const waitFor = <T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 15_000, everyMs = 50) => waitUntil<T>(what, probe, timeoutMs, everyMs);

function row(i: number | string, over: Partial<DiscrepancyEventRow> = {}): DiscrepancyEventRow {
  const kind = over.kind ?? 'MISSING_MINT';
  const id = `${kind}:bank:e-${i}`;
  return {
    discrepancy_id: id,
    event_id: `${id}:open`,
    kind,
    status: 'open',
    flow: 'deposit',
    account_id: `ACC-${i}`,
    wallet: `0x${String(i).padStart(40, '0')}`.slice(0, 42),
    currency: 'USD',
    token_key: '',
    bank_leg_id: `bank:e-${i}`,
    chain_leg_id: '',
    expected_amount: '12345',
    actual_amount: '',
    reason: 'a booked deposit credit saw no mint within its window',
    event_time: Date.now() - 60_000,
    recorded_at: Date.now(),
    ...over,
  };
}

interface Rig {
  config: Config;
  rx: AlertReceivers;
  nc: NatsConnection;
  js: JetStreamClient;
  logs: string[];
  notifiers: Notifier[];
  start(): Promise<Notifier>;
  publish(rows: DiscrepancyEventRow[]): Promise<AlertEvent[]>;
  resolve(rows: DiscrepancyEventRow[]): Promise<AlertEvent[]>;
  consumerIdle(): Promise<boolean>;
}

const rigs: Rig[] = [];

async function rig(alerts: Partial<AlertsConfig> & Record<string, unknown> = {}): Promise<Rig> {
  const rx = await startAlertReceivers();
  const names = isolatedNames();
  const id = names.namespace;
  const input: ConfigInput = {
    namespace: id,
    nats: names.nats,
    log: { level: 'info' },
    alerts: {
      enabled: true,
      stream: `ALERTS_${id}`,
      subjectPrefix: `alerts_${id}`,
      silenceStream: `SIL_${id}`,
      silenceSubject: `sil_${id}`,
      ackWaitMs: 2_000,
      httpPort: -1,
      grafana: { baseUrl: 'https://grafana.example.com' },
      grouping: { groupWaitMs: 200, groupIntervalMs: 1_000, repeatIntervalMs: 3_600_000 },
      pagerduty: { url: rx.pagerduty.url, routingKey: { env: 'PD_KEY' }, minIntervalMs: 0, maxIndividualPerGroup: 5 },
      slack: { webhooks: [{ name: 'ops', url: { env: 'SLACK_OPS' } }], minIntervalMs: 1_000 },
      retry: { baseMs: 50, maxMs: 400, timeoutMs: 500 },
      circuitBreaker: { failureThreshold: 3, openMs: 400 },
      ...alerts,
    } as ConfigInput['alerts'],
  };
  const config = parseConfig(input);
  const nc = await connect({ servers: config.nats.servers });
  const js = jetstream(nc);
  await ensureNotifierStreams(await jetstreamManager(nc), config.alerts, { stream: config.nats.deadLetterStream, subjectPrefix: config.nats.deadLetterSubjectPrefix });
  const outbox = createAlertOutbox({ js, alerts: config.alerts });
  const logs: string[] = [];
  const log = pino({ level: 'info', redact: ALERT_REDACT_PATHS }, { write: (s: string) => void logs.push(s) });
  const env = { PD_KEY, SLACK_OPS: rx.slack.url('ops') };
  const toAlerts = (rows: DiscrepancyEventRow[]) => rows.map((r) => alertOfFact({ table: 'discrepancy_events', row: r }, config.alerts)!);
  const r: Rig = {
    config,
    rx,
    nc,
    js,
    logs,
    notifiers: [],
    async start() {
      const n = await startNotifier({ config, secrets: { env }, log, reminderCheckMs: 3_600_000 });
      await n.ready;
      r.notifiers.push(n);
      return n;
    },
    async publish(rows) {
      const a = toAlerts(rows);
      await outbox.publish(a);
      return a;
    },
    resolve(rows) {
      return r.publish(rows.map((x) => ({ ...x, status: 'resolved', event_id: `${x.discrepancy_id}:resolved`, reason: 'late counterpart matched', recorded_at: Date.now() })));
    },
    async consumerIdle() {
      const info = await (await jetstreamManager(nc)).consumers.info(config.alerts.stream, config.alerts.consumerName);
      return info.num_pending === 0 && info.num_ack_pending === 0;
    },
  };
  rigs.push(r);
  return r;
}

afterEach(async () => {
  for (const r of rigs.splice(0)) {
    for (const n of r.notifiers) await n.stop();
    await r.rx.close();
    const jsm = await jetstreamManager(r.nc);
    for (const s of [r.config.alerts.stream, r.config.alerts.silenceStream, r.config.nats.deadLetterStream]) await jsm.streams.delete(s).catch(() => undefined);
    await r.nc.close();
    const redis = new Redis(r.config.redis.url);
    const keys = await redis.keys(`${r.config.namespace}:*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
  }
});

describe('alert notifier against local PagerDuty and Slack receivers', () => {
  it('triggers an incident with the discrepancy id as dedup key, then resolves it with the same key, and posts a Slack follow-up', async () => {
    const r = await rig();
    await r.start();
    const [a] = await r.publish([row(1)]);
    await waitFor('trigger', () => r.rx.pagerduty.incidents().get(a!.alertId));
    await waitFor('slack post', () => r.rx.slack.accepted('ops').length === 1);
    await r.resolve([row(1)]);
    await waitFor('resolved incident', () => r.rx.pagerduty.incidents().get(a!.alertId)?.status === 'resolved');
    await waitFor('slack follow-up', () => r.rx.slack.accepted('ops').length === 2);

    const events = r.rx.pagerduty.accepted();
    expect(events.map((e) => [e.event_action, e.dedup_key])).toEqual([
      ['trigger', 'MISSING_MINT:bank:e-1'],
      ['resolve', 'MISSING_MINT:bank:e-1'],
    ]);
    const inc = r.rx.pagerduty.incidents().get(a!.alertId)!;
    expect(inc).toMatchObject({ triggers: 1, resolves: 1, severity: 'error' });
    expect(inc.customDetails).toMatchObject({ expected_amount: '123.45 USD', account: 'ACC-1', bank_leg: 'bank:e-1' });
    const [post, followUp] = r.rx.slack.accepted('ops');
    expect(post!.text).toBe('MISSING_MINT 123.45 USD on ACC-1: a booked deposit credit saw no mint within its window');
    expect(followUp!.text).toBe('Resolved: MISSING_MINT 123.45 USD on ACC-1');
    expect(r.rx.invalid()).toEqual([]);
    await waitFor('all acked', () => r.consumerIdle());
  });

  it("turns a storm of 500 discrepancies into a handful of grouped messages within the channels' limits", async () => {
    const r = await rig({ grouping: { groupWaitMs: 1_000, groupIntervalMs: 5_000, repeatIntervalMs: 3_600_000, maxListed: 10 } });
    // PagerDuty pushes back once: the notifier waits as told.
    r.rx.pagerduty.behave(firstN(1, { status: 429, headers: { 'retry-after': '1' }, body: { status: 'throttle event', message: 'Requests for this service are arriving too quickly' } }));
    const n = await r.start();
    const storm = Array.from({ length: 500 }, (_, i) => row(`s${i}`));
    const mismatches = Array.from({ length: 20 }, (_, i) => row(`m${i}`, { kind: 'AMOUNT_MISMATCH', expected_amount: '1000', actual_amount: '999' }));
    await r.publish([...storm.slice(0, 250), ...mismatches, ...storm.slice(250)]);
    await waitFor('both groups notified', () => r.rx.slack.accepted('ops').length === 2 && r.rx.pagerduty.accepted().length === 12, 20_000);
    await waitFor('all acked', () => r.consumerIdle());

    // PagerDuty: per group, 5 incidents of their own and one incident folding the rest.
    const incidents = [...r.rx.pagerduty.incidents().values()];
    expect(incidents).toHaveLength(12);
    expect(
      incidents
        .filter((i) => i.dedupKey.startsWith('group:'))
        .map((i) => [i.dedupKey, i.customDetails.open_in_group])
        .sort(),
    ).toEqual([
      ['group:AMOUNT_MISMATCH|USD', 15],
      ['group:MISSING_MINT|USD', 495],
    ]);
    // Retry-After: 1 honoured: the throttled event is sent again a second later (less arrival
    // jitter on a loaded machine), and nothing of the channel is sent during the pause. The two
    // groups send side by side (minIntervalMs 0 here), so the other group's first event, and its
    // second when its answer beat the 429 back, may already be on their way: at most two requests
    // arrive right after the throttled one, none later within the pause. Once the pause is over
    // either group may send first (the other group's next event may come before the retry).
    const pd = r.rx.pagerduty.requests;
    const throttled = pd[0]!;
    const key = (q: (typeof pd)[number]) => (q.body as { dedup_key?: string }).dedup_key;
    const retry = pd.findIndex((q, i) => i > 0 && key(q) === key(throttled));
    expect(retry).toBeGreaterThan(0);
    expect(pd[retry]!.at - throttled.at).toBeGreaterThanOrEqual(900);
    const sinceThrottled = (q: (typeof pd)[number]) => q.at - throttled.at;
    expect(pd.slice(1).filter((q) => sinceThrottled(q) < 300).length).toBeLessThanOrEqual(2);
    expect(pd.slice(1).filter((q) => sinceThrottled(q) >= 300 && sinceThrottled(q) < 900)).toEqual([]);
    // Slack: one digest per group, at most one message a second.
    const slack = r.rx.slack.requests('ops');
    expect(slack.map((q) => (q.body as { text: string }).text).sort()).toEqual(['20 × AMOUNT_MISMATCH on USD (200.00 USD)', '500 × MISSING_MINT on USD (61725.00 USD)']);
    expect(slack[1]!.at - slack[0]!.at).toBeGreaterThanOrEqual(900); // paced ~1 s apart (less arrival jitter)

    // The storm clears: one resolve per own incident, one for the folded incident, one Slack follow-up.
    await r.resolve(storm);
    await waitFor('storm resolved', () => r.rx.pagerduty.accepted().length === 12 + 6 && r.rx.slack.accepted('ops').length === 3, 20_000);
    expect(
      [...r.rx.pagerduty.incidents().values()]
        .filter((i) => i.status === 'resolved')
        .map((i) => i.dedupKey)
        .sort(),
    ).toEqual([...storm.slice(0, 5).map((s) => s.discrepancy_id), 'group:MISSING_MINT|USD'].sort());
    expect(r.rx.slack.accepted('ops')[2]!.text).toBe('Resolved: 500 × MISSING_MINT on USD');
    expect(r.rx.invalid()).toEqual([]);
    expect(n.stats.received).toBe(1_020);
    await waitFor('all acked', () => r.consumerIdle());
  });

  it('delivers everything exactly once to a receiver that was down for a while, opening and reporting the circuit meanwhile', async () => {
    const r = await rig();
    let down = true;
    r.rx.pagerduty.behave(whileTrue(() => down, { status: 500, body: 'internal error' }));
    r.rx.slack.behave(
      'ops',
      whileTrue(() => down, 'hang'),
    );
    const n = await r.start();
    const rows = [row(1), row(2, { kind: 'MISSING_BANK_CREDIT', currency: 'USD' }), row(3, { kind: 'DUPLICATE' })];
    const alerts = await r.publish(rows);
    await waitFor('circuit open reported', () => r.logs.some((l) => l.includes('alert channel circuit open')) || undefined);
    await waitFor('several failed attempts', () => r.rx.pagerduty.requests.length >= 3 && r.rx.slack.requests('ops').length >= 2);
    const metrics = await n.registry.metrics();
    expect(metrics).toMatch(/recon_alert_channel_circuit_open\{channel="pagerduty:default"\} 1/);
    down = false;
    await waitFor('all delivered', () => alerts.every((a) => r.rx.pagerduty.incidents().get(a.alertId)) && r.rx.slack.accepted('ops').length === 3, 20_000);
    await waitFor('all acked', () => r.consumerIdle());
    for (const a of alerts) expect(r.rx.pagerduty.incidents().get(a.alertId)!.triggers).toBe(1);
    expect(r.rx.pagerduty.accepted()).toHaveLength(3);
    expect(
      r.rx.slack
        .accepted('ops')
        .map((m) => m.text.split(' ')[0])
        .sort(),
    ).toEqual(['DUPLICATE', 'MISSING_BANK_CREDIT', 'MISSING_MINT']);
    expect(await n.registry.metrics()).toMatch(/recon_alert_channel_circuit_open\{channel="pagerduty:default"\} 0/);
    // Secrets never reach the logs.
    const all = r.logs.join('\n');
    expect(all).not.toContain(PD_KEY);
    expect(all).not.toContain(r.rx.slack.url('ops'));
  });

  it('dead-letters a notification the channel refuses for good, with the response body, and acks it', async () => {
    const r = await rig();
    r.rx.slack.behave('ops', () => ({ status: 404, body: 'no_service' }));
    r.rx.pagerduty.behave(firstN(1, { status: 400, body: { status: 'invalid event', message: 'Event object is invalid', errors: ['routing_key is disabled'] } }));
    const n = await r.start();
    await r.publish([row(1)]);
    await waitFor('dead letters', () => n.stats.deadLettered === 2);
    await waitFor('all acked', () => r.consumerIdle());
    const stream = await (await jetstreamManager(r.nc)).streams.info(r.config.nats.deadLetterStream);
    expect(stream.state.messages).toBe(2);
    const c = await r.js.consumers.get(r.config.nats.deadLetterStream);
    const reasons: string[] = [];
    for (let i = 0; i < 2; i++) {
      const m = await c.next({ expires: 2_000 });
      reasons.push(m!.headers!.get('Recon-Dead-Letter-Reason'));
      expect(new TextDecoder().decode(m!.data)).not.toContain(PD_KEY);
    }
    expect(reasons.sort()).toEqual([
      'HTTP 400 from pagerduty:default: {"status":"invalid event","message":"Event object is invalid","errors":["routing_key is disabled"]}',
      'HTTP 404 from slack:ops: no_service',
    ]);
    expect(r.rx.pagerduty.requests).toHaveLength(1);
  });

  it('honours silences published on the NATS subject, recording who and why', async () => {
    const r = await rig();
    await publishSilence(r.js, r.config.alerts.silenceSubject, {
      id: 'maint-1',
      match: { account: 'ACC-quiet' },
      endsAt: new Date(Date.now() + 3_600_000),
      createdBy: 'alice@bank',
      comment: 'account migration in progress',
    });
    const n = await r.start();
    await r.publish([row('quiet'), row(2)]);
    await waitFor('loud one sent', () => r.rx.slack.accepted('ops').length === 1 && r.rx.pagerduty.accepted().length === 1);
    await waitFor('all acked', () => r.consumerIdle());
    expect(n.stats.silenced).toBe(1);
    expect(r.rx.pagerduty.accepted()[0]!.dedup_key).toBe('MISSING_MINT:bank:e-2');
    const line = r.logs.find((l) => l.includes('"alert silenced"'))!;
    expect(JSON.parse(line)).toMatchObject({ alertId: 'MISSING_MINT:bank:e-quiet', silence: 'maint-1', silencedBy: 'alice@bank', why: 'account migration in progress' });
    // Resolving a silenced alert sends nothing (it was never paged or posted).
    await r.resolve([row('quiet')]);
    await waitFor('all acked', () => r.consumerIdle());
    expect(r.rx.pagerduty.requests).toHaveLength(1);
  });

  it('reminds Slack of a group still open after the repeat interval, and stops once it is resolved', async () => {
    const r = await rig({ grouping: { groupWaitMs: 100, groupIntervalMs: 500, repeatIntervalMs: 1_000, maxListed: 10 } });
    const n = await r.start();
    await r.publish([row(1), row(2)]);
    await waitFor('posted', () => r.rx.slack.accepted('ops').length === 1);
    expect(await n.remindNow()).toBe(0);
    await new Promise((res) => setTimeout(res, 1_100));
    expect(await n.remindNow()).toBe(1);
    expect(r.rx.slack.accepted('ops')[1]!.text).toBe('Still open: 2 × MISSING_MINT on USD');
    await r.resolve([row(1), row(2)]);
    await waitFor('resolved', () => r.rx.slack.accepted('ops').length === 3);
    await new Promise((res) => setTimeout(res, 1_100));
    expect(await n.remindNow()).toBe(0);
  });
});

describe('notifier process killed mid-send', () => {
  const dir = mkdtempSync(join(tmpdir(), 'recon-notify-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('sends nothing twice to PagerDuty and loses nothing after a SIGKILL and a restart', async () => {
    const r = await rig({ pagerduty: { maxIndividualPerGroup: 10 } } as Partial<AlertsConfig>);
    const file = join(dir, 'recon.json');
    const pd = { ...r.config.alerts.pagerduty, url: r.rx.pagerduty.url, routingKey: { env: 'PD_KEY' } };
    writeFileSync(
      file,
      JSON.stringify({
        namespace: r.config.namespace,
        nats: r.config.nats,
        log: { level: 'warn' },
        alerts: { ...r.config.alerts, pagerduty: pd, slack: { ...r.config.alerts.slack, webhooks: [{ name: 'ops', url: { env: 'SLACK_OPS' } }] }, silences: [] },
      }),
    );
    const spawnNotifier = () => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/cli/recon.ts'), 'notify'], {
        cwd: root,
        env: { ...process.env, RECON_CONFIG: file, PD_KEY, SLACK_OPS: r.rx.slack.url('ops') },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      child.stderr!.on('data', (d) => (out += d));
      const exited = new Promise((res) => child.on('exit', res));
      return { child, exited, out: () => out };
    };
    // PagerDuty takes three events, then takes the fourth but its answer never arrives.
    r.rx.pagerduty.behave((i) => (i === 3 ? 'processThenHang' : undefined));
    const rows = Array.from({ length: 8 }, (_, i) => row(i));
    const alerts = await r.publish(rows);
    const first = spawnNotifier();
    try {
      await waitFor('fourth event in flight', () => r.rx.pagerduty.requests.length === 4 && r.rx.slack.accepted('ops').length === 1, 30_000);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${first.out()}`);
    }
    first.child.kill('SIGKILL');
    await first.exited;
    expect(await r.consumerIdle()).toBe(false); // nothing was acked: the group was mid-send

    const second = spawnNotifier();
    try {
      await waitFor('all incidents', () => alerts.every((a) => r.rx.pagerduty.incidents().get(a.alertId)), 30_000);
      await waitFor('all acked', () => r.consumerIdle(), 15_000);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
    const incidents = r.rx.pagerduty.incidents();
    expect(incidents.size).toBe(8);
    // Events accepted before the crash were not sent again; the one in flight was re-sent and
    // PagerDuty folded it into its incident (same dedup key); the rest were sent once.
    const sentPerKey = new Map<string, number>();
    for (const q of r.rx.pagerduty.requests.filter(processed)) {
      const k = (q.body as { dedup_key: string }).dedup_key;
      sentPerKey.set(k, (sentPerKey.get(k) ?? 0) + 1);
    }
    const inFlight = (r.rx.pagerduty.requests[3]!.body as { dedup_key: string }).dedup_key;
    for (const a of alerts) expect(sentPerKey.get(a.alertId), a.alertId).toBe(a.alertId === inFlight ? 2 : 1);
    expect([...incidents.values()].every((i) => i.status === 'triggered')).toBe(true);
    expect(incidents.get(inFlight)!.triggers).toBe(2);
    // Slack's post was recorded before the crash: not posted again.
    expect(r.rx.slack.accepted('ops')).toHaveLength(1);
    expect(r.rx.invalid()).toEqual([]);
  });
});
