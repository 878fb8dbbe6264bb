import { z } from 'zod';
import { alertsConfigSchema } from '../alerts/alertsConfig.js';
import { casesConfigSchema } from '../cases/casesConfig.js';
import { camtConfigSchema } from '../iso20022/camtConfig.js';
import { DEFAULT_STREAM_LIMITS, streamLimitsSchema } from './streamLimits.js';
import { CURRENCY_EXPONENTS } from '../domain/currencies.js';
import { amountBoundProblem, DEFAULT_MAX_AMOUNT_MINOR, identifierProblem, MAX_IDENTIFIER_LENGTH, MAX_TEXT_LENGTH, preview, textProblem } from '../domain/inputBounds.js';
import { SEGMENT_PATTERN } from '../domain/identityMap.js';

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
  .record(z.string(), z.union([z.string().regex(/^[1-9][0-9]{0,18}$/, 'must be a positive whole number of minor units, e.g. "1000000000000000"'), z.number().int().positive(), z.bigint().positive()]))
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
import { natsAuthSchema, natsTlsSchema, redisSecuritySchema } from './connectionSecurity.js';
import { durationMs } from './duration.js';

const address = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x-prefixed 20-byte hex address')
  .transform((a) => a.toLowerCase());

const currencyCode = z
  .string()
  .regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as USD')
  .refine((c) => CURRENCY_EXPONENTS[c] !== undefined, 'is not an ISO 4217 code this engine knows (src/domain/currencies.ts)');

export const tokenSchema = z.object({
  chainId: z.number().int().positive().describe('Chain id of the token contract (one of `chains[].chainId`).'),
  address: address.describe('0x-prefixed 20-byte contract address (stored lower-cased).'),
  currency: currencyCode.describe('ISO 4217 code of the currency this token represents, e.g. `USD`.'),
  /** First block to backfill from (the contract's deployment block). */
  startBlock: z.coerce.bigint().default(0n).describe("First block to backfill from (the contract's deployment block)."),
  /**
   * Events read from this token and what they mean (src/streams/chain/eventMappings.ts). Default:
   * ERC-20 Transfer (mint/burn/transfer by the zero address) plus DepositToken's
   * `Minted(to, amount, ref)` as a reference for the Transfer of the same transaction.
   */
  events: z
    .array(
      z.object({
        /** Human-readable ABI, e.g. `event Minted(address indexed to, uint256 amount, bytes32 indexed ref)`. */
        abi: z
          .string()
          .regex(/^\s*event\s+\w+\s*\(/, 'must be a human-readable event ABI: event Name(...)')
          .describe('Human-readable event ABI, e.g. `event Minted(address indexed to, uint256 amount, bytes32 indexed ref)`.'),
        /** transfer: classified by the zero address; reference: annotates the Transfer of the same tx. */
        kind: z
          .enum(['transfer', 'mint', 'burn', 'collateral', 'reference'])
          .describe(
            '`transfer` (classified by the zero address), `mint`, `burn`, `collateral` (recorded, never matched) or `reference` (gives its reference to the event of the same transaction that agrees on the fields it carries).',
          ),
        /** Which event argument is `from`, `to`, `amount` and `reference` (defaults: from, to, amount|value, reference|ref). */
        fields: z
          .object({
            from: z.string().optional(),
            to: z.string().optional(),
            amount: z.string().optional(),
            reference: z.string().optional(),
          })
          .default({})
          .describe('Which event argument is `from`, `to`, `amount` and `reference` (defaults: from, to, amount or value, reference or ref).'),
      }),
    )
    .min(1)
    .optional()
    .describe(
      "Events read from this token and what they mean (see docs/chain-ingestion.md). Unset: ERC-20 `Transfer` (mint/burn/transfer by the zero address) plus DepositToken's `Minted(to, amount, ref)` as the reference of the Transfer of the same transaction.",
    ),
});

/** Which blocks count as final: `head - confirmations`, or the node's `finalized`/`safe` block. */
export const finalitySchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('depth'), confirmations: z.number().int().min(0) }),
  z.object({ mode: z.literal('tag'), tag: z.enum(['finalized', 'safe']) }),
]);

export const chainSchema = z.object({
  chainId: z.number().int().positive().describe('EVM chain id.'),
  rpcUrls: z.array(z.string().url()).min(1).describe('JSON-RPC endpoints; several URLs fail over per request.'),
  /** ws:// endpoints whose `newHeads` subscription wakes the poller at once (the pushed data is never used; polling goes on regardless). */
  wsUrls: z.array(z.string().url()).default([]).describe('Websocket endpoints whose `newHeads` subscription only wakes the poller early (the pushed data is never used; polling goes on regardless).'),
  /** Blocks below head - confirmations are used; 0 means every mined block. */
  confirmations: z.number().int().min(0).default(12).describe('Only blocks at or below head - confirmations feed matching; 0 means every mined block.'),
  pollIntervalMs: durationMs(z.number().int().positive()).default(2_000).describe('Polling interval of the ingester.'),
  /** Upper bound of one eth_getLogs block range. */
  maxBlockRange: z.number().int().positive().default(2_000).describe('Upper bound of one `eth_getLogs` block range (halved when the provider refuses, grown back after successes).'),
  /** Backfill ranges read ahead of the one being published (hides a remote RPC's latency; each holds up to maxBlockRange blocks of logs). */
  readAhead: z.number().int().min(0).max(32).default(3).describe("Backfill ranges read ahead of the one being published (hides a remote RPC's latency; about 8 for an RPC tens of ms away)."),
  /** Overrides `confirmations` when set. */
  finality: finalitySchema.optional().describe('Overrides `confirmations` when set: `{ mode: depth, confirmations }` or `{ mode: tag, tag: finalized | safe }`.'),
  /** Within this many blocks of the final head, follow block by block (hash-linked); further back, backfill by ranges (0: ranges only). */
  tipBlocks: z.number().int().min(0).default(64).describe('Within this many blocks of the final head, follow block by block (hash-linked); further back, backfill by ranges (0: ranges only).'),
  /** Processed blocks whose hash (and event ids) are kept in Redis for reorg detection. */
  reorgHistory: z.number().int().positive().default(1_024).describe('Processed blocks whose hash, parent hash and event ids are kept in Redis for reorg detection.'),
  /** No new head for this long raises a stall (log, `.stall` message, gauge). */
  stallTimeoutMs: durationMs(z.number().int().positive()).default(60_000).describe('No new head for this long raises a stall (log, `.stall` message, `recon_chain_stalled` gauge).'),
  /** Per RPC call; then up to `rpcRetries` retries with jittered exponential backoff. */
  rpcTimeoutMs: durationMs(z.number().int().positive()).default(10_000).describe('Timeout of one RPC call; then up to `rpcRetries` retries with jittered exponential backoff.'),
  rpcRetries: z.number().int().min(0).default(4).describe('Retries of a failed RPC call (timeouts, 429, 5xx, dropped connections).'),
});

export const accountMappingSchema = z.object({
  accountId: identifierString().describe('Bank account id.'),
  wallets: z.array(address).default([]).describe('Its wallets; a wallet belongs to one account.'),
  segment: z
    .string()
    .regex(SEGMENT_PATTERN, 'must be lower-case letters, digits, . _ - (at most 64)')
    .optional()
    .describe('Peer segment of the customer (`retail`, `sme`, `corporate`…) for the AML segment rules; absent: `default`.'),
});

/**
 * How long a batch waits for more messages when `sink.maxBatchDelayMs` is unset, by `sink.mode`
 * (measured: docs/performance.md#the-sink-modes-defaults-measured-2026-12-06).
 */
export const DEFAULT_BATCH_DELAY_MS = { log: 50, direct: 200 } as const;

export const configSchema = z
  .object({
    /** Name of this deployment; prefixes its Redis keys (stream names are set under `nats`), so tests and tenants can share servers. */
    namespace: z
      .string()
      .regex(/^[a-zA-Z0-9_-]+$/)
      .default('recon')
      .describe('Name of the deployment; prefixes Redis keys (stream names are set under `nats`), so tests and tenants can share servers.'),
    workerId: z
      .string()
      .default(() => `worker-${process.pid}`)
      .describe('Unique per process: NATS connection name, chain leader-lease holder.'),
    nats: z
      .object({
        servers: z.array(z.string()).min(1).default(['127.0.0.1:4222']).describe('NATS servers (`NATS_URL`, comma-separated, overrides).'),
        /** Credentials of this process's NATS user (docs/security.md); none: anonymous (local development only). */
        auth: natsAuthSchema.optional().describe("Credentials of this process's NATS user: one of user/password, token, credsFile, nkeySeedFile (docs/security.md); unset: anonymous."),
        /** TLS to the NATS servers (a `tls://` server URL requires it too). */
        tls: natsTlsSchema.optional().describe('TLS to the NATS servers: CA, client certificate and key, handshake first.'),
        /** Prefix of this process's reply inboxes (default `_INBOX`); deploy/nats/nats.conf gives each user its own. */
        inboxPrefix: z
          .string()
          .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only')
          .optional()
          .describe("Prefix of this process's reply inboxes (default `_INBOX`); each user of deploy/nats/nats.conf has its own (`NATS_INBOX_PREFIX` overrides)."),
        /** Stream names and their subjects (each set on its own: ledger.>, chain.>, mapping.accounts, deadletter.>). */
        ledgerStream: z.string().default('LEDGER').describe('Stream of bank postings (Avro, header `Recon-Schema: ledger-posting/<N>`).'),
        ledgerSubjects: z.array(z.string()).default(['ledger.>']).describe('Subjects of the ledger stream.'),
        chainStream: z.string().default('CHAIN').describe('Stream of confirmed chain events written by the ingester.'),
        chainSubjectPrefix: z.string().default('chain').describe('Chain subjects: `<prefix>.<chainId>.events`, `.progress`, `.retract`, `.stall`.'),
        mappingStream: z.string().default('MAPPINGS').describe('Stream of account-wallet mapping updates (every worker replays it at start).'),
        mappingSubject: z.string().default('mapping.accounts').describe('Subject of the mapping updates; each message replaces the wallets of one account.'),
        deadLetterStream: z.string().default('DEADLETTER').describe('Stream of dead letters (bad input, with its reason).'),
        deadLetterSubjectPrefix: z.string().default('deadletter').describe('Dead letters go to `<prefix>.<source>`.'),
        consumerName: z.string().default('recon-matcher').describe('Durable pull consumer shared by every worker (scale out = more workers, same name).'),
        /** In-flight (unacked) messages per consumer: the backpressure valve. */
        maxAckPending: z.number().int().positive().default(4_000).describe('Unacked messages per consumer: the backpressure valve.'),
        ackWaitMs: durationMs(z.number().int().positive()).default(60_000).describe('Redelivery after this long without an ack.'),
        /**
         * Copies of every stream the engine creates (LEDGER, CHAIN, MAPPINGS, DEADLETTER, the alert
         * streams) on a clustered JetStream: 3 survives one server down. At most the cluster's size.
         */
        replicas: z.number().int().min(1).max(5).default(1).describe('Replicas of every stream the engine creates on a clustered JetStream (3 survives a server down); 1 on a single server.'),
        pullExpiresMs: durationMs(z.number().int().min(1_000).max(30_000))
          .default(5_000)
          .describe(
            "How long one pull request waits; the server's heartbeats come at half of it and two missed ones make the worker pull again, so after the loss of the server leading a consumer, consuming resumes within about this long.",
          ),
        /**
         * How long a message that arrives alone waits for others before the message stage, so that
         * their Redis calls share one pipeline and one script call (src/operators/gatherArrivals.ts).
         */
        gatherMs: durationMs(z.number().int().min(0).max(100))
          .default(5)
          .describe(
            'How long a message that arrives alone waits for others before matching, so that their Redis calls share round trips (at 1,000 events/s it cuts the CPU per message; it adds at most this much to the latency). 0: no wait.',
          ),
        /** Messages pulled per batch request. */
        pullBatch: z.number().int().positive().default(500).describe('Messages per pull request.'),
        /**
         * Deliveries after which a message that keeps failing while others go through is dead-lettered
         * with its last error (docs/failures.md). An outage (nothing goes through) never dead-letters.
         */
        maxDeliveries: z
          .number()
          .int()
          .min(2)
          .max(100)
          .default(5)
          .describe(
            'Deliveries after which a message that keeps failing while others go through is dead-lettered with its last error (`POISON_MESSAGE`); an outage never dead-letters (docs/failures.md).',
          ),
        /** Redelivery delay after a failure: `min` doubling per delivery up to `max` (ms). */
        redeliveryDelayMs: z
          .object({
            min: z.number().int().min(10).default(1_000).describe('First redelivery delay after a failure.'),
            max: z.number().int().min(10).default(30_000).describe('Longest redelivery delay (the delay doubles per delivery up to it).'),
          })
          .prefault({})
          .refine((d) => d.max >= d.min, { message: 'max must be at least min', path: ['max'] })
          .describe('Redelivery delay after a failure: `min` doubling per delivery up to `max`.'),
        /**
         * Partitioned streams (src/streams/partitions.ts): the ledger and chain streams split into
         * `count` streams, each worker consuming the `assigned` ones (default: all).
         */
        partitions: z
          .object({
            count: z
              .number()
              .int()
              .min(1)
              .max(64)
              .default(1)
              .describe('Partitions of the ledger and chain streams: 1 keeps one stream each; N makes `<stream>_P0` … `_P<N-1>` (docs/deployment.md#partitioned-streams).'),
            assigned: z
              .array(z.number().int().min(0))
              .min(1)
              .optional()
              .describe('Partitions this worker consumes (`NATS_PARTITIONS`, comma-separated, overrides); unset: all. Every partition needs a worker.'),
          })
          .prefault({})
          .refine((p) => (p.assigned ?? []).every((a) => a < p.count), { message: 'every assigned partition must be below count', path: ['assigned'] })
          .describe('Partitioned streams: the ledger and chain streams split into `count` streams, this worker bound to `assigned`.'),
        /** Retention of each stream (max age, bytes, messages; docs/retention.md). */
        limits: z
          .object({
            ledger: streamLimitsSchema(DEFAULT_STREAM_LIMITS.ledger).describe('Retention of the ledger stream.'),
            chain: streamLimitsSchema(DEFAULT_STREAM_LIMITS.chain).describe('Retention of the chain stream.'),
            mappings: streamLimitsSchema(DEFAULT_STREAM_LIMITS.mappings).describe('Retention of the mapping stream (every message is kept: replaying the history rebuilds the map).'),
            deadLetter: streamLimitsSchema(DEFAULT_STREAM_LIMITS.deadLetter).describe('Retention of the dead-letter stream.'),
          })
          .prefault({})
          .describe('Retention of each stream: max age, bytes, messages, discard policy (docs/retention.md).'),
      })
      .prefault({})
      .refine((n) => n.partitions.count === 1 || n.ledgerSubjects.every((f) => /^[^*>]+\.>$/.test(f)), {
        message: 'with partitions, every ledger subject must be a stem followed by .> (the partition goes after the stem)',
        path: ['ledgerSubjects'],
      })
      .describe('NATS JetStream: servers, streams, the durable consumer.'),
    redis: z
      .object({
        url: z.string().default('redis://127.0.0.1:6379').describe('`redis://host:port[/db]`, `rediss://` for TLS (`REDIS_URL` overrides).'),
        clusterNodes: z
          .array(z.string().regex(/^rediss?:\/\/[^/\s]+$/, 'a redis://host:port (or rediss://) URL'))
          .default([])
          .describe('Redis Cluster: seed nodes as `redis://host:port`; when set, `url` is not used and the engine talks to the cluster (state of one kind shares a hash tag: docs/deployment.md).'),
        waitReplicas: z
          .number()
          .int()
          .min(0)
          .max(5)
          .default(0)
          .describe(
            'Before a batch is acked, wait until this many replicas of every master hold its state writes (Redis WAIT); 0 does not wait. A master that dies before replicating then loses nothing acknowledged (docs/failures.md).',
          ),
        waitTimeoutMs: durationMs(z.number().int().positive()).default(1_000).describe('How long one WAIT may take; fewer replicas in time and the batch is retried, its messages unacked.'),
        shards: z
          .number()
          .int()
          .min(1)
          .max(1024)
          .default(1)
          .describe(
            'Shards of the match state and of the AML windows, each under a hash tag of its own (`{m0}`…, `{aml0}`…) so Redis Cluster spreads matching and the transfer graph over its masters; 1 keeps the single `{m}` and `{aml}` tags. Changing it on an existing deployment needs `migrateShards` (docs/runbook.md#sharded-state).',
          ),
        shardKey: z
          .enum(['account', 'reference'])
          .default('account')
          .describe(
            "What a leg's shard is derived from: `account` (the account both legs resolve to: every account-scoped rule works, a reference pair across accounts such as an omnibus batch mint is not found) or `reference` (a leg's reference when it has one, else its account: omnibus batches are found, an account pair of a leg with a reference and one without is not). docs/architecture.md#sharded-state.",
          ),
        migrateShards: z
          .boolean()
          .default(false)
          .describe(
            'Allow a start with `shards` different from the count stored in Redis: the match state of the old layout is deleted and rebuilt from the facts in ClickHouse (docs/runbook.md#sharded-state). Without it such a start is refused.',
          ),
        /** ACL user, password (`{ env }`/`{ file }` preferred) and TLS (also on for `rediss://` URLs): docs/security.md. */
        ...redisSecuritySchema,
      })
      .prefault({})
      .describe('Redis holding windows, watermarks, leases and checkpoints.'),
    clickhouse: z
      .object({
        /** When set, talk HTTP to this ClickHouse server; otherwise embedded chdb at `dataDir`. */
        url: z.string().url().optional().describe('ClickHouse HTTP URL; unset means embedded chdb at `dataDir` (`CLICKHOUSE_URL` overrides).'),
        username: z.string().default('default').describe('ClickHouse user (`CLICKHOUSE_USER` overrides).'),
        password: z.string().default('').describe('ClickHouse password; set `CLICKHOUSE_PASSWORD` instead of writing it here.'),
        database: z
          .string()
          .regex(/^[a-zA-Z0-9_]+$/)
          .default('recon')
          .describe('Database of the fact tables (created and migrated at start).'),
        dataDir: z.string().default('.data/chdb').describe('Embedded chdb data directory, one per process (`CHDB_PATH` overrides).'),
        /** Unset: single-node tables (today's DDL). Set: replicated local tables behind Distributed ones, ON CLUSTER. */
        cluster: z
          .object({
            name: z
              .string()
              .regex(/^[a-zA-Z0-9_]+$/)
              .describe("Cluster name from the servers' `remote_servers`; every migration runs `ON CLUSTER <name>`."),
            replicaPath: z
              .string()
              .regex(/^[^'\\]+$/)
              .refine((p) => p.includes('{shard}') && (p.includes('{table}') || p.includes('{uuid}')), 'must contain {shard} and {table} (or {uuid})')
              .default('/clickhouse/tables/{shard}/{database}/{table}')
              .describe(
                'ClickHouse Keeper path of each `Replicated*` local table (`{shard}`, `{database}`, `{table}`, `{uuid}` are server macros); `schema_migrations` uses it with `{shard}` = `all`.',
              ),
            replicaName: z
              .string()
              .regex(/^[^'\\]+$/)
              .default('{replica}')
              .describe('Replica name in that path; `{replica}` is the server macro (unique within a shard).'),
          })
          .optional()
          .describe(
            'ClickHouse cluster: fact tables become `Replicated*` `<table>_local` tables with a `Distributed` table under the original name, sharded by fact id; inserts wait for every shard (docs/deployment.md). Unset: single node.',
          ),
      })
      // Embedded chdb is one process's private store: there is no cluster to create tables on.
      .refine((c) => c.cluster === undefined || c.url !== undefined, { message: 'clickhouse.cluster needs clickhouse.url (a server of that cluster)', path: ['cluster'] })
      .prefault({})
      .describe('Where facts are written: embedded chdb, or a ClickHouse server over HTTP.'),
    matching: z
      .object({
        /** A leg waits this long (event time) for its counterpart before a discrepancy is raised. */
        windowMs: durationMs(z.number().int().positive())
          .default(30 * 60_000)
          .describe('A leg waits this long, in event time, for its counterpart before a discrepancy opens (30 min).'),
        /** Out-of-orderness tolerated on the bank feed before its watermark passes an event time. */
        allowedLatenessMs: durationMs(z.number().int().min(0))
          .default(5 * 60_000)
          .describe('Out-of-orderness tolerated on the bank feed before its watermark passes an event time (5 min).'),
        /** How long an expired leg stays matchable, so a late counterpart resolves its discrepancy. */
        lateRetentionMs: durationMs(z.number().int().positive())
          .default(7 * 24 * 3_600_000)
          .describe('How long an expired leg stays matchable, so a late counterpart resolves its discrepancy (7 days).'),
        /** When the bank feed is silent this long (wall clock), its watermark follows the wall clock. */
        ledgerIdleMs: durationMs(z.number().int().positive())
          .default(60_000)
          .describe('When the bank feed has been silent this long (wall clock) and a worker found nothing pending on it within as long, its watermark follows the wall clock.'),
        /** A source (bank feed, chain progress) silent this long on the wall clock opens FEED_STALLED. */
        feedStallMs: durationMs(z.number().int().positive())
          .default(5 * 60_000)
          .describe('A source (bank feed, chain progress) silent this long on the wall clock opens FEED_STALLED (5 min).'),
        sweepIntervalMs: durationMs(z.number().int().positive()).default(1_000).describe('How often expired windows are swept.'),
        /** What to do with an entry or event whose identity is not mapped. */
        unmappedPolicy: z.enum(['discrepancy', 'reject']).default('discrepancy').describe('Unmapped account or wallet: `discrepancy` (ORPHAN_*) or `reject` (dead letter `UNMAPPED_IDENTITY`).'),
        /** The matching rule cascade (src/matching/ruleFile.ts); absent: the shared reference, then account + exact amount. */
        rulesFile: z
          .string()
          .optional()
          .describe('Versioned matching rule file (YAML or JSON; see docs/matching-rules.md), validated at start and on every reload; absent: reference, then account + exact amount.'),
        rulesReloadSubject: z.string().default('matching.rules.reload').describe('A message here makes every worker re-read the matching rule file now.'),
        rulesPollIntervalMs: durationMs(z.number().int().positive()).default(2_000).describe('How often the matching rule file is checked for changes.'),
      })
      .prefault({})
      .describe('Event-time windows of the matcher.'),
    balances: z
      .object({
        intervalMs: durationMs(z.number().int().positive()).default(60_000).describe('Scheduled balance check.'),
        /** Debounce after a change before a balance check runs. */
        onChangeDebounceMs: durationMs(z.number().int().positive()).default(2_000).describe('A check also runs this long after new ledger or chain facts.'),
        /** Unexplained drift tolerated, in token base units. */
        toleranceBase: z.coerce.bigint().default(0n).describe('Unexplained drift tolerated, in token base units (a string for values beyond 2^53).'),
        /** Drift must persist this long before it is a discrepancy. */
        driftGraceMs: durationMs(z.number().int().min(0))
          .default(5 * 60_000)
          .describe('Drift must persist this long before BALANCE_DRIFT opens (5 min).'),
        accountDrift: z
          .boolean()
          .default(true)
          .describe(
            'Raise BALANCE_DRIFT per account as well as per currency. Off for freely transferable tokens (wallet-to-wallet transfers move balances without a bank posting): the aggregate invariant, bank liability against total supply, still holds.',
          ),
      })
      .prefault({})
      .describe('Balance checks: bank balance against on-chain balance and totalSupply.'),
    sink: z
      .object({
        maxBatchRows: z.number().int().positive().default(5_000).describe('At most this many rows per batch ...'),
        /**
         * Unset: 200 ms with `direct` (every batch is one ClickHouse insert per table), 50 ms with
         * the fact log (a batch is one JetStream publish: no dearer at 50 than at 200 ms, and the
         * match is acked within the 100 ms that banks' integration layers target).
         */
        maxBatchDelayMs: durationMs(z.number().int().positive())
          .optional()
          .describe(
            `... or this long, whichever comes first. Unset: ${DEFAULT_BATCH_DELAY_MS.log} ms with \`mode: log\`, ${DEFAULT_BATCH_DELAY_MS.direct} ms with \`direct\` (each batch is an insert per table there).`,
          ),
        mode: z
          .enum(['direct', 'log'])
          .default('direct')
          .describe(
            '`direct`: a batch is durable once its facts are inserted into ClickHouse, an insert per table per batch. `log`: once they are in the FACTS JetStream stream; a bulk loader (one active per fleet) loads that stream into ClickHouse in few large inserts, about one per table per second whatever the load, at a lower CPU and latency cost, and facts show in ClickHouse about a second later (docs/deployment.md).',
          ),
        log: z
          .object({
            stream: z.string().default('FACTS').describe('JetStream stream of facts waiting to be loaded (work-queue retention: a loaded fact leaves it).'),
            subject: z.string().default('recon.facts').describe('Subject the workers publish fact batches to.'),
            consumerName: z.string().default('fact-loader').describe('Durable consumer of the loader.'),
            loadEveryMs: durationMs(z.number().int().positive()).default(1_000).describe('The loader inserts what arrived at most this long after its first message (one insert per table) ...'),
            maxLoadMessages: z.number().int().positive().default(500).describe('... or once this many fact messages wait, whichever comes first (memory: at most this many times maxMessageBytes).'),
            maxMessageBytes: z.number().int().min(4_096).default(262_144).describe('A batch of facts is split into messages of at most about this many bytes (below the NATS max_payload).'),
            leaseTtlMs: durationMs(z.number().int().positive()).default(15_000).describe('Lease of the active loader in Redis; a standby takes over this long after the holder stops renewing.'),
            loader: z.boolean().default(true).describe('Run a loader in this worker (one holds the lease; the others stand by).'),
            messageVersion: z
              .union([z.literal(1), z.literal(2)])
              .default(2)
              .describe(
                'Format of the fact log messages written: 2, rows in their insert form; 1, JSON facts, for a rolling upgrade while a loader of a release before 2 may still hold the lease (every loader reads both; docs/runbook.md).',
              ),
          })
          .prefault({})
          .describe('The fact log (`sink.mode: log`).'),
      })
      .transform((sink) => ({ ...sink, maxBatchDelayMs: sink.maxBatchDelayMs ?? DEFAULT_BATCH_DELAY_MS[sink.mode] }))
      .prefault({})
      .describe('ClickHouse batches: by size or time, whichever comes first; and what makes them durable.'),
    /** Validation at the door (src/domain/inputBounds.ts). */
    limits: z
      .object({
        /**
         * Largest plausible single amount per currency, minor units: `{ default: '1000000000000000',
         * JPY: '…' }`. A posting above it is a dead letter naming amountMinor. Never above 10^18, so
         * one amount always fits the int64 Redis sums in.
         */
        maxAmountMinor: maxAmountMinorSchema
          .default({ default: DEFAULT_MAX_AMOUNT_MINOR })
          .describe('Plausibility bound of one posting, minor units, per ISO code or `default` (strings; at most 10^18); above it a posting is a dead letter naming `amountMinor`.'),
      })
      .prefault({})
      .describe('Validation at the door: plausibility bounds of input (docs/failures.md).'),
    chains: z.array(chainSchema).default([]).describe('EVM chains to follow (one active poller per chain, leader lease in Redis).'),
    tokens: z.array(tokenSchema).default([]).describe('Deposit token contracts, one currency each.'),
    accounts: z.array(accountMappingSchema).default([]).describe('Initial account-wallet mappings (updates also arrive on the mapping stream).'),
    http: z
      .object({
        host: z.string().default('127.0.0.1').describe('Bind address (`0.0.0.0` in a container).'),
        /** 0 picks a free port; -1 disables the metrics/health server. */
        port: z.number().int().min(-1).max(65_535).default(9464).describe('Port; 0 picks a free one (logged at start), -1 disables the server.'),
        /**
         * Readiness reports, scrape-time samples and the chain head (eth_blockNumber) are reused this
         * long: a scraper or load balancer probing many times a second costs each dependency, and the
         * RPC provider's quota, at most one call per interval. 0 probes on every request.
         */
        probeCacheMs: durationMs(z.number().int().min(0).max(60_000))
          .default(2_000)
          .describe(
            'Readiness reports, scrape samples and the chain head are reused this long, so a busy scraper costs each dependency (and the RPC quota) at most one call per interval; 0 probes every request.',
          ),
      })
      .prefault({})
      .describe("The worker's HTTP server: `/metrics`, `/healthz`, `/readyz`."),
    /** AML pattern rules on the live stream (src/aml). */
    aml: z
      .object({
        /** Off by default: a worker then records and matches only. */
        enabled: z.boolean().default(false).describe('Run the AML rules on every booked posting and confirmed chain event; off, a worker records and matches only.'),
        /** Versioned rule file (YAML or JSON), validated at start and on every reload. */
        rulesFile: z.string().default('config/aml-rules.yaml').describe('Versioned rule file (YAML or JSON), validated at start and on every reload.'),
        shadowRulesFile: z
          .string()
          .optional()
          .describe(
            'A candidate rule file run beside the live one on live traffic: its alerts are stored in `aml_shadow_alerts`, never sent; compare with `recon aml shadow-report`, promote with `recon aml promote`.',
          ),
        /** Watch-listed addresses/accounts, one a line (or a YAML list); re-read when it changes. */
        watchlistFile: z.string().optional().describe('Watch-listed addresses/accounts, one a line (or a YAML list); re-read when it changes.'),
        /** A message here makes every worker re-read the rule file now. */
        reloadSubject: z.string().default('aml.rules.reload').describe('A message here makes every worker re-read the rule file now.'),
        /** Watch-list updates: JSON {"add"|"remove"|"replace": [...]}. */
        watchlistSubject: z.string().default('aml.watchlist').describe('Watch-list updates: JSON `{"add"|"remove"|"replace": [...]}`.'),
        /** How often the rule and watch-list files are checked for changes. */
        pollIntervalMs: durationMs(z.number().int().positive()).default(2_000).describe('How often the rule and watch-list files are checked for changes.'),
        /** aml_alerts facts at or above this severity are meant for the alert outbox too. */
        outboxSeverity: z.enum(['low', 'medium', 'high', 'critical']).default('high').describe('AML severity meant for the alert outbox (the outbox itself reads `alerts.amlMinSeverity`).'),
        percentilesEveryMs: durationMs(z.number().int().positive())
          .default(86_400_000)
          .describe(
            'How often the percentiles that amount thresholds from data ask for (`{ percentile, over, floor }` in a rule file) are recomputed from the booked postings (one worker; every worker reads them within a minute).',
          ),
        riskScoreEveryMs: durationMs(z.number().int().positive())
          .default(86_400_000)
          .describe(
            "With a `risk` section in the rule file: risk periods end on multiples of this (UTC); each one is scored once, by one worker, after the rules' allowed lateness, over the section's `period` before its end (checked every minute).",
          ),
        /** Wall-clock lifetime of AML state in Redis (windows, day activity, applied event ids). */
        stateTtlMs: durationMs(z.number().int().positive())
          .default(400 * 86_400_000)
          .describe('Wall-clock lifetime of AML state in Redis (windows, day activity, applied event ids): 400 days.'),
      })
      .prefault({})
      .describe('AML pattern rules on the live stream (see docs/aml-rules.md).'),
    /** Alert outbox and notifier (PagerDuty, Slack): see src/alerts/alertsConfig.ts. */
    alerts: alertsConfigSchema.prefault({}).describe('Alert outbox and notifier (PagerDuty, Slack): see docs/alerts.md.'),
    /** Case workflow: see src/cases/casesConfig.ts. */
    cases: casesConfigSchema.prefault({}).describe("Case workflow: the operators' API, users and four eyes (docs/cases.md)."),
    /** ISO 20022 camt ingestion: see src/iso20022/camtConfig.ts. */
    camt: camtConfigSchema,
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('Log level (`LOG_LEVEL` overrides).'),
        /** Pseudonymise account identifiers (account ids, wallets) in log lines with a keyed hash. */
        redactAccounts: z.boolean().default(false).describe('Replace account ids and wallets in log lines by a keyed hash (`anon:...`).'),
        /** Extra pino redaction paths (e.g. `req.headers.cookie`); secrets are always redacted. */
        redactPaths: z.array(z.string()).default([]).describe('Extra pino redaction paths (e.g. `req.headers.cookie`); secrets (passwords, tokens, webhook URLs) are always redacted.'),
      })
      .prefault({})
      .describe('Logging (pino JSON lines).'),
  })
  .superRefine((c, ctx) => {
    // A leg stays matchable for lateRetentionMs: its message must still be in the stream that long,
    // so a worker that was down, or a rebuild, can read it again.
    for (const s of ['ledger', 'chain'] as const) {
      const age = c.nats.limits[s].maxAgeMs;
      if (age !== 0 && age < c.matching.lateRetentionMs) {
        ctx.addIssue({ code: 'custom', path: ['nats', 'limits', s, 'maxAgeMs'], message: `must be 0 or at least matching.lateRetentionMs (${c.matching.lateRetentionMs})` });
      }
    }
    // An event still in a stream can be delivered again; its AML applied marker (ev:<id>, TTL
    // stateTtlMs) must outlive it, or the replay would count the movement twice in the windows.
    if (c.aml.enabled) {
      for (const s of ['ledger', 'chain'] as const) {
        const age = c.nats.limits[s].maxAgeMs;
        if (age === 0 || c.aml.stateTtlMs < age) {
          ctx.addIssue({
            code: 'custom',
            path: ['aml', 'stateTtlMs'],
            message: `must be at least nats.limits.${s}.maxAgeMs (${age === 0 ? 'unlimited: set one' : age}): an event still in the stream must find its applied marker`,
          });
        }
      }
    }
    const alerts = c.alerts.streamLimits.maxAgeMs;
    if (alerts !== 0 && alerts < c.alerts.duplicateWindowMs) {
      ctx.addIssue({ code: 'custom', path: ['alerts', 'streamLimits', 'maxAgeMs'], message: `must be 0 or at least alerts.duplicateWindowMs (${c.alerts.duplicateWindowMs})` });
    }
  });

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type TokenConfig = Config['tokens'][number];
export type ChainConfig = Config['chains'][number];
