import { z } from 'zod';
import { DEFAULT_STREAM_LIMITS, streamLimitsSchema } from '../config/streamLimits.js';

/**
 * The `alerts` section of the configuration: the outbox stream the workers publish alert-worthy
 * facts to, and the notifier that delivers them to PagerDuty and Slack. Secrets (routing keys,
 * webhook URLs) are references — `{ env: NAME }` or `{ file: /path }` — resolved and validated when
 * the notifier starts (`resolveAlertSecrets`); an inline string is accepted but discouraged.
 */

export const SEVERITIES = ['critical', 'error', 'warning', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];
export const severitySchema = z.enum(SEVERITIES);

/** Where a secret comes from. Never logged: `check-config` prints references, not values. */
export const secretRefSchema = z.union([
  z.string().min(1),
  z.object({ env: z.string().min(1) }).strict(),
  z.object({ file: z.string().min(1) }).strict(),
]);
export type SecretRef = z.infer<typeof secretRefSchema>;

/** Which alerts a route or webhook takes; an empty matcher takes every alert. */
export const alertMatchSchema = z.object({
  kinds: z.array(z.string()).optional(),
  severities: z.array(severitySchema).optional(),
}).prefault({});
export type AlertMatch = z.infer<typeof alertMatchSchema>;

/** An operator's silence: alerts of a kind, account or wallet are not sent for a period. */
export const silenceSchema = z.object({
  id: z.string().min(1),
  /** Every given field must match (an empty matcher is refused: it would silence everything). */
  match: z.object({
    kind: z.string().optional(),
    account: z.string().optional(),
    wallet: z.string().transform((w) => w.toLowerCase()).optional(),
  }).refine((m) => m.kind !== undefined || m.account !== undefined || m.wallet !== undefined, 'a silence names a kind, an account or a wallet'),
  startsAt: z.coerce.date().optional(),
  endsAt: z.coerce.date(),
  createdBy: z.string().min(1),
  comment: z.string().min(1),
});
export type SilenceInput = z.input<typeof silenceSchema>;
export type Silence = z.infer<typeof silenceSchema>;

const DEFAULT_SEVERITIES: Record<string, Severity> = {
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
};

export const alertsConfigSchema = z.object({
  /** Workers publish alert-worthy facts to the outbox stream (off by default: nothing consumes it unless a notifier runs). */
  enabled: z.boolean().default(false),
  stream: z.string().default('ALERTS'),
  /** Subjects `<prefix>.<source>.<kind>`. */
  subjectPrefix: z.string().default('alerts'),
  /** JetStream duplicate window of the outbox: a fact re-published within it (redelivery) is stored once. */
  duplicateWindowMs: z.number().int().positive().default(15 * 60_000),
  /** Retention of the outbox stream (docs/retention.md): 30 days, publishes refused rather than alerts dropped when full. */
  streamLimits: streamLimitsSchema(DEFAULT_STREAM_LIMITS.alerts),
  /** Port of the notifier's /metrics and /healthz (on `http.host`); -1 disables. */
  httpPort: z.number().int().min(-1).max(65_535).default(9465),
  /** Durable consumer of the notifier(s). */
  consumerName: z.string().default('notifier'),
  /** Unacked alerts the notifier may hold (grouping holds them until their group is sent). */
  maxAckPending: z.number().int().positive().default(20_000),
  ackWaitMs: z.number().int().positive().default(30_000),
  /** Silences published by operators (replayed at start, like the mapping stream). */
  silenceStream: z.string().default('ALERT_SILENCES'),
  silenceSubject: z.string().default('alert-silences'),
  silences: z.array(silenceSchema).default([]),
  /** Severity per kind (discrepancy kinds, FEED_STALLED); AML alerts carry their own. */
  severities: z.record(z.string(), severitySchema).default(DEFAULT_SEVERITIES),
  /** AML alerts below this severity are not alerts (they stay facts in ClickHouse). */
  amlMinSeverity: severitySchema.default('warning'),
  grafana: z.object({
    /** e.g. https://grafana.example.com; unset: no links. */
    baseUrl: z.string().url().optional(),
    dashboardUid: z.string().default('recon-overview'),
    panelId: z.number().int().default(11),
  }).prefault({}),
  grouping: z.object({
    /** A new group waits this long for more alerts before its first notification. */
    groupWaitMs: z.number().int().min(0).default(30_000),
    /** Later alerts of a notified group go out at most this often, together. */
    groupIntervalMs: z.number().int().positive().default(5 * 60_000),
    /** A group whose alerts are still open is reminded (Slack) this often. */
    repeatIntervalMs: z.number().int().positive().default(4 * 3_600_000),
    /** Alerts listed one by one in a Slack digest. */
    maxListed: z.number().int().positive().max(40).default(10),
  }).prefault({}),
  pagerduty: z.object({
    url: z.string().url().default('https://events.pagerduty.com/v2/enqueue'),
    /** Default routing key (Events API v2 integration key); routes are tried first. */
    routingKey: secretRefSchema.optional(),
    routes: z.array(z.object({ match: alertMatchSchema, routingKey: secretRefSchema })).default([]),
    minSeverity: severitySchema.default('error'),
    /** Up to this many alerts of one group notification get an incident each; the rest fold into one group incident. */
    maxIndividualPerGroup: z.number().int().min(0).default(5),
    /** Minimum spacing of requests per routing key (PagerDuty also answers 429). */
    minIntervalMs: z.number().int().min(0).default(100),
  }).prefault({}),
  slack: z.object({
    webhooks: z.array(z.object({
      name: z.string().regex(/^[a-zA-Z0-9_-]+$/),
      url: secretRefSchema,
      match: alertMatchSchema,
    })).default([]),
    minSeverity: severitySchema.default('warning'),
    /** Slack allows about one message per second per webhook. */
    minIntervalMs: z.number().int().min(0).default(1_000),
  }).prefault({}),
  retry: z.object({
    baseMs: z.number().int().positive().default(500),
    maxMs: z.number().int().positive().default(60_000),
    /** A request without an answer after this long counts as a timeout (retried). */
    timeoutMs: z.number().int().positive().default(10_000),
  }).prefault({}),
  circuitBreaker: z.object({
    /** Consecutive failures (5xx, timeouts, network) that open a channel's circuit. */
    failureThreshold: z.number().int().positive().default(5),
    /** How long an open circuit fails fast before one probe request. */
    openMs: z.number().int().positive().default(30_000),
  }).prefault({}),
});

export type AlertsConfig = z.infer<typeof alertsConfigSchema>;
