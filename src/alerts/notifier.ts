import { setTimeout as sleep } from 'node:timers/promises';
import { natsSecurityOptions } from '../config/connectionSecurity.js';
import { connectRedis } from '../state/redisClient.js';
import { createLogger } from '../observability/logger.js';
import { redactText } from '../lib/redact.js';
import { headers as natsHeaders } from '@nats-io/nats-core';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type ConsumerMessages, type JetStreamClient, type JsMsg } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { Counter, Gauge, Registry } from 'prom-client';
import { mergeMap, type Subscription } from 'rxjs';
import type { Config } from '../config/schema.js';
import { jetstreamMessages } from '../streams/jetstreamMessages.js';
import { createAlertChannel, type AlertChannel, type DeliveryResult } from './alertChannel.js';
import { alertEventSchema, atLeast, type AlertEvent } from './alertEvent.js';
import type { AlertMatch } from './alertsConfig.js';
import { ALERT_REDACT_PATHS, resolveAlertSecrets, type AlertTargets, type SecretSources } from './alertSecrets.js';
import { AlertState, type OpenAlert } from './alertState.js';
import { ensureNotifierStreams } from './alertStreams.js';
import { grafanaLink, totalAmount } from './alertText.js';
import { groupAlerts, type AlertBatch } from './groupAlerts.js';
import { groupDedupKey, pagerdutyGroupTrigger, pagerdutyResolve, pagerdutyTrigger } from './pagerdutyEvents.js';
import { followSilences, SilenceRegistry } from './silences.js';
import { slackFiring, slackReminder, slackResolved } from './slackMessages.js';
import { backoffMs } from '../lib/backoff.js';

export interface NotifierOptions {
  config: Config;
  /** Where secrets come from (the CLI passes process.env). */
  secrets: SecretSources;
  log?: Logger;
  fetch?: typeof fetch;
  /** How often open groups are checked for a repeat reminder (default: repeat interval / 4, at most 60 s). */
  reminderCheckMs?: number;
}

export interface NotifierStats {
  received: number;
  silenced: number;
  invalid: number;
  acked: number;
  deadLettered: number;
  /** Requests accepted, per channel. */
  sent: Record<string, number>;
  batches: number;
}

export interface Notifier {
  ready: Promise<void>;
  stats: NotifierStats;
  registry: Registry;
  targets: { pagerduty: string[]; slack: string[] };
  /** Sends the due repeat reminders now (tests; otherwise on a timer). */
  remindNow(): Promise<number>;
  /** Graceful stop: stop pulling; alerts held in groups or in retries stay unacked and are redelivered. */
  stop(): Promise<void>;
  done: Promise<void>;
}

interface Held {
  msg: JsMsg;
  alert: AlertEvent;
}
type Target = { kind: 'pagerduty'; name: string; routingKey: string; match: AlertMatch; channel: AlertChannel } | { kind: 'slack'; name: string; match: AlertMatch; channel: AlertChannel };

const matches = (m: AlertMatch, a: AlertEvent) => (!m.kinds || m.kinds.includes(a.kind)) && (!m.severities || m.severities.includes(a.severity));

function openOf(a: AlertEvent): OpenAlert {
  const minor = a.amountUnit === 'minor' ? ((a.expectedAmount || a.actualAmount).split('.')[0] ?? '') : '';
  return { groupKey: a.groupKey, kind: a.kind, token: a.currency || a.tokenKey || '-', since: a.eventTime || a.at, amountMinor: minor, currency: a.currency };
}

/**
 * The notifier: its own durable consumer of the ALERTS outbox. Alerts are checked against the
 * silences, grouped by kind and token (group wait, group interval), and each group's notification
 * goes to PagerDuty (a trigger per alert with its id as dedup key, the rest of a storm folded into
 * one group incident; resolves with the same keys) and to Slack (one Block Kit message per group,
 * a follow-up on resolve, reminders after the repeat interval). A message is acked only once every
 * channel accepted its notification or refused it for good (dead-lettered with the response body);
 * what a channel accepted is recorded in Redis first, so after a crash a redelivered alert is not
 * sent again.
 */
export async function startNotifier(o: NotifierOptions): Promise<Notifier> {
  const { config } = o;
  const a = config.alerts;
  const log = (o.log ?? createLogger({ ...config.log, redactPaths: [...config.log.redactPaths, ...ALERT_REDACT_PATHS] }, { base: { namespace: config.namespace } })).child({ component: 'notifier' });
  // Validated at start: a missing or malformed secret fails here, naming the field only.
  const resolved: AlertTargets = resolveAlertSecrets(a, o.secrets);

  const registry = new Registry();
  const metrics = {
    alertsIn: new Counter({ name: 'recon_alerts_in_total', help: 'Alert state changes consumed from the outbox', labelNames: ['source', 'state'], registers: [registry] }),
    silenced: new Counter({ name: 'recon_alerts_silenced_total', help: 'Firing alerts suppressed by a silence', labelNames: ['kind'], registers: [registry] }),
    requests: new Counter({ name: 'recon_alert_requests_total', help: 'Requests to alert channels, by channel and result', labelNames: ['channel', 'result'], registers: [registry] }),
    deadLetters: new Counter({ name: 'recon_alert_dead_letters_total', help: 'Notifications a channel refused for good (dead-lettered)', labelNames: ['channel'], registers: [registry] }),
    circuitOpen: new Gauge({ name: 'recon_alert_channel_circuit_open', help: "1 while a channel's circuit breaker is open (or half-open)", labelNames: ['channel'], registers: [registry] }),
    held: new Gauge({ name: 'recon_alerts_held', help: 'Alerts held unacked (waiting in a group or in retries)', registers: [registry] }),
    groups: new Gauge({ name: 'recon_alert_groups', help: 'Alert groups remembered by the grouping (forgotten one group interval after their last batch)', registers: [registry] }),
    openExpired: new Counter({ name: 'recon_alert_open_expired_total', help: 'Open alerts forgotten unresolved after the alert state retention (no more reminders)', registers: [registry] }),
  };
  const stats: NotifierStats = { received: 0, silenced: 0, invalid: 0, acked: 0, deadLettered: 0, sent: {}, batches: 0 };

  const channelOf = (name: string, url: string, minIntervalMs: number) =>
    createAlertChannel({
      name,
      url,
      minIntervalMs,
      retry: a.retry,
      circuitBreaker: a.circuitBreaker,
      log,
      ...(o.fetch && { fetch: o.fetch }),
      onCircuit: (ch, state) => metrics.circuitOpen.set({ channel: ch }, state === 'closed' ? 0 : 1),
      onAttempt: (ch, result) => metrics.requests.inc({ channel: ch, result }),
    });
  const targets: Target[] = [
    ...resolved.pagerduty.map((t) => ({ kind: 'pagerduty' as const, name: t.name, routingKey: t.routingKey, match: t.match, channel: channelOf(t.name, a.pagerduty.url, a.pagerduty.minIntervalMs) })),
    ...resolved.slack.map((t) => ({ kind: 'slack' as const, name: t.name, match: t.match, channel: channelOf(t.name, t.url, a.slack.minIntervalMs) })),
  ];
  for (const t of targets) metrics.circuitOpen.set({ channel: t.name }, 0);
  const pdTargets = targets.filter((t): t is Extract<Target, { kind: 'pagerduty' }> => t.kind === 'pagerduty');
  /** Each alert pages through one routing key: the first route that matches, else the default. */
  const pdTargetOf = (al: AlertEvent) => (atLeast(al.severity, a.pagerduty.minSeverity) ? pdTargets.find((t) => matches(t.match, al)) : undefined);
  const slackTakes = (t: Target, al: AlertEvent) => atLeast(al.severity, a.slack.minSeverity) && matches(t.match, al);

  const nats: NatsConnection = await connect({ ...natsSecurityOptions(config.nats, o.secrets), servers: config.nats.servers, name: `${config.workerId}-notifier`, maxReconnectAttempts: -1 });
  const js: JetStreamClient = jetstream(nats);
  const jsm = await jetstreamManager(nats);
  await ensureNotifierStreams(jsm, a, { stream: config.nats.deadLetterStream, subjectPrefix: config.nats.deadLetterSubjectPrefix, limits: config.nats.limits.deadLetter }, config.nats.replicas);
  const redis = connectRedis(config.redis, o.secrets, { enableAutoPipelining: true });
  const state = new AlertState(redis, config.namespace);
  const silences = new SilenceRegistry(a.silences);
  const silenceFeed = await followSilences({ js, stream: a.silenceStream, registry: silences, log });
  await silenceFeed.caughtUp;

  const grafana = (al?: AlertEvent) => grafanaLink(a.grafana, config.clickhouse.database, al);
  const pdCtx = (t: Extract<Target, { kind: 'pagerduty' }>) => ({ routingKey: t.routingKey, source: `recon/${config.namespace}`, grafana });
  const slackCtx = { grafana, maxListed: a.grouping.maxListed };
  const abort = new AbortController();
  const held = new Set<JsMsg>();
  const enc = new TextEncoder();

  // Alerts wait in groups and in retries longer than ack_wait: keep them ours meanwhile.
  const keepAlive = setInterval(
    () => {
      for (const m of held) m.working();
    },
    Math.max(500, Math.floor(a.ackWaitMs / 3)),
  );
  const ack = (items: readonly Held[]) => {
    for (const h of items) {
      if (!held.delete(h.msg)) continue;
      h.msg.ack();
      stats.acked++;
    }
    metrics.held.set(held.size);
  };

  /** A refused notification goes to the dead-letter stream with the channel's answer (routing key removed). */
  async function deadLetter(target: Target, what: string, body: unknown, r: DeliveryResult): Promise<void> {
    stats.deadLettered++;
    metrics.deadLetters.inc({ channel: target.name });
    const h = natsHeaders();
    h.set('Recon-Dead-Letter-Code', 'ALERT_REJECTED');
    h.set(
      'Recon-Dead-Letter-Reason',
      redactText(`HTTP ${r.status} from ${target.name}: ${r.body}`)
        .replace(/[\r\n]+/g, ' ')
        .slice(0, 2_000),
    );
    h.set('Recon-Alert-Channel', target.name);
    const clean = redactText(JSON.stringify(body, (k, v) => (k === 'routing_key' ? '***' : v)));
    await js.publish(`${config.nats.deadLetterSubjectPrefix}.alerts`, enc.encode(clean), { headers: h, msgID: `dl:alert:${target.name}:${what}` });
    log.error({ channel: target.name, status: r.status, response: r.body.slice(0, 500), what }, 'alert notification refused by the channel; dead-lettered');
  }

  const countSent = (t: Target) => {
    stats.sent[t.name] = (stats.sent[t.name] ?? 0) + 1;
  };

  async function deliverPagerDuty(t: Extract<Target, { kind: 'pagerduty' }>, groupKey: string, firing: AlertEvent[], resolvedAlerts: AlertEvent[]): Promise<void> {
    const signal = abort.signal;
    const recs = await state.records(
      t.name,
      [...firing, ...resolvedAlerts].map((x) => x.alertId),
    );
    const fresh = firing.filter((x) => !recs.get(x.alertId)?.firing && !recs.get(x.alertId)?.resolved);
    // Once a group has folded alerts, newcomers join the fold; otherwise the first few page one by one.
    const folded = fresh.length > 0 ? await state.foldedCount(t.name, groupKey) : 0;
    const individual = folded > 0 ? [] : fresh.slice(0, a.pagerduty.maxIndividualPerGroup);
    const fold = fresh.slice(individual.length);
    for (const al of individual) {
      const ev = pagerdutyTrigger(al, pdCtx(t));
      const r = await t.channel.send(ev, signal);
      if (r.outcome === 'accepted') countSent(t);
      else await deadLetter(t, al.eventId, ev, r);
      await state.markSent(t.name, 'firing', [{ alertId: al.alertId, value: r.outcome === 'accepted' ? al.alertId : 'dead-lettered' }]);
    }
    if (fold.length > 0) {
      const open = await state.fold(
        t.name,
        groupKey,
        fold.map((x) => x.alertId),
      );
      const ev = pagerdutyGroupTrigger(groupKey, fold, open, pdCtx(t));
      const r = await t.channel.send(ev, signal);
      if (r.outcome === 'accepted') countSent(t);
      else await deadLetter(t, `${groupDedupKey(groupKey)}:${fold[0]!.eventId}`, ev, r);
      await state.markSent(
        t.name,
        'firing',
        fold.map((x) => ({ alertId: x.alertId, value: r.outcome === 'accepted' ? groupDedupKey(groupKey) : 'dead-lettered' })),
      );
    }
    const unfold: string[] = [];
    for (const al of resolvedAlerts) {
      const rec = recs.get(al.alertId);
      if (rec?.resolved) continue;
      if (rec?.firing === al.alertId) {
        const ev = pagerdutyResolve(al.alertId, t);
        const r = await t.channel.send(ev, signal);
        if (r.outcome === 'accepted') countSent(t);
        else await deadLetter(t, al.eventId, ev, r);
        await state.markSent(t.name, 'resolved', [{ alertId: al.alertId, value: r.outcome === 'accepted' ? al.alertId : 'dead-lettered' }]);
      } else if (rec?.firing?.startsWith('group:')) {
        unfold.push(al.alertId);
      } else {
        // Never paged (silenced, below severity, opened and resolved within the wait): nothing to resolve.
        await state.markSent(t.name, 'resolved', [{ alertId: al.alertId, value: 'skipped' }]);
      }
    }
    if (unfold.length > 0) {
      const left = await state.unfold(t.name, groupKey, unfold);
      if (left === 0) {
        const ev = pagerdutyResolve(groupDedupKey(groupKey), t);
        const r = await t.channel.send(ev, signal);
        if (r.outcome === 'accepted') countSent(t);
        else await deadLetter(t, `${groupDedupKey(groupKey)}:resolved:${unfold[0]}`, ev, r);
      }
      await state.markSent(
        t.name,
        'resolved',
        unfold.map((id) => ({ alertId: id, value: groupDedupKey(groupKey) })),
      );
    }
  }

  async function deliverSlack(t: Extract<Target, { kind: 'slack' }>, firing: AlertEvent[], resolvedAlerts: AlertEvent[], quiet: number, openedAt: Map<string, number>): Promise<void> {
    const signal = abort.signal;
    const recs = await state.records(
      t.name,
      [...firing, ...resolvedAlerts].map((x) => x.alertId),
    );
    const fresh = firing.filter((x) => !recs.get(x.alertId)?.firing && !recs.get(x.alertId)?.resolved);
    if (fresh.length > 0) {
      const msg = slackFiring(fresh, slackCtx, { foldedQuietly: quiet });
      const r = await t.channel.send(msg, signal);
      if (r.outcome === 'accepted') countSent(t);
      else await deadLetter(t, fresh[0]!.eventId, msg, r);
      await state.markSent(
        t.name,
        'firing',
        fresh.map((x) => ({ alertId: x.alertId, value: r.outcome === 'accepted' ? 'posted' : 'dead-lettered' })),
      );
    }
    const toResolve = resolvedAlerts.filter((x) => !recs.get(x.alertId)?.resolved && recs.get(x.alertId)?.firing === 'posted');
    const skip = resolvedAlerts.filter((x) => !recs.get(x.alertId)?.resolved && recs.get(x.alertId)?.firing !== 'posted');
    await state.markSent(
      t.name,
      'resolved',
      skip.map((x) => ({ alertId: x.alertId, value: 'skipped' })),
    );
    if (toResolve.length > 0) {
      const msg = slackResolved(toResolve, slackCtx, (x) => openedAt.get(x.alertId));
      const r = await t.channel.send(msg, signal);
      if (r.outcome === 'accepted') countSent(t);
      else await deadLetter(t, toResolve[0]!.eventId, msg, r);
      await state.markSent(
        t.name,
        'resolved',
        toResolve.map((x) => ({ alertId: x.alertId, value: r.outcome === 'accepted' ? 'posted' : 'dead-lettered' })),
      );
    }
  }

  /** One group notification to every channel, then the acks. Retried as a whole on a Redis/NATS failure (the records make that idempotent). */
  async function dispatch(batch: AlertBatch<Held>): Promise<void> {
    stats.batches++;
    const seen = new Set<string>();
    // An event id already in this batch is acked at once and delivered once.
    const items: Held[] = [];
    for (const h of batch.items) {
      if (seen.has(h.alert.eventId)) ack([h]);
      else {
        seen.add(h.alert.eventId);
        items.push(h);
      }
    }
    const resolvedIds = new Set(items.filter((h) => h.alert.state === 'resolved').map((h) => h.alert.alertId));
    const firing = items.filter((h) => h.alert.state === 'firing' && !resolvedIds.has(h.alert.alertId)).map((h) => h.alert);
    const quiet = items.filter((h) => h.alert.state === 'firing' && resolvedIds.has(h.alert.alertId)).length;
    const resolvedAlerts = items.filter((h) => h.alert.state === 'resolved').map((h) => h.alert);
    for (let attempt = 1; ; attempt++) {
      try {
        const open = await state.openAlerts();
        const openedAt = new Map([...open].map(([id, x]) => [id, x.since]));
        const work: Promise<void>[] = [];
        for (const t of pdTargets) {
          const f = firing.filter((x) => pdTargetOf(x) === t);
          const r = resolvedAlerts.filter((x) => pdTargetOf(x) === t);
          if (f.length || r.length) work.push(deliverPagerDuty(t, batch.key, f, r));
        }
        for (const t of targets) {
          if (t.kind !== 'slack') continue;
          const f = firing.filter((x) => slackTakes(t, x));
          const r = resolvedAlerts.filter((x) => slackTakes(t, x));
          if (f.length || r.length) work.push(deliverSlack(t, f, r, quiet, openedAt));
        }
        const results = await Promise.allSettled(work);
        const failed = results.find((x): x is PromiseRejectedResult => x.status === 'rejected');
        if (failed) throw failed.reason;
        // AML alerts fire once (a person closes them): they are not reminded.
        await state.setOpen(firing.filter((x) => x.source !== 'aml').map((x) => ({ alertId: x.alertId, open: openOf(x) })));
        await state.clearOpen(resolvedAlerts.map((x) => x.alertId));
        if (firing.length > 0) await state.notified(batch.key, a.grouping.repeatIntervalMs);
        ack(batch.items);
        log.info({ group: batch.key, firing: firing.length, resolved: resolvedAlerts.length, quiet, first: batch.first }, 'group notified');
        return;
      } catch (e) {
        if (abort.signal.aborted) return; // stopping: leave the messages unacked for redelivery
        const delay = backoffMs(attempt, { initialMs: a.retry.baseMs, maxMs: a.retry.maxMs, jitter: 'none' });
        log.error({ err: e, group: batch.key, attempt, retryInMs: delay }, 'group notification failed; retrying');
        await sleep(delay, undefined, { signal: abort.signal }).catch(() => undefined);
        if (abort.signal.aborted) return;
      }
    }
  }

  // Notifications of one group go out in order (a resolve never overtakes its trigger).
  const tails = new Map<string, Promise<void>>();
  const inOrder = (batch: AlertBatch<Held>) => {
    const prev = tails.get(batch.key) ?? Promise.resolve();
    const next = prev.then(() => dispatch(batch));
    tails.set(batch.key, next);
    void next.finally(() => {
      if (tails.get(batch.key) === next) tails.delete(batch.key);
    });
    return next;
  };

  function admit(msg: JsMsg): Held | null {
    stats.received++;
    let alert: AlertEvent;
    try {
      alert = alertEventSchema.parse(JSON.parse(new TextDecoder().decode(msg.data)));
    } catch (e) {
      stats.invalid++;
      log.warn({ seq: msg.seq, subject: msg.subject, err: (e as Error).message }, 'invalid alert in the outbox; skipped');
      msg.ack();
      return null;
    }
    metrics.alertsIn.inc({ source: alert.source, state: alert.state });
    if (alert.state === 'firing') {
      const s = silences.match(alert, Date.now());
      if (s) {
        stats.silenced++;
        metrics.silenced.inc({ kind: alert.kind });
        log.info({ alertId: alert.alertId, kind: alert.kind, silence: s.id, silencedBy: s.createdBy, why: s.comment, until: s.endsAt.toISOString() }, 'alert silenced');
        msg.ack();
        return null;
      }
    }
    held.add(msg);
    metrics.held.set(held.size);
    return { msg, alert };
  }

  const consumer = await js.consumers.get(a.stream, a.consumerName);
  let handle: ConsumerMessages | undefined;
  let markReady!: () => void;
  const ready = new Promise<void>((r) => (markReady = r));
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const subscription: Subscription = jetstreamMessages({
    consumer,
    maxMessages: 1_000,
    onStart: (h) => {
      handle = h;
      markReady();
    },
  })
    .pipe(
      mergeMap((msg) => {
        const h = admit(msg);
        return h ? [h] : [];
      }),
      groupAlerts<Held>({ key: (h) => h.alert.groupKey, groupWaitMs: a.grouping.groupWaitMs, groupIntervalMs: a.grouping.groupIntervalMs, onSize: (n) => metrics.groups.set(n) }),
      mergeMap((batch) => inOrder(batch)),
    )
    .subscribe({
      error: (e) => {
        log.fatal({ err: e }, 'notifier pipeline failed');
        resolveDone();
      },
      complete: () => resolveDone(),
    });

  async function remindNow(): Promise<number> {
    const { open, expired } = await state.openAlertsPruned();
    if (expired.length > 0) {
      metrics.openExpired.inc(expired.length);
      log.warn({ alerts: expired.length, first: expired.slice(0, 10) }, 'open alerts never resolved within the alert state retention: forgotten, no more reminders');
    }
    const byGroup = new Map<string, OpenAlert[]>();
    for (const x of open.values()) byGroup.set(x.groupKey, [...(byGroup.get(x.groupKey) ?? []), x]);
    let sent = 0;
    for (const [groupKey, xs] of byGroup) {
      if (!(await state.claimReminder(groupKey, a.grouping.repeatIntervalMs))) continue;
      const first = xs[0]!;
      const total = totalAmount(xs.map((x) => ({ currency: x.currency, amountUnit: x.amountMinor ? 'minor' : 'none', expectedAmount: x.amountMinor, actualAmount: '' }) as AlertEvent));
      const msg = slackReminder({ kind: first.kind, token: first.token, open: xs.length, oldest: Math.min(...xs.map((x) => x.since)), total }, slackCtx);
      for (const t of targets) {
        if (t.kind !== 'slack' || (t.match.kinds && !t.match.kinds.includes(first.kind))) continue;
        const r = await t.channel.send(msg, abort.signal);
        if (r.outcome === 'accepted') {
          countSent(t);
          sent++;
        } else await deadLetter(t, `reminder:${groupKey}:${Date.now()}`, msg, r);
      }
    }
    return sent;
  }
  const reminderEvery = o.reminderCheckMs ?? Math.min(60_000, Math.max(1_000, Math.floor(a.grouping.repeatIntervalMs / 4)));
  let reminding: Promise<unknown> = Promise.resolve();
  const reminderTimer = setInterval(() => {
    reminding = reminding
      .then(() => remindNow())
      .catch((e) => {
        if (!abort.signal.aborted) log.error({ err: e }, 'reminders failed');
      });
  }, reminderEvery);

  log.info({ pagerduty: pdTargets.map((t) => t.name), slack: targets.filter((t) => t.kind === 'slack').map((t) => t.name), stream: a.stream, consumer: a.consumerName }, 'notifier started');

  let stopped: Promise<void> | undefined;
  return {
    ready,
    stats,
    registry,
    done,
    remindNow,
    targets: { pagerduty: pdTargets.map((t) => t.name), slack: targets.filter((t) => t.kind === 'slack').map((t) => t.name) },
    stop() {
      stopped ??= (async () => {
        clearInterval(reminderTimer);
        clearInterval(keepAlive);
        handle?.stop();
        abort.abort();
        subscription.unsubscribe();
        await Promise.allSettled([...tails.values(), reminding]);
        silenceFeed.stop();
        // Held alerts are not acked: the next notifier gets them again (after ack_wait).
        await nats.drain().catch(() => undefined);
        await redis.quit().catch(() => undefined);
        resolveDone();
        log.info({ held: held.size }, 'notifier stopped');
      })();
      return stopped;
    },
  };
}
