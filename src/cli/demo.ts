/**
 * `npm run demo [-- --duration 60 --rate 5 --faults 0.1 --seed 1 --keep-streams --input avro|camt]`
 *
 * One command on a fresh machine: makes sure NATS and Redis answer, starts anvil, deploys a USD
 * deposit token, starts the engine in-process with a configuration built here (its own namespace,
 * streams and ClickHouse database, so reruns never mix), plays seeded bank and chain traffic with
 * labelled faults, then reports what the engine found against what was injected. With
 * `--input camt` the bank side arrives as ISO 20022 files instead of Avro: each movement a
 * camt.054 (camt.052 while pending), ingested from a temp folder, and at the end one camt.053 per
 * account repeating the day's booked entries (which must publish nothing new).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createReadStream } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { pino } from 'pino';
import { stringToHex, type Address, type Hash, type Hex } from 'viem';
import { parseConfig } from '../config/load.js';
import { natsSecurityOptions } from '../config/connectionSecurity.js';
import { connectRedis } from '../state/redisClient.js';
import type { Config } from '../config/schema.js';
import { startDaemon, type Daemon } from '../daemon.js';
import { countFacts, discrepancyCountsByKind, queryRows } from '../sinks/clickhouse/queries.js';
import { depositTokenAbi } from '../devchain/depositTokenArtifact.js';
import { deployDepositToken, freePort, startAnvil, type AnvilNode } from '../devchain/anvilNode.js';
import { createLedgerCodec } from '../streams/ledgerCodec.js';
import { FAULT_KINDS, generateTrafficPlan, publishPosting, publishRaw, type Step, type TrafficPlan } from '../generator/index.js';
import { ensureLocalServices } from './localServices.js';
import { writeCamt } from '../generator/camtWriter.js';
import { ingestCamt } from '../iso20022/camtIngest.js';
import { camtPostingId } from '../iso20022/camtMapping.js';
import type { LedgerPosting } from '../streams/ledgerCodec.js';

interface DemoArgs {
  durationS: number;
  rate: number;
  faults: number;
  seed: number;
  keepStreams: boolean;
  /** How the bank side arrives: Avro postings, or ISO 20022 camt files. */
  input: 'avro' | 'camt';
}

function parseDemoArgs(argv: string[]): DemoArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string', default: '60' },
      rate: { type: 'string', default: '5' },
      faults: { type: 'string', default: '0.1' },
      seed: { type: 'string' },
      'keep-streams': { type: 'boolean', default: false },
      input: { type: 'string', default: 'avro' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log('usage: npm run demo -- [--duration <s>=60] [--rate <postings/s>=5] [--faults <share>=0.1] [--seed <n>] [--keep-streams] [--input avro|camt]');
    process.exit(0);
  }
  const num = (name: string, v: string, ok: (n: number) => boolean) => {
    const n = Number(v);
    if (!Number.isFinite(n) || !ok(n)) {
      console.error(`demo: invalid --${name} ${JSON.stringify(v)}`);
      process.exit(2);
    }
    return n;
  };
  const input = values.input;
  if (input !== 'avro' && input !== 'camt') {
    console.error(`demo: invalid --input ${JSON.stringify(input)} (avro or camt)`);
    process.exit(2);
  }
  return {
    durationS: num('duration', values.duration, (n) => n > 0),
    rate: num('rate', values.rate, (n) => n > 0 && n <= 200),
    faults: num('faults', values.faults, (n) => n >= 0 && n <= 1),
    seed: values.seed !== undefined ? num('seed', values.seed, Number.isInteger) : Math.floor(Math.random() * 2 ** 31),
    keepStreams: values['keep-streams'],
    input,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.once('error', () => res(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => res(true)));
  });
}

function buildConfig(o: { runId: string; tag: string; anvil: AnvilNode; token: Address; startBlock: bigint; plan: TrafficPlan; httpPort: number }): Config {
  const T = o.tag.toUpperCase();
  const env = process.env;
  return parseConfig({
    namespace: o.runId,
    workerId: `${o.runId}-worker`,
    nats: {
      servers: env.NATS_URL ? env.NATS_URL.split(',') : ['127.0.0.1:4222'],
      ledgerStream: `${T}_LEDGER`,
      ledgerSubjects: [`${o.tag}.ledger.>`],
      chainStream: `${T}_CHAIN`,
      chainSubjectPrefix: `${o.tag}.chain`,
      mappingStream: `${T}_MAPPINGS`,
      mappingSubject: `${o.tag}.mapping.accounts`,
      deadLetterStream: `${T}_DEADLETTER`,
      deadLetterSubjectPrefix: `${o.tag}.deadletter`,
      consumerName: 'recon-demo',
      // A closed NATS (deploy/nats/nats.conf): the demo logs in as its own user, in an account of its own.
      ...(env.NATS_USER ? { auth: { user: env.NATS_USER, password: { env: 'NATS_PASSWORD' } } } : {}),
      ...(env.NATS_INBOX_PREFIX ? { inboxPrefix: env.NATS_INBOX_PREFIX } : {}),
    },
    redis: { url: env.REDIS_URL ?? 'redis://127.0.0.1:6379', ...(env.REDIS_PASSWORD ? { password: { env: 'REDIS_PASSWORD' } } : {}) },
    clickhouse: env.CLICKHOUSE_URL
      ? { url: env.CLICKHOUSE_URL, username: env.CLICKHOUSE_USER ?? 'default', password: env.CLICKHOUSE_PASSWORD ?? '', database: o.tag }
      : { dataDir: '.data/demo/chdb', database: o.tag },
    // The shipped rule cascade: fees, tranches and roundings reconcile; typed-wrong amounts pair up.
    matching: { windowMs: 15_000, allowedLatenessMs: 3_000, ledgerIdleMs: 5_000, sweepIntervalMs: 1_000, rulesFile: 'config/matching-rules.yaml' },
    // One cent of tolerance: a rounding leaves a wei behind, which is not drift.
    balances: { intervalMs: 10_000, driftGraceMs: 20_000, toleranceBase: 10n ** 16n },
    chains: [{ chainId: o.anvil.chainId, rpcUrls: [o.anvil.rpcUrl], confirmations: 2, pollIntervalMs: 500 }],
    tokens: [{ chainId: o.anvil.chainId, address: o.token, currency: 'USD', startBlock: o.startBlock }],
    accounts: o.plan.accountMappings,
    http: { host: '127.0.0.1', port: o.httpPort },
    log: { level: 'warn' },
    // camt input: postings on the ledger stream like core banking's; any account is taken (as Avro
    // postings are), an unmapped one becomes an ORPHAN_LEDGER_ENTRY in the worker.
    camt: { ledgerSubject: `${o.tag}.ledger.camt`, acceptUnlistedAccounts: true },
  });
}

/**
 * Sends token transactions to anvil: one submission at a time per sender with an explicit nonce
 * (anvil assigns clashing nonces to concurrent eth_sendTransaction calls), receipts awaited in
 * parallel, and per wallet in plan order (a burn waits for the mint that funds it).
 */
function createChainSender(anvil: AnvilNode, token: Address) {
  const submitQueue = new Map<string, Promise<unknown>>();
  const nonces = new Map<string, number>();
  const walletQueue = new Map<string, Promise<unknown>>();

  async function submit(
    from: Address,
    call: { functionName: 'mint' | 'burn' | 'transfer'; args: readonly [Address, bigint] } | { functionName: 'mintWithReference'; args: readonly [Address, bigint, Hex] },
  ): Promise<Hash> {
    const prev = submitQueue.get(from) ?? Promise.resolve();
    const next = prev
      .catch(() => undefined)
      .then(async () => {
        let nonce = nonces.get(from);
        if (nonce === undefined) nonce = await anvil.publicClient.getTransactionCount({ address: from, blockTag: 'pending' });
        const hash = await anvil.walletClient.writeContract({
          address: token,
          abi: depositTokenAbi,
          functionName: call.functionName,
          args: call.args,
          account: from,
          nonce,
          gas: 200_000n,
          chain: anvil.chain,
        } as Parameters<typeof anvil.walletClient.writeContract>[0]);
        nonces.set(from, nonce + 1);
        return hash;
      });
    submitQueue.set(from, next);
    return next as Promise<Hash>;
  }

  /** Runs `step` after the earlier steps touching the same wallets; resolves with the token's log ids. */
  function send(step: Extract<Step, { kind: 'mint' | 'burn' | 'transfer' }>): Promise<string[]> {
    const owner = anvil.accounts[0]!;
    const wallets = step.kind === 'mint' ? [step.to] : step.kind === 'burn' ? [step.from] : [step.from, step.to];
    const after = Promise.all(wallets.map((w) => (walletQueue.get(w) ?? Promise.resolve()).catch(() => undefined)));
    const done = after.then(async () => {
      const hash =
        step.kind === 'mint'
          ? step.reference
            ? await submit(owner, { functionName: 'mintWithReference', args: [step.to as Address, step.amount, stringToHex(step.reference, { size: 32 })] })
            : await submit(owner, { functionName: 'mint', args: [step.to as Address, step.amount] })
          : step.kind === 'burn'
            ? await submit(owner, { functionName: 'burn', args: [step.from as Address, step.amount] })
            : await submit(anvil.accounts[step.fromIndex]!, { functionName: 'transfer', args: [step.to as Address, step.amount] });
      const receipt = await anvil.publicClient.waitForTransactionReceipt({ hash, pollingInterval: 100, timeout: 60_000 });
      if (receipt.status !== 'success') throw new Error(`${step.kind} ${hash} reverted (${step.label.note})`);
      return receipt.logs.filter((l) => l.address.toLowerCase() === token).map((l) => `chain:${anvil.chainId}:${l.blockHash!.toLowerCase()}:${l.logIndex}`);
    });
    for (const w of wallets) walletQueue.set(w, done);
    return done;
  }
  return { send };
}

interface RunRecord {
  /** scenarioId → leg ids the engine will know it by (bank:<entryId>, chain:<eventId>). */
  legs: Map<string, Set<string>>;
  /** dead_letter_id (`<stream>:<seq>`) → scenarioId, for poison messages. */
  poisonSeqs: Map<string, string>;
  published: { postings: number; poison: number; chainTxs: number };
  failures: string[];
  /** camt input: scenarios whose camt file was refused (dead-lettered) by the ingester. */
  camtRefused: Set<string>;
  /** camt input: the end-of-day camt.053 statements. */
  camtEndOfDay?: { statements: number; entries: number; published: number; duplicates: number };
}

/** The camt files of a run: each ingested from a temp folder, as a bank's drop would be. */
function camtFiles(config: Config, js: JetStreamClient) {
  const dir = mkdtempSync(join(tmpdir(), 'recon-demo-camt-'));
  let n = 0;
  return {
    async ingest(chunks: (string | Uint8Array)[], kind: string) {
      const file = join(dir, `${String(++n).padStart(6, '0')}-${kind}.xml`);
      writeFileSync(file, Buffer.concat(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c))));
      return ingestCamt({ name: file, open: () => createReadStream(file) }, { js, config });
    },
    close: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** One posting as the camt message a bank would send: camt.052 while pending, else camt.054 (an unknown currency kept as sent). */
function camtOfPosting(p: LedgerPosting, id: string): string[] {
  const bad = !/^[A-Z]{3}$/.test(p.currency) || p.currency === 'XTS';
  const chunks = writeCamt([{ ...p, currency: bad ? 'USD' : p.currency }], {
    family: p.status === 'pending' ? 'camt.052' : 'camt.054',
    messageId: id,
    account: p.accountId,
    currency: bad ? 'USD' : p.currency,
    createdAt: Math.max(p.bookingTime, p.valueTime),
  });
  return bad ? chunks.map((c) => c.replaceAll('Ccy="USD"', `Ccy="${p.currency.replace(/[^A-Za-z]/g, '')}"`)) : chunks;
}

async function playPlan(o: { plan: TrafficPlan; js: JetStreamClient; config: Config; anvil: AnvilNode; token: Address; aborted: () => boolean; input: 'avro' | 'camt' }): Promise<RunRecord> {
  const { plan, js, config } = o;
  const camt = o.input === 'camt' ? camtFiles(config, js) : undefined;
  /** camt input: the first booked content of each entry, per account, for the end-of-day statements. */
  const booked = new Map<string, Map<string, LedgerPosting>>();
  const codec = createLedgerCodec();
  const sender = createChainSender(o.anvil, o.token);
  const subject = `${config.nats.ledgerSubjects[0]!.replace(/\.>$/, '')}.postings`;
  const rec: RunRecord = { legs: new Map(), poisonSeqs: new Map(), published: { postings: 0, poison: 0, chainTxs: 0 }, failures: [], camtRefused: new Set() };
  const legsOf = (id: string) => rec.legs.get(id) ?? rec.legs.set(id, new Set()).get(id)!;
  for (const s of plan.scenarios) for (const e of s.entryIds) legsOf(s.label.scenarioId).add(`bank:${e}`);
  const inflight: Promise<void>[] = [];
  const start = Date.now();
  // The plan's booking times are rebased on the moment the run really starts.
  const shift = start - plan.options.startTime;

  for (const step of plan.steps) {
    if (o.aborted()) break;
    const wait = start + step.at - Date.now();
    if (wait > 0) await sleep(wait);
    const id = step.label.scenarioId;
    try {
      if (step.kind === 'posting' && camt !== undefined) {
        const p = { ...step.posting, bookingTime: step.posting.bookingTime + shift, valueTime: step.posting.valueTime + shift };
        legsOf(id).add(`bank:${camtPostingId(p.accountId, p.entryId)}`);
        const r = await camt.ingest(camtOfPosting(p, `${p.entryId}-${p.status}${step.msgIdSuffix ? `-${step.msgIdSuffix}` : ''}`), p.status === 'pending' ? 'camt052' : 'camt054');
        if (!r.ok) {
          rec.camtRefused.add(id);
          rec.published.poison++;
        } else {
          rec.published.postings++;
          const mine = booked.get(p.accountId) ?? booked.set(p.accountId, new Map()).get(p.accountId)!;
          if (p.status === 'booked' && !mine.has(p.entryId)) mine.set(p.entryId, p);
        }
      } else if (step.kind === 'poison' && camt !== undefined) {
        const r = await camt.ingest([step.bytes], 'poison');
        if (!r.ok) rec.camtRefused.add(id);
        rec.published.poison++;
      } else if (step.kind === 'posting') {
        const p = { ...step.posting, bookingTime: step.posting.bookingTime + shift, valueTime: step.posting.valueTime + shift };
        const ack = await publishPosting(js, subject, p, { version: step.schemaVersion, codec, ...(step.msgIdSuffix ? { msgIdSuffix: step.msgIdSuffix } : {}) });
        if (step.label.expect.includes('DEAD_LETTER')) rec.poisonSeqs.set(`${ack.stream}:${ack.seq}`, id);
        rec.published.postings++;
      } else if (step.kind === 'poison') {
        const ack = await publishRaw(js, subject, step.bytes, step.headers, `${step.entryId}:poison`);
        rec.poisonSeqs.set(`${ack.stream}:${ack.seq}`, id);
        rec.published.poison++;
      } else {
        rec.published.chainTxs++;
        inflight.push(
          sender.send(step).then(
            (legIds) => {
              for (const l of legIds) legsOf(id).add(l);
            },
            (e: unknown) => {
              rec.failures.push(`${step.kind} for ${id}: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
            },
          ),
        );
      }
    } catch (e) {
      rec.failures.push(`${step.kind} for ${id}: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
    }
  }
  await Promise.all(inflight);
  if (camt !== undefined) {
    // End of day: each account's camt.053 repeats its booked entries; they are already in.
    const eod = { statements: 0, entries: 0, published: 0, duplicates: 0 };
    for (const [account, entries] of booked) {
      const ps = [...entries.values()].sort((a, b) => a.bookingTime - b.bookingTime);
      const r = await camt.ingest(writeCamt(ps, { family: 'camt.053', messageId: `EOD-${account}`, account, currency: ps[0]!.currency, openingMinor: 0n, createdAt: Date.now() }), 'camt053');
      if (!r.ok) {
        rec.failures.push(`end-of-day camt.053 of ${account}: ${r.reason.split('\n')[0]}`);
        continue;
      }
      eod.statements++;
      eod.entries += r.postings;
      eod.published += r.published;
      eod.duplicates += r.duplicates;
    }
    rec.camtEndOfDay = eod;
    camt.close();
  }
  return rec;
}

function summaryLine(d: Daemon, elapsedS: number, phase: string): string {
  const s = d.stats;
  const open =
    Object.entries(s.discrepanciesOpened)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, n]) => `${k} ${n}`)
      .join(', ') || 'none';
  return (
    `[${String(elapsedS).padStart(4)}s ${phase}] in: ledger ${s.messages.ledger}, chain ${s.messages.chain} | matched ${s.matches}` +
    `${s.lateMatches ? ` (${s.lateMatches} late)` : ''} | opened: ${open} | resolved ${s.discrepanciesResolved} | dead letters ${s.deadLetters}`
  );
}

interface FoundDiscrepancy {
  discrepancy_id: string;
  kind: string;
  status: string;
  bank_leg_id: string;
  chain_leg_id: string;
  reason: string;
}

async function finalReport(o: { daemon: Daemon; plan: TrafficPlan; rec: RunRecord; config: Config; args: DemoArgs; metricsUrl: string | null }): Promise<string[]> {
  const { daemon, plan, rec, config } = o;
  const ch = daemon.clickhouse;
  const db = config.clickhouse.database;
  const out: string[] = [];
  const line = (s = '') => out.push(s);

  const rows = await queryRows<FoundDiscrepancy>(ch, `SELECT discrepancy_id, kind, status, bank_leg_id, chain_leg_id, reason FROM ${db}.discrepancies_current`);
  const deadLetters = await queryRows<{ dead_letter_id: string; reason_code: string }>(ch, `SELECT dead_letter_id, reason_code FROM ${db}.dead_letters FINAL`);
  const [entries, events, matches] = await Promise.all([
    countFacts(ch, db, 'ledger_entries', { final: true }),
    countFacts(ch, db, 'chain_events', { final: true }),
    queryRows<{ n: string }>(ch, `SELECT count() AS n FROM ${db}.matches_current WHERE status = 'matched'`),
  ]);
  const openByKind = await discrepancyCountsByKind(ch, db, { status: 'open' });
  const resolvedByKind = await discrepancyCountsByKind(ch, db, { status: 'resolved' });

  const byScenario = new Map<string, string>();
  const kinds = new Map<string, number>();
  for (const s of plan.scenarios) {
    kinds.set(s.label.scenario, (kinds.get(s.label.scenario) ?? 0) + 1);
    for (const l of rec.legs.get(s.label.scenarioId) ?? []) byScenario.set(l, s.label.scenarioId);
  }
  const faulted = plan.scenarios.filter((s) => s.label.fault !== null);
  line('══════════════════════════════ demo report ══════════════════════════════');
  line(
    `seed ${plan.options.seed}, ${o.args.durationS}s at ${o.args.rate}/s, fault share ${o.args.faults}; ` +
      `${plan.scenarios.length} scenarios (${[...kinds].map(([k, n]) => `${n} ${k}`).join(', ')}), ${faulted.length} faulted`,
  );
  line(
    `published: ${rec.published.postings} postings${o.args.input === 'camt' ? ' (as camt.052/054 files)' : ''}, ${rec.published.poison} poison messages, ${rec.published.chainTxs} token transactions` +
      (rec.failures.length ? ` (${rec.failures.length} failed: ${rec.failures.slice(0, 3).join('; ')})` : ''),
  );
  line(
    `engine: ${daemon.stats.messages.ledger} ledger + ${daemon.stats.messages.chain} chain messages in, ${entries} ledger entries, ` +
      `${events} chain events, ${Number(matches[0]?.n ?? 0)} matches, ${deadLetters.length} dead letters`,
  );
  const fmt = (m: Record<string, number>) =>
    Object.entries(m)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ') || 'none';
  line(`discrepancies open: ${fmt(openByKind)}`);
  line(`discrepancies resolved: ${fmt(resolvedByKind)}`);
  line();

  // Found vs expected, per injected fault: a finding counts when it names one of the fault's legs.
  const attributed = new Set<string>();
  line(`${'injected fault'.padEnd(20)} ${'n'.padStart(3)}  ${'expected'.padEnd(34)}  found`);
  for (const fault of FAULT_KINDS) {
    const these = faulted.filter((s) => s.label.fault === fault);
    if (these.length === 0) continue;
    const expect = these[0]!.label.expect;
    const perKind = expect.map((kind) => {
      let found = 0;
      for (const s of these) {
        const legs = rec.legs.get(s.label.scenarioId) ?? new Set<string>();
        if (kind === 'DEAD_LETTER') {
          if (rec.camtRefused.has(s.label.scenarioId)) {
            found++;
            continue;
          }
          const dl = deadLetters.find((d) => rec.poisonSeqs.get(d.dead_letter_id) === s.label.scenarioId);
          if (dl) {
            found++;
            attributed.add(`dl:${dl.dead_letter_id}`);
          }
          continue;
        }
        const hit = rows.find((r) => r.kind === kind && (legs.has(r.bank_leg_id) || legs.has(r.chain_leg_id)));
        if (hit) {
          found++;
          attributed.add(hit.discrepancy_id);
        }
      }
      return `${kind} ${found}/${these.length}`;
    });
    line(`${fault.padEnd(20)} ${String(these.length).padStart(3)}  ${expect.join(' + ').padEnd(34)}  ${perKind.join(', ')}`);
  }
  // A proposal's legs wait for an operator: the MISSING_* of whichever window closed first stays
  // open with it (docs/matching-rules.md), part of the same finding.
  for (const s of faulted.filter((x) => x.label.fault === 'near_amount')) {
    const legs = rec.legs.get(s.label.scenarioId) ?? new Set<string>();
    for (const r of rows) if (r.kind.startsWith('MISSING_') && (legs.has(r.bank_leg_id) || legs.has(r.chain_leg_id))) attributed.add(r.discrepancy_id);
  }
  const unexpected = rows.filter((r) => !attributed.has(r.discrepancy_id) && r.kind !== 'BALANCE_DRIFT');
  const drift = rows.filter((r) => r.kind === 'BALANCE_DRIFT');
  const unexpectedDl = deadLetters.filter((d) => !attributed.has(`dl:${d.dead_letter_id}`));
  line(
    `${'clean scenarios'.padEnd(20)} ${String(plan.scenarios.length - faulted.length).padStart(3)}  ${'(nothing)'.padEnd(34)}  ` + `unexpected findings: ${unexpected.length + unexpectedDl.length}`,
  );
  for (const r of unexpected.slice(0, 5)) {
    const sid = byScenario.get(r.bank_leg_id) ?? byScenario.get(r.chain_leg_id);
    const s = plan.scenarios.find((x) => x.label.scenarioId === sid);
    line(`  ! ${r.kind} ${r.status} ${r.bank_leg_id || r.chain_leg_id}${s ? ` [${s.label.scenarioId} ${s.label.fault ?? 'clean'}: ${s.label.note}]` : ''}: ${r.reason.slice(0, 140)}`);
  }
  for (const d of unexpectedDl.slice(0, 3)) line(`  ! dead letter ${d.dead_letter_id} ${d.reason_code}`);
  // Everyday imperfections of clean traffic: each must be matched by its rule, with nothing raised.
  const imperfect = plan.scenarios.filter((s) => s.label.reconcileBy);
  if (imperfect.length > 0) {
    const matchRows = await queryRows<{ bank_leg_id: string; chain_leg_id: string; rule_id: string }>(
      ch,
      `SELECT bank_leg_id, chain_leg_id, rule_id FROM ${db}.matches_current WHERE status = 'matched'`,
    );
    line(`${'imperfection'.padEnd(20)} ${'n'.padStart(3)}  ${'matched by rule'.padEnd(34)}  found`);
    for (const rule of [...new Set(imperfect.map((s) => s.label.reconcileBy!))]) {
      const these = imperfect.filter((s) => s.label.reconcileBy === rule);
      const ok = these.filter((s) => {
        const legs = rec.legs.get(s.label.scenarioId) ?? new Set<string>();
        const mine = matchRows.filter((m) => legs.has(m.bank_leg_id) || legs.has(m.chain_leg_id));
        return mine.length > 0 && mine.every((m) => m.rule_id === rule);
      }).length;
      const name = { 'deposit-fee': 'fee before the mint', tranches: 'minted in tranches', 'token-rounding': 'a wei short' }[rule] ?? rule;
      line(`${name.padEnd(20)} ${String(these.length).padStart(3)}  ${rule.padEnd(34)}  ${ok}/${these.length}`);
    }
  }
  if (drift.length) {
    line(
      `BALANCE_DRIFT ${drift.length} (${drift.filter((r) => r.status === 'open').length} open): a consequence of the faults above ` +
        '(faulted accounts and the total supply no longer agree with the bank after the grace period), not injected on its own',
    );
  }
  line();
  const where = config.clickhouse.url ? `ClickHouse server ${config.clickhouse.url}, database ${db}` : `embedded chdb at ${resolve(config.clickhouse.dataDir)}, database ${db}`;
  line(`facts: ${where}`);
  if (!config.clickhouse.url) line(`  query them with: clickhouse local --path ${resolve(config.clickhouse.dataDir)} --query "<SQL>"  (or python -m chdb)`);
  line(`  SELECT kind, status, count() FROM ${db}.discrepancies_current GROUP BY kind, status ORDER BY kind`);
  line(`  SELECT match_by, status, count(), countIf(late = 1) FROM ${db}.matches_current GROUP BY match_by, status`);
  line(`  SELECT discrepancy_id, reason FROM ${db}.discrepancies_current WHERE status = 'open' ORDER BY opened_at LIMIT 20`);
  line(`  SELECT scope, subject, bank_balance, chain_balance, unexplained FROM ${db}.balance_snapshots ORDER BY at DESC LIMIT 10`);
  line(`metrics: ${o.metricsUrl ?? '(HTTP server disabled)'} (while the engine runs; also /healthz, /readyz)`);
  line(
    `streams: ${config.nats.ledgerStream}, ${config.nats.chainStream}, ${config.nats.deadLetterStream} ` +
      `(${o.args.keepStreams ? 'kept' : 'deleted on exit; --keep-streams keeps them'}); Redis namespace ${config.namespace}`,
  );
  return out;
}

async function main(): Promise<void> {
  const args = parseDemoArgs(process.argv.slice(2));
  const t0 = Date.now();
  const runId = `demo-${t0}`;
  const tag = `demo_${t0}`;
  const log = pino({ level: 'warn' }, pino.destination(2));
  console.log(`recon demo ${runId}: ${args.durationS}s of traffic at ${args.rate}/s, fault share ${args.faults}, seed ${args.seed}`);

  // With NATS_URL/REDIS_URL set (docker-compose), those servers are used as they are.
  if (!process.env.NATS_URL && !process.env.REDIS_URL) {
    await ensureLocalServices({ log: { info: (m) => console.log(`  ${m}`) } });
    console.log('  NATS and Redis answer');
  }

  let anvil: AnvilNode | undefined;
  let daemon: Daemon | undefined;
  let nc: NatsConnection | undefined;
  let aborted = false;
  let signals = 0;
  const onSignal = () => {
    if (++signals > 1) process.exit(130);
    console.log('\ninterrupted: stopping the traffic and the engine (again to exit at once)');
    aborted = true;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let config: Config | undefined;
  try {
    anvil = await startAnvil({ blockTime: 1 });
    const token = await deployDepositToken(anvil, { name: 'Demo Bank USD Deposit Token', symbol: 'USDd', decimals: 18 });
    const startBlock = await anvil.publicClient.getBlockNumber();
    console.log(`  anvil ${anvil.rpcUrl} (chain ${anvil.chainId}), USD deposit token ${token} at block ${startBlock}`);

    const plan = generateTrafficPlan({
      seed: args.seed,
      durationMs: args.durationS * 1_000,
      rate: args.rate,
      faultShare: args.faults,
      startTime: t0,
      signers: anvil.accounts.slice(1, 10).map((address, i) => ({ accountIndex: i + 1, address })),
      customers: 14,
      idPrefix: `D${t0.toString(36).toUpperCase()}`,
    });
    const httpPort = (await portIsFree(9464)) ? 9464 : await freePort();
    config = buildConfig({ runId, tag, anvil, token, startBlock, plan, httpPort });
    daemon = await startDaemon(config, { log });
    await daemon.ready;
    const http = daemon.httpAddress();
    const metricsUrl = http ? `${http}/metrics` : null;
    console.log(`  engine running: namespace ${config.namespace}, ${plan.customers.length} customers mapped, metrics ${metricsUrl ?? 'off'}`);
    console.log(`  facts: ${config.clickhouse.url ? `${config.clickhouse.url} database ${tag}` : `chdb ${resolve(config.clickhouse.dataDir)} database ${tag}`}`);
    console.log(`playing ${plan.steps.length} steps (${plan.scenarios.length} scenarios, ${plan.scenarios.filter((s) => s.label.fault).length} faulted)...`);

    nc = await connect({ ...natsSecurityOptions(config.nats), servers: config.nats.servers, name: `${runId}-generator` });
    const js = jetstream(nc);
    const d = daemon;
    const ticker = (phase: () => string) => setInterval(() => console.log(summaryLine(d, Math.round((Date.now() - t0) / 1000), phase())), 2_000);
    let phase = 'traffic';
    const timer = ticker(() => phase);
    const rec = await playPlan({ plan, js, config, anvil, token, aborted: () => aborted, input: args.input });
    if (rec.camtEndOfDay) {
      const e = rec.camtEndOfDay;
      console.log(`  end-of-day camt.053: ${e.statements} statements repeating ${e.entries} booked entries: ${e.published} new postings published, ${e.duplicates} recognised`);
    }
    if (rec.failures.length) console.log(`  ${rec.failures.length} step(s) failed, first: ${rec.failures[0]}`);

    if (!aborted) {
      // Every window closes at event time + window; the bank watermark trails by the lateness.
      phase = 'closing windows';
      const settleMs = config.matching.windowMs + config.matching.allowedLatenessMs + 5_000;
      const until = Date.now() + settleMs;
      while (!aborted && Date.now() < until) await sleep(250);
      await daemon.sweep();
      await daemon.balances.checkNow().catch(() => undefined);
      await sleep(config.sink.maxBatchDelayMs + 500);
    }
    clearInterval(timer);
    console.log(summaryLine(daemon, Math.round((Date.now() - t0) / 1000), 'done'));
    const report = await finalReport({ daemon, plan, rec, config, args, metricsUrl });
    console.log(`\n${report.join('\n')}`);
  } catch (e) {
    process.exitCode = 1;
    console.error(`demo failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  } finally {
    await daemon?.stop().catch((e: unknown) => console.error('engine stop failed:', e));
    await anvil?.stop().catch(() => undefined);
    if (config && !args.keepStreams) await cleanUp(config, nc).catch((e: unknown) => console.error('clean-up failed:', e));
    await nc?.drain().catch(() => undefined);
  }
  console.log('stopped.');
  process.exit(process.exitCode ?? (aborted ? 130 : 0));
}

/** Deletes the run's streams and Redis keys; its facts stay in ClickHouse. */
async function cleanUp(config: Config, nc: NatsConnection | undefined): Promise<void> {
  if (nc && !nc.isClosed()) {
    const jsm = await jetstreamManager(nc);
    const n = config.nats;
    for (const s of [n.ledgerStream, n.chainStream, n.mappingStream, n.deadLetterStream]) await jsm.streams.delete(s).catch(() => undefined);
  }
  const redis = connectRedis(config.redis);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${config.namespace}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

await main();
