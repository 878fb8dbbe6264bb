import { z } from 'zod';
import { DEFAULT_STREAM_LIMITS, streamLimitsSchema } from '../config/streamLimits.js';
import { durationMs } from '../config/duration.js';

/**
 * The `alerts` section of the configuration: the outbox stream the workers publish alert-worthy
 * facts to, and the notifier that delivers them to PagerDuty and Slack. Secrets (routing keys,
 * webhook URLs) are references — `{ env: NAME }` or `{ file: /path }` — resolved and validated when
 * the notifier starts (`resolveAlertSecrets`); an inline string is accepted but discouraged.
 */

export const ALERT_SEVERITIES = ['critical', 'error', 'warning', 'info'] as const;
/** An operational alert's severity, as PagerDuty takes it (an AML rule's risk level maps to one: src/aml/types.ts). */
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];
export const severitySchema = z.enum(ALERT_SEVERITIES);

/** Where a secret comes from. Never logged: `check-config` prints references, not values. */
export const secretRefSchema = z.union([z.string().min(1), z.object({ env: z.string().min(1) }).strict(), z.object({ file: z.string().min(1) }).strict()]);
export type SecretRef = z.infer<typeof secretRefSchema>;

/** Which alerts a route or webhook takes; an empty matcher takes every alert. */
export const alertMatchSchema = z
  .object({
    kinds: z.array(z.string()).optional().describe('Alert kinds taken (discrepancy kinds, FEED_STALLED, AML rule types); unset: all.'),
    severities: z.array(severitySchema).optional().describe('Severities taken; unset: all.'),
  })
  .prefault({});
export type AlertMatch = z.infer<typeof alertMatchSchema>;

/** An operator's silence: alerts of a kind, account or wallet are not sent for a period. */
export const silenceSchema = z.object({
  id: z.string().min(1).describe('Silence id; the same id with `--lift` ends it.'),
  /** Every given field must match (an empty matcher is refused: it would silence everything). */
  match: z
    .object({
      kind: z.string().optional().describe('Alert kind, e.g. `MISSING_MINT`.'),
      account: z.string().optional().describe('Bank account id.'),
      wallet: z
        .string()
        .transform((w) => w.toLowerCase())
        .optional()
        .describe('Wallet address (compared lower-cased).'),
    })
    .refine((m) => m.kind !== undefined || m.account !== undefined || m.wallet !== undefined, 'a silence names a kind, an account or a wallet')
    .describe('What is silenced: every given field must match (an empty matcher is refused: it would silence everything).'),
  startsAt: z.coerce.date().optional().describe('Start of the silence; unset: now.'),
  endsAt: z.coerce.date().describe('End of the silence.'),
  createdBy: z.string().min(1).describe('Who silenced.'),
  comment: z.string().min(1).describe('Why.'),
});
export type SilenceInput = z.input<typeof silenceSchema>;
export type Silence = z.infer<typeof silenceSchema>;

const DEFAULT_SEVERITIES: Record<string, AlertSeverity> = {
  MISSING_MINT: 'error',
  MISSING_BURN: 'error',
  MISSING_BANK_CREDIT: 'error',
  MISSING_BANK_DEBIT: 'error',
  AMOUNT_MISMATCH: 'critical',
  CURRENCY_MISMATCH: 'error',
  DUPLICATE: 'critical',
  ORPHAN_CHAIN_EVENT: 'warning',
  ORPHAN_LEDGER_ENTRY: 'warning',
  REVERSAL_AFTER_MATCH: 'critical',
  BALANCE_DRIFT: 'critical',
  FEED_STALLED: 'error',
  PARTIALLY_MATCHED: 'error',
  PROPOSED_MATCH: 'info',
  STATEMENT_BALANCE_MISMATCH: 'critical',
  STATEMENT_SEQUENCE_GAP: 'error',
  STATEMENT_OVERLAP: 'warning',
};

export const alertsConfigSchema = z.object({
  /** Workers publish alert-worthy facts to the outbox stream (off by default: nothing consumes it unless a notifier runs). */
  enabled: z.boolean().default(false).describe('Workers publish alert-worthy facts to the outbox stream (off by default: nothing consumes it unless a notifier runs).'),
  stream: z.string().default('ALERTS').describe('JetStream stream of the alert outbox.'),
  /** Subjects `<prefix>.<source>.<kind>`. */
  subjectPrefix: z.string().default('alerts').describe('Outbox subjects `<prefix>.<source>.<kind>`.'),
  /** JetStream duplicate window of the outbox: a fact re-published within it (redelivery) is stored once. */
  duplicateWindowMs: durationMs(z.number().int().positive())
    .default(15 * 60_000)
    .describe('JetStream duplicate window of the outbox: an alert re-published within it (redelivery) is stored once.'),
  /** Retention of the outbox stream (docs/retention.md): 30 days, publishes refused rather than alerts dropped when full. */
  streamLimits: streamLimitsSchema(DEFAULT_STREAM_LIMITS.alerts).describe('Retention of the outbox stream: 30 days, publishes refused rather than alerts dropped when full (docs/retention.md).'),
  /** Port of the notifier's /metrics and /healthz (on `http.host`); -1 disables. */
  httpPort: z.number().int().min(-1).max(65_535).default(9465).describe("Port of the notifier's `/metrics` and `/healthz` (on `http.host`); -1 disables."),
  /** Durable consumer of the notifier(s). */
  consumerName: z.string().default('notifier').describe('Durable consumer of the notifier(s).'),
  /** Unacked alerts the notifier may hold (grouping holds them until their group is sent). */
  maxAckPending: z.number().int().positive().default(20_000).describe('Unacked alerts the notifier may hold (grouping holds them until their group is sent).'),
  ackWaitMs: durationMs(z.number().int().positive()).default(30_000).describe('Redelivery of an alert after this long without an ack (kept alive while retries run).'),
  /** Silences published by operators (replayed at start, like the mapping stream). */
  silenceStream: z.string().default('ALERT_SILENCES').describe('Stream of silences published by operators (replayed at start, like the mapping stream).'),
  silenceSubject: z.string().default('alert-silences').describe('Subject of the silence stream.'),
  silences: z.array(silenceSchema).default([]).describe('Silences from the configuration (see docs/runbook.md#silence-an-alert).'),
  /** Alert severity per kind (discrepancy kinds, FEED_STALLED); an AML alert's comes from its rule's risk level. */
  severities: z
    .record(z.string(), severitySchema)
    .default(DEFAULT_SEVERITIES)
    .describe("Alert severity per kind (discrepancy kinds, FEED_STALLED); an AML alert's comes from its rule's risk level (low→info, medium→warning, high→error, critical→critical)."),
  /** AML alerts below this severity are not alerts (they stay facts in ClickHouse). */
  amlMinSeverity: severitySchema.default('warning').describe('AML alerts below this severity are not alerts (they stay facts in ClickHouse).'),
  grafana: z
    .object({
      /** e.g. https://grafana.example.com; unset: no links. */
      baseUrl: z.string().url().optional().describe('e.g. `https://grafana.example.com`; unset: no links.'),
      dashboardUid: z.string().default('recon-overview').describe('Dashboard the links open.'),
      panelId: z.number().int().default(11).describe('Panel the links open.'),
    })
    .prefault({})
    .describe('Links from alerts to Grafana.'),
  grouping: z
    .object({
      /** A new group waits this long for more alerts before its first notification. */
      groupWaitMs: durationMs(z.number().int().min(0)).default(30_000).describe('A new group waits this long for more alerts before its first notification.'),
      /** Later alerts of a notified group go out at most this often, together. */
      groupIntervalMs: durationMs(z.number().int().positive())
        .default(5 * 60_000)
        .describe('Later alerts of a notified group go out at most this often, together.'),
      /** A group whose alerts are still open is reminded (Slack) this often. */
      repeatIntervalMs: durationMs(z.number().int().positive())
        .default(4 * 3_600_000)
        .describe('A group whose alerts are still open is reminded (Slack) this often.'),
      /** Alerts listed one by one in a Slack digest. */
      maxListed: z.number().int().positive().max(40).default(10).describe('Alerts listed one by one in a Slack digest.'),
    })
    .prefault({})
    .describe('Grouping by kind + token, as in Alertmanager.'),
  pagerduty: z
    .object({
      url: z.string().url().default('https://events.pagerduty.com/v2/enqueue').describe('Events API endpoint.'),
      /** Default routing key (Events API v2 integration key); routes are tried first. */
      routingKey: secretRefSchema.optional().describe('Default routing key (integration key, 32 characters); routes are tried first.'),
      routes: z
        .array(z.object({ match: alertMatchSchema.describe('Which alerts the route takes; empty: every alert.'), routingKey: secretRefSchema.describe('Routing key of the route (a secret).') }))
        .default([])
        .describe('Routing keys by match (kinds, severities); the first matching route wins.'),
      minSeverity: severitySchema.default('error').describe('Alerts below this severity are not paged.'),
      /** Up to this many alerts of one group notification get an incident each; the rest fold into one group incident. */
      maxIndividualPerGroup: z.number().int().min(0).default(5).describe('Up to this many alerts of one group notification get an incident each; the rest fold into one group incident.'),
      /** Minimum spacing of requests per routing key (PagerDuty also answers 429). */
      minIntervalMs: durationMs(z.number().int().min(0)).default(100).describe('Minimum spacing of requests per routing key (PagerDuty also answers 429).'),
    })
    .prefault({})
    .describe('PagerDuty Events API v2.'),
  slack: z
    .object({
      webhooks: z
        .array(
          z.object({
            name: z
              .string()
              .regex(/^[a-zA-Z0-9_-]+$/)
              .describe('Name of the target in logs and metrics (`slack:<name>`).'),
            url: secretRefSchema.describe('Webhook URL (a secret: `{ env }` or `{ file }`).'),
            match: alertMatchSchema.describe('Which alerts the webhook takes; empty: every alert.'),
          }),
        )
        .default([])
        .describe('Webhooks; each takes the alerts its `match` accepts.'),
      minSeverity: severitySchema.default('warning').describe('Alerts below this severity are not posted.'),
      /** Slack allows about one message per second per webhook. */
      minIntervalMs: durationMs(z.number().int().min(0)).default(1_000).describe('Minimum spacing of requests per webhook (Slack allows about one message per second).'),
    })
    .prefault({})
    .describe('Slack incoming webhooks (Block Kit messages).'),
  retry: z
    .object({
      baseMs: durationMs(z.number().int().positive()).default(500).describe('First backoff.'),
      maxMs: durationMs(z.number().int().positive()).default(60_000).describe('Largest backoff.'),
      /** A request without an answer after this long counts as a timeout (retried). */
      timeoutMs: durationMs(z.number().int().positive()).default(10_000).describe('A request without an answer after this long counts as a timeout (retried).'),
    })
    .prefault({})
    .describe('Retries of 5xx, 429, timeouts and network errors: exponential backoff with full jitter, without end.'),
  circuitBreaker: z
    .object({
      /** Consecutive failures (5xx, timeouts, network) that open a channel's circuit. */
      failureThreshold: z.number().int().positive().default(5).describe("Consecutive failures (5xx, timeouts, network) that open a channel's circuit."),
      /** How long an open circuit fails fast before one probe request. */
      openMs: durationMs(z.number().int().positive()).default(30_000).describe('How long an open circuit fails fast before one probe request.'),
    })
    .prefault({})
    .describe('Per channel circuit breaker.'),
});

export type AlertsConfig = z.infer<typeof alertsConfigSchema>;
