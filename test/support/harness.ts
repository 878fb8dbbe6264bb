import { randomUUID } from 'node:crypto';
import { headers as natsHeaders } from '@nats-io/nats-core';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { pino } from 'pino';
import { privateKeyToAddress, generatePrivateKey } from 'viem/accounts';
import { stringToHex, type Address } from 'viem';
import { parseConfig } from '../../src/config/load.js';
import type { Config, ConfigInput } from '../../src/config/schema.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { queryRows } from '../../src/sinks/clickhouse/queries.js';
import { migrate } from '../../src/sinks/clickhouse/migrations.js';
import { createLedgerCodec, type LedgerPosting } from '../../src/streams/ledgerCodec.js';
import { ledgerPublishSubject, streamPartitions } from '../../src/streams/partitions.js';
import { burn, deployDepositToken, mint, mintWithReference, startAnvil, type AnvilNode } from './anvil.js';
import { tempClickHouse, type TempClickHouse } from './clickhouse.js';

export const randomWallet = (): Address => privateKeyToAddress(generatePrivateKey()).toLowerCase() as Address;

/** Names of this test's streams, subjects and keys: tests share one NATS and one Redis. */
export function isolatedNames(id = randomUUID().slice(0, 8)) {
  return {
    namespace: `t${id}`,
    nats: {
      ledgerStream: `LEDGER_${id}`,
      ledgerSubjects: [`ledger_${id}.>`],
      chainStream: `CHAIN_${id}`,
      chainSubjectPrefix: `chain_${id}`,
      mappingStream: `MAP_${id}`,
      mappingSubject: `mapping_${id}.accounts`,
      deadLetterStream: `DL_${id}`,
      deadLetterSubjectPrefix: `dl_${id}`,
      consumerName: 'matcher',
    },
    ledgerSubject: `ledger_${id}.postings`,
  };
}

/**
 * The sink settings of a test: `base` with `mode: direct`, and with RECON_TEST_SINK_MODE=log the
 * same tests run with facts made durable in a fact log of the test's own (loaded every 100 ms).
 * Never the schema's default fact log: its stream and loader lease would be shared by every test
 * running at the same time.
 */
export function testSink<T extends object>(
  names: { namespace: string },
  base: T,
  mode = process.env.RECON_TEST_SINK_MODE,
): (T & { mode: 'direct' }) | (T & { mode: 'log'; log: { stream: string; subject: string; loadEveryMs: number; leaseTtlMs: number } }) {
  if (mode !== 'log') return { ...base, mode: 'direct' };
  return { ...base, mode: 'log', log: { stream: `FACTS_${names.namespace}`, subject: `facts_${names.namespace}`, loadEveryMs: 100, leaseTtlMs: 3_000 } };
}

export interface Harness {
  anvil: AnvilNode;
  token: Address;
  decimals: number;
  ch: TempClickHouse;
  config: Config;
  daemon: Daemon;
  daemons: Daemon[];
  nc: NatsConnection;
  js: JetStreamClient;
  names: ReturnType<typeof isolatedNames>;
  posting(p: Partial<LedgerPosting> & Pick<LedgerPosting, 'entryId' | 'accountId' | 'amountMinor'>, opts?: { version?: number; msgId?: string }): Promise<void>;
  publishRaw(bytes: Uint8Array, headers?: Record<string, string>): Promise<void>;
  mint(to: Address, amount: bigint, ref?: string): Promise<void>;
  burn(from: Address, amount: bigint): Promise<void>;
  /** Token base units of `minor` cents of USD. */
  usd(minor: bigint): bigint;
  discrepancies(): Promise<{ discrepancy_id: string; kind: string; status: string; account_id: string; wallet: string; reason: string }[]>;
  matches(): Promise<{ match_id: string; account_id: string; match_by: string; late: number; status: string }[]>;
  waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
}

export interface HarnessOptions {
  accounts?: { accountId: string; wallets: string[] }[];
  config?: Partial<ConfigInput>;
  decimals?: number;
  /** Daemons sharing the streams, the Redis namespace and ClickHouse (default 1). */
  workers?: number;
  /** Reuse this process's chdb (one data dir per process) with a database of this harness's own. */
  shared?: { ch: TempClickHouse; database: string };
  /** The daemons' balance job clock (see StartDaemonOptions.balancesClock). */
  balancesClock?: () => number;
  /** The daemons' case jobs' clock (StartDaemonOptions.casesClock). */
  casesClock?: () => number;
  /** `sink.mode` (default: RECON_TEST_SINK_MODE, else direct). */
  sinkMode?: 'direct' | 'log';
  /** Partitioned streams (`nats.partitions.count`): one daemon per partition, each bound to its own. */
  partitions?: number;
}

/**
 * A daemon on real services: anvil with a deployed deposit token (mining a block a second, so
 * the chain watermark moves), NATS JetStream and Redis with names of its own, and ClickHouse on
 * chdb in a temp dir. Windows are short so discrepancies surface in seconds.
 */
export async function startHarness(o: HarnessOptions = {}): Promise<Harness> {
  const names = isolatedNames();
  const anvil = await startAnvil({ blockTime: 1 });
  const decimals = o.decimals ?? 18;
  const token = await deployDepositToken(anvil, { name: 'USD Deposit Token', symbol: 'USDd', decimals });
  const ch = o.shared ? { ...o.shared.ch, database: o.shared.database, close: async () => undefined } : await tempClickHouse();
  if (o.shared) await migrate(ch.client, ch.database);
  // `config.nats` is merged into the harness's own stream names (servers, replicas, timings).
  const { nats: natsOverride, ...configOverride } = o.config ?? {};
  const config = parseConfig({
    namespace: names.namespace,
    nats: { ...names.nats, ...(o.partitions !== undefined && { partitions: { count: o.partitions } }), ...natsOverride },
    clickhouse: { database: ch.database, dataDir: ch.dir },
    matching: { windowMs: 3_000, allowedLatenessMs: 1_000, ledgerIdleMs: 2_000, sweepIntervalMs: 250, lateRetentionMs: 3_600_000 },
    balances: { intervalMs: 3_600_000, onChangeDebounceMs: 3_600_000, driftGraceMs: 3_600_000 },
    sink: testSink(names, { maxBatchDelayMs: 50 }, o.sinkMode),
    chains: [{ chainId: anvil.chainId, rpcUrls: [anvil.rpcUrl], confirmations: 1, pollIntervalMs: 200 }],
    tokens: [{ chainId: anvil.chainId, address: token, currency: 'USD' }],
    accounts: o.accounts ?? [],
    http: { port: 0 },
    log: { level: 'warn' },
    ...configOverride,
  });
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'warn' });
  const daemons: Daemon[] = [];
  const workers = o.workers ?? o.partitions ?? 1;
  for (let i = 0; i < workers; i++) {
    // With partitions, worker i consumes partition i (of as many as there are workers).
    const nats = o.partitions !== undefined ? { ...config.nats, partitions: { count: o.partitions, assigned: [i % o.partitions] } } : config.nats;
    const d = await startDaemon(
      { ...config, nats, workerId: `${names.namespace}-w${i}` },
      { clickhouse: ch.client, log, ...(o.balancesClock && { balancesClock: o.balancesClock }), ...(o.casesClock && { casesClock: o.casesClock }) },
    );
    await d.ready;
    daemons.push(d);
  }
  const daemon = daemons[0]!;
  const nc = await connect({ servers: config.nats.servers });
  const js = jetstream(nc);
  const codec = createLedgerCodec();
  const db = ch.database;

  const h: Harness = {
    anvil,
    token,
    decimals,
    ch,
    config,
    daemon,
    daemons,
    nc,
    js,
    names,
    async posting(p, opts = {}) {
      const now = Date.now();
      const posting: LedgerPosting = {
        direction: 'credit',
        currency: 'USD',
        bookingTime: now,
        valueTime: now,
        status: 'booked',
        txType: 'deposit',
        endToEndId: `E2E-${p.entryId}`,
        remittance: null,
        tokenizationRef: null,
        ...p,
      };
      const { bytes, headers } = codec.encode(posting, opts.version);
      const hdrs = natsHeaders();
      for (const [k, v] of Object.entries(headers)) hdrs.set(k, v);
      await js.publish(ledgerPublishSubject(config.nats, names.ledgerSubject, posting.accountId), bytes, { headers: hdrs, msgID: opts.msgId ?? `${posting.entryId}:${posting.status}` });
    },
    async publishRaw(bytes, headers = {}) {
      const hdrs = natsHeaders();
      for (const [k, v] of Object.entries(headers)) hdrs.set(k, v);
      await js.publish(ledgerPublishSubject(config.nats, names.ledgerSubject, 'raw'), bytes, { headers: hdrs });
    },
    async mint(to, amount, ref) {
      if (ref) await mintWithReference(anvil, token, to, amount, stringToHex(ref, { size: 32 }));
      else await mint(anvil, token, to, amount);
    },
    async burn(from, amount) {
      await burn(anvil, token, from, amount);
    },
    usd: (minor) => minor * 10n ** BigInt(decimals - 2),
    discrepancies: () => queryRows(ch.client, `SELECT discrepancy_id, kind, status, account_id, wallet, reason FROM ${db}.discrepancies_current ORDER BY discrepancy_id`),
    matches: () => queryRows(ch.client, `SELECT match_id, account_id, match_by, late, status FROM ${db}.matches_current ORDER BY match_id`),
    async waitFor(what, probe, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      let last: unknown;
      for (;;) {
        try {
          const v = await probe();
          if (v !== undefined && v !== false) return v as never;
        } catch (e) {
          last = e;
        }
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    async stop() {
      for (const d of daemons) await d.stop();
      const jsm = await jetstreamManager(nc);
      const partitioned = streamPartitions(config.nats).flatMap((p) => [p.ledgerStream, p.chainStream]);
      for (const s of [...partitioned, config.nats.mappingStream, config.nats.deadLetterStream, ...(config.sink.mode === 'log' ? [config.sink.log.stream] : [])]) {
        await jsm.streams.delete(s).catch(() => undefined);
      }
      await nc.close();
      const { Redis } = await import('ioredis');
      const r = new Redis(config.redis.url);
      const keys = await r.keys(`${config.namespace}:*`);
      if (keys.length) await r.del(...keys);
      await r.quit();
      await anvil.stop();
      await ch.close();
    },
  };
  return h;
}
