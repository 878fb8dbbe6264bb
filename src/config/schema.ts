import { z } from 'zod';

const address = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x-prefixed 20-byte hex address')
  .transform((a) => a.toLowerCase());

const currencyCode = z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as USD');

export const tokenSchema = z.object({
  chainId: z.number().int().positive(),
  address,
  currency: currencyCode,
  /** First block to backfill from (the contract's deployment block). */
  startBlock: z.coerce.bigint().default(0n),
});

export const chainSchema = z.object({
  chainId: z.number().int().positive(),
  rpcUrls: z.array(z.string().url()).min(1),
  /** Blocks below head - confirmations are used; 0 means every mined block. */
  confirmations: z.number().int().min(0).default(12),
  pollIntervalMs: z.number().int().positive().default(2_000),
  /** Upper bound of one eth_getLogs block range. */
  maxBlockRange: z.number().int().positive().default(2_000),
});

export const accountMappingSchema = z.object({
  accountId: z.string().min(1),
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
  chains: z.array(chainSchema).default([]),
  tokens: z.array(tokenSchema).default([]),
  accounts: z.array(accountMappingSchema).default([]),
  http: z.object({
    host: z.string().default('127.0.0.1'),
    /** 0 picks a free port; -1 disables the metrics/health server. */
    port: z.number().int().min(-1).max(65_535).default(9464),
  }).prefault({}),
  log: z.object({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  }).prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type TokenConfig = Config['tokens'][number];
export type ChainConfig = Config['chains'][number];
