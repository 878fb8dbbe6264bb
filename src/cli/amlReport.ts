/**
 * `npm run aml:report [-- --seed 7 --days 120 --customers 60 --per 6 --rules config/aml-rules.yaml]`
 *
 * Precision and recall of the AML rules per typology, measured on the real pipeline: a labelled
 * synthetic data set (src/generator/aml) is published to JetStream — bank postings Avro-encoded on
 * the LEDGER stream, chain events on the CHAIN stream in the ingester's wire format — and consumed
 * by a real worker (decode, match-or-park and AML windows in Redis, facts in ClickHouse, ack after
 * durable). The alerts are then read back from `aml_alerts` and scored against the labels. The
 * chain side skips anvil: the events carry the data set's block times (120 days of history),
 * which an anvil chain cannot mint in seconds; the ingester is covered by its own tests.
 */
import { natsSecurityOptions } from '../config/connectionSecurity.js';
import { connectRedis } from '../state/redisClient.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type PubAck } from '@nats-io/jetstream';
import { pino } from 'pino';
import { parseConfig } from '../config/load.js';
import { startDaemon } from '../daemon.js';
import { generateAmlDataset } from '../generator/aml/amlDataset.js';
import { formatScores, scoreAlerts } from '../generator/aml/scoreAlerts.js';
import { publishPosting } from '../generator/publishPosting.js';
import { queryRows } from '../sinks/clickhouse/queries.js';
import { chainEventMessages } from '../streams/chain/chainEventCodec.js';
import { ensureLocalServices } from './localServices.js';
import { chainSubject } from '../streams/chain/chainSubjects.js';

const DAY = 86_400_000;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string', default: '7' },
      days: { type: 'string', default: '120' },
      customers: { type: 'string', default: '60' },
      per: { type: 'string', default: '6' },
      rules: { type: 'string', default: 'config/aml-rules.yaml' },
      dataset: { type: 'string', default: 'generator' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log('usage: npm run aml:report -- [--dataset generator|amlsim] [--seed 7] [--days 120] [--customers 60] [--per 6] [--rules config/aml-rules.yaml] [--json]');
    return 0;
  }
  if (values.dataset === 'amlsim') {
    const { amlSimReport } = await import('./amlSimReport.js');
    return amlSimReport({ rules: values.rules, json: values.json, redisUrl: process.env.AML_REDIS_URL ?? 'redis://127.0.0.1:6379' });
  }
  if (values.dataset !== 'generator') throw new Error(`unknown --dataset ${values.dataset} (generator | amlsim)`);
  const seed = Number(values.seed);
  const days = Number(values.days);
  const began = Date.now();
  await ensureLocalServices();
  const dataset = generateAmlDataset({ seed, startTime: Math.floor(Date.now() / DAY) * DAY - days * DAY, days, customers: Number(values.customers), perTypology: Number(values.per) });
  const dir = mkdtempSync(join(tmpdir(), 'aml-report-'));
  const watchlistFile = join(dir, 'watchlist.txt');
  writeFileSync(watchlistFile, `# sanctioned addresses of the synthetic data set\n${dataset.watchlist.join('\n')}\n`);
  const id = randomUUID().slice(0, 8);
  const config = parseConfig({
    namespace: `amlreport${id}`,
    nats: {
      ledgerStream: `AML_LEDGER_${id}`,
      ledgerSubjects: [`amlr_${id}.ledger.>`],
      chainStream: `AML_CHAIN_${id}`,
      chainSubjectPrefix: `amlr_${id}.chain`,
      mappingStream: `AML_MAP_${id}`,
      mappingSubject: `amlr_${id}.mapping`,
      deadLetterStream: `AML_DL_${id}`,
      deadLetterSubjectPrefix: `amlr_${id}.dl`,
      consumerName: 'aml-report',
    },
    clickhouse: { database: 'amlreport', dataDir: join(dir, 'chdb') },
    tokens: [{ chainId: dataset.chainId, address: dataset.token, currency: dataset.currency }],
    accounts: dataset.accounts,
    http: { port: -1 },
    log: { level: 'warn' },
    aml: { enabled: true, rulesFile: resolve(values.rules), watchlistFile, reloadSubject: `amlr_${id}.reload`, watchlistSubject: `amlr_${id}.watch` },
  });
  const log = pino({ level: 'warn' });
  const daemon = await startDaemon(config, { log, ingest: false });
  const nc = await connect({ ...natsSecurityOptions(config.nats), servers: config.nats.servers });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  try {
    await daemon.ready;
    console.error(`aml:report: ${dataset.events.length} events (${dataset.accounts.length} customers, ${days} days, seed ${seed}); publishing…`);
    const inflight: Promise<PubAck>[] = [];
    for (const e of dataset.events) {
      // Each data-set event is alone in its block: one message in the ingester's format, its id.
      const block = e.t === 'posting' ? null : chainEventMessages([e.event])[0]!;
      inflight.push(
        e.t === 'posting'
          ? publishPosting(js, `amlr_${id}.ledger.postings`, e.posting)
          : js.publish(chainSubject(config.nats.chainSubjectPrefix, e.event.chainId, 'events'), block!.data, { msgID: block!.msgID }),
      );
      if (inflight.length >= 256) await Promise.all(inflight.splice(0));
    }
    await Promise.all(inflight);
    const published = Date.now();
    for (;;) {
      const [l, c] = await Promise.all([config.nats.ledgerStream, config.nats.chainStream].map((s) => jsm.consumers.info(s, config.nats.consumerName)));
      if (l!.num_pending + l!.num_ack_pending + c!.num_pending + c!.num_ack_pending === 0) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const processed = Date.now();
    const alerts = await queryRows<{ rule_id: string; rule_type: string; evidence_event_ids: string[] }>(
      daemon.clickhouse,
      `SELECT rule_id, rule_type, evidence_event_ids FROM ${config.clickhouse.database}.aml_alerts FINAL`,
    );
    const scores = scoreAlerts(dataset.instances, alerts);
    if (values.json) {
      console.log(JSON.stringify({ seed, days, events: dataset.events.length, alerts: alerts.length, scores }, null, 2));
    } else {
      console.log(`\nAML rules (${resolve(values.rules)}, version ${daemon.aml!.rules.current().version}) on the real pipeline`);
      console.log(
        `data set: seed ${seed}, ${days} days, ${dataset.accounts.length} customers, ${dataset.events.length} events, ` +
          `${dataset.instances.filter((i) => i.positive).length} typology instances + ${dataset.instances.filter((i) => !i.positive).length} near misses`,
      );
      console.log(`pipeline: published in ${((published - began) / 1000).toFixed(1)} s, all acked ${((processed - published) / 1000).toFixed(1)} s later; ${alerts.length} alerts\n`);
      console.log(formatScores(scores));
      const byRule = new Map<string, number>();
      for (const a of alerts) byRule.set(a.rule_id, (byRule.get(a.rule_id) ?? 0) + 1);
      console.log(
        `\nalerts per rule: ${[...byRule]
          .sort()
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}`,
      );
    }
    return 0;
  } finally {
    await daemon.stop();
    for (const s of [config.nats.ledgerStream, config.nats.chainStream, config.nats.mappingStream, config.nats.deadLetterStream]) await jsm.streams.delete(s).catch(() => undefined);
    await nc.close();
    const r = connectRedis(config.redis);
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${config.namespace}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await r.del(...keys);
    } while (cursor !== '0');
    await r.quit();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error('aml:report failed:', e instanceof Error ? (e.stack ?? e.message) : e);
    process.exit(1);
  },
);
