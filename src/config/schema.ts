import { z } from 'zod';
import { alertsConfigSchema } from '../alerts/alertsConfig.js';
import { CURRENCY_EXPONENTS } from '../domain/currencies.js';
import {
  amountBoundProblem,
  DEFAULT_MAX_AMOUNT_MINOR,
  identifierProblem,
  MAX_IDENTIFIER_LENGTH,
  MAX_TEXT_LENGTH,
  preview,
  textProblem,
} from '../domain/inputBounds.js';

/**
 * An identifier in configuration or a control message (account id, rule id, watch-list entry):
 * bounded, well-formed, printable (src/domain/inputBounds.ts); the zod issue names the field.
 */
export const identifierString = (maxLength = MAX_IDENTIFIER_LENGTH) =>
  z.string().superRefine((v, ctx) => {
    const p = identifierProblem(v, maxLength);
    if (p) ctx.addIssue({ code: 'custom', message: `identifier ${p}` });
  });

/** Free text in configuration (descriptions): bounded, well-formed, no control characters. */
export const freeTextString = (maxLength = MAX_TEXT_LENGTH) =>
  z.string().superRefine((v, ctx) => {
    const p = textProblem(v, maxLength);
    if (p) ctx.addIssue({ code: 'custom', message: `text ${p}` });
  });

/**
 * Plausibility bound of one amount, in minor units, per ISO 4217 code or `default` (which
 * applies to every other currency): decimal integer strings (or safe integers), at most 10^18.
 */
export const maxAmountMinorSchema = z
  .record(z.string(), z.union([z.string().regex(/^[1-9][0-9]{0,18}$/, 'must be a positive whole number of minor units, e.g. "1000000000000000"'), z.number().int().positive()]))
  .transform((t) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, BigInt(v)])) as Record<string, bigint>)
  .superRefine((t, ctx) => {
    for (const [code, bound] of Object.entries(t)) {
      if (code !== 'default' && CURRENCY_EXPONENTS[code] === undefined) {
        ctx.addIssue({ code: 'custom', message: `key ${preview(code)} must be 'default' or an ISO 4217 code this engine knows` });
        continue;
      }
      const p = amountBoundProblem(bound);
      if (p) ctx.addIssue({ code: 'custom', path: [code], message: p });
    }
  });

const address = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x-prefixed 20-byte hex address')
  .transform((a) => a.toLowerCase());

const currencyCode = z
  .string()
  .regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as USD')
  .refine((c) => CURRENCY_EXPONENTS[c] !== undefined, 'is not an ISO 4217 code this engine knows (src/domain/currencies.ts)');

export const tokenSchema = z.object({
  chainId: z.number().int().positive(),
  address,
  currency: currencyCode,
  /** First block to backfill from (the contract's deployment block). */
  startBlock: z.coerce.bigint().default(0n),
  /**
   * Events read from this token and what they mean (src/streams/chain/eventMappings.ts). Default:
   * ERC-20 Transfer (mint/burn/transfer by the zero address) plus DepositToken's
   * `Minted(to, amount, ref)` as a reference for the Transfer of the same transaction.
   */
  events: z.array(z.object({
    /** Human-readable ABI, e.g. `event Minted(address indexed to, uint256 amount, bytes32 indexed ref)`. */
    abi: z.string().regex(/^\s*event\s+\w+\s*\(/, 'must be a human-readable event ABI: event Name(...)'),
    /** transfer: classified by the zero address; reference: annotates the Transfer of the same tx. */
    kind: z.enum(['transfer', 'mint', 'burn', 'collateral', 'reference']),
    /** Which event argument is `from`, `to`, `amount` and `reference` (defaults: from, to, amount|value, reference|ref). */
    fields: z.object({
      from: z.string().optional(), to: z.string().optional(), amount: z.string().optional(), reference: z.string().optional(),
    }).default({}),
  })).min(1).optional(),
});

/** Which blocks count as final: `head - confirmations`, or the node's `finalized`/`safe` block. */
export const finalitySchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('depth'), confirmations: z.number().int().min(0) }),
  z.object({ mode: z.literal('tag'), tag: z.enum(['finalized', 'safe']) }),
]);

export const chainSchema = z.object({
  chainId: z.number().int().positive(),
  rpcUrls: z.array(z.string().url()).min(1),
  /** ws:// endpoints whose `newHeads` subscription wakes the poller at once (the pushed data is never used; polling goes on regardless). */
  wsUrls: z.array(z.string().url()).default([]),
  /** Blocks below head - confirmations are used; 0 means every mined block. */
  confirmations: z.number().int().min(0).default(12),
  pollIntervalMs: z.number().int().positive().default(2_000),
  /** Upper bound of one eth_getLogs block range. */
  maxBlockRange: z.number().int().positive().default(2_000),
  /** Backfill ranges read ahead of the one being published (hides a remote RPC's latency; each holds up to maxBlockRange blocks of logs). */
  readAhead: z.number().int().min(0).max(32).default(3),
  /** Overrides `confirmations` when set. */
  finality: finalitySchema.optional(),
  /** Within this many blocks of the final head, follow block by block (hash-linked); further back, backfill by ranges (0: ranges only). */
  tipBlocks: z.number().int().min(0).default(64),
  /** Processed blocks whose hash (and event ids) are kept in Redis for reorg detection. */
  reorgHistory: z.number().int().positive().default(1_024),
  /** No new head for this long raises a stall (log, `.stall` message, gauge). */
  stallTimeoutMs: z.number().int().positive().default(60_000),
  /** Per RPC call; then up to `rpcRetries` retries with jittered exponential backoff. */
  rpcTimeoutMs: z.number().int().positive().default(10_000),
  rpcRetries: z.number().int().min(0).default(4),
});

export const accountMappingSchema = z.object({
  accountId: identifierString(),
  wallets: z.array(address).default([]),
});

export const configSchema = z.object({
  /** Name of this deployment; prefixes its Redis keys (stream names are set under `nats`), so tests and tenants can share servers. */
  namespace: z.string().regex(/^[a-zA-Z0-9_-]+$/).default('recon'),
  workerId: z.string().default(() => `worker-${process.pid}`),
  nats: z.object({
    servers: z.array(z.string()).min(1).default(['127.0.0.1:4222']),
    /** Stream names and their subjects (each set on its own: ledger.>, chain.>, mapping.accounts, deadletter.>). */
    ledgerStream: z.string().default('LEDGER'),
    ledgerSubjects: z.array(z.string()).default(['ledger.>']),
    chainStream: z.string().default('CHAIN'),
    chainSubjectPrefix: z.string().default('chain'),
    mappingStream: z.string().default('MAPPINGS'),
    mappingSubject: z.string().default('mapping.accounts'),
    deadLetterStream: z.string().default('DEADLETTER'),
    deadLetterSubjectPrefix: z.string().default('deadletter'),
    consumerName: z.string().default('recon-matcher'),
    /** In-flight (unacked) messages per consumer: the backpressure valve. */
    maxAckPending: z.number().int().positive().default(4_000),
    ackWaitMs: z.number().int().positive().default(60_000),
    /** Messages pulled per batch request. */
    pullBatch: z.number().int().positive().default(500),
  }).prefault({}),
  redis: z.object({
    url: z.string().default('redis://127.0.0.1:6379'),
  }).prefault({}),
  clickhouse: z.object({
    /** When set, talk HTTP to this ClickHouse server; otherwise embedded chdb at `dataDir`. */
    url: z.string().url().optional(),
    username: z.string().default('default'),
    password: z.string().default(''),
    database: z.string().regex(/^[a-zA-Z0-9_]+$/).default('recon'),
    dataDir: z.string().default('.data/chdb'),
  }).prefault({}),
  matching: z.object({
    /** A leg waits this long (event time) for its counterpart before a discrepancy is raised. */
    windowMs: z.number().int().positive().default(30 * 60_000),
    /** Out-of-orderness tolerated on the bank feed before its watermark passes an event time. */
    allowedLatenessMs: z.number().int().min(0).default(5 * 60_000),
    /** How long an expired leg stays matchable, so a late counterpart resolves its discrepancy. */
    lateRetentionMs: z.number().int().positive().default(7 * 24 * 3_600_000),
    /** When the bank feed is silent this long (wall clock), its watermark follows the wall clock. */
    ledgerIdleMs: z.number().int().positive().default(60_000),
    /** A source (bank feed, chain progress) silent this long on the wall clock opens FEED_STALLED. */
    feedStallMs: z.number().int().positive().default(5 * 60_000),
    sweepIntervalMs: z.number().int().positive().default(1_000),
    /** What to do with an entry or event whose identity is not mapped. */
    unmappedPolicy: z.enum(['discrepancy', 'reject']).default('discrepancy'),
  }).prefault({}),
  balances: z.object({
    intervalMs: z.number().int().positive().default(60_000),
    /** Debounce after a change before a balance check runs. */
    onChangeDebounceMs: z.number().int().positive().default(2_000),
    /** Unexplained drift tolerated, in token base units. */
    toleranceBase: z.coerce.bigint().default(0n),
    /** Drift must persist this long before it is a discrepancy. */
    driftGraceMs: z.number().int().min(0).default(5 * 60_000),
  }).prefault({}),
  sink: z.object({
    maxBatchRows: z.number().int().positive().default(5_000),
    maxBatchDelayMs: z.number().int().positive().default(200),
  }).prefault({}),
  /** Validation at the door (src/domain/inputBounds.ts). */
  limits: z.object({
    /**
     * Largest plausible single amount per currency, minor units: `{ default: '1000000000000000',
     * JPY: '…' }`. A posting above it is a dead letter naming amountMinor. Never above 10^18, so
     * one amount always fits the int64 Redis sums in.
     */
    maxAmountMinor: maxAmountMinorSchema.default({ default: DEFAULT_MAX_AMOUNT_MINOR }),
  }).prefault({}),
  chains: z.array(chainSchema).default([]),
  tokens: z.array(tokenSchema).default([]),
  accounts: z.array(accountMappingSchema).default([]),
  http: z.object({
    host: z.string().default('127.0.0.1'),
    /** 0 picks a free port; -1 disables the metrics/health server. */
    port: z.number().int().min(-1).max(65_535).default(9464),
  }).prefault({}),
  /** AML pattern rules on the live stream (src/aml). */
  aml: z.object({
    /** Off by default: a worker then records and matches only. */
    enabled: z.boolean().default(false),
    /** Versioned rule file (YAML or JSON), validated at start and on every reload. */
    rulesFile: z.string().default('config/aml-rules.yaml'),
    /** Watch-listed addresses/accounts, one a line (or a YAML list); re-read when it changes. */
    watchlistFile: z.string().optional(),
    /** A message here makes every worker re-read the rule file now. */
    reloadSubject: z.string().default('aml.rules.reload'),
    /** Watch-list updates: JSON {"add"|"remove"|"replace": [...]}. */
    watchlistSubject: z.string().default('aml.watchlist'),
    /** How often the rule and watch-list files are checked for changes. */
    pollIntervalMs: z.number().int().positive().default(2_000),
    /** aml_alerts facts at or above this severity are meant for the alert outbox too. */
    outboxSeverity: z.enum(['low', 'medium', 'high', 'critical']).default('high'),
    /** Wall-clock lifetime of AML state in Redis (windows, day activity, applied event ids). */
    stateTtlMs: z.number().int().positive().default(400 * 86_400_000),
  }).prefault({}),
  /** Alert outbox and notifier (PagerDuty, Slack): see src/alerts/alertsConfig.ts. */
  alerts: alertsConfigSchema.prefault({}),
  log: z.object({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Pseudonymise account identifiers (account ids, wallets) in log lines with a keyed hash. */
    redactAccounts: z.boolean().default(false),
    /** Extra pino redaction paths (e.g. `req.headers.cookie`); secrets are always redacted. */
    redactPaths: z.array(z.string()).default([]),
  }).prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type TokenConfig = Config['tokens'][number];
export type ChainConfig = Config['chains'][number];
