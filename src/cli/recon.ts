/**
 * The daemon's command line.
 *
 *   recon run            start a worker (npm start): config from RECON_CONFIG + environment
 *   recon migrate        apply the ClickHouse migrations and exit
 *   recon check-config   validate the configuration and print it, secrets redacted
 *   recon aml            compare the shadow rule file with the live one, promote it (src/cli/aml.ts)
 *   recon audit          verify the audit trail's hash chain, print its head (src/cli/audit.ts)
 *   recon cases          list, show and act on cases through the case API (src/cli/cases.ts)
 *   recon report         export a period report as CSV or Parquet (src/cli/report.ts)
 *   recon camt           ingest ISO 20022 camt files, a drop directory or subject (src/cli/camt.ts)
 *
 * Exit codes: 0 success (including a graceful stop on SIGTERM/SIGINT), 1 runtime failure,
 * 2 invalid configuration or usage.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { stringify as toYaml } from 'yaml';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { startDaemon } from '../daemon.js';
import { ConfigError } from '../lib/errors.js';
import { createClickHouse } from '../sinks/clickhouse/createClickHouse.js';
import { migrate } from '../sinks/clickhouse/migrations.js';
import { redactAlertsConfig } from '../alerts/alertSecrets.js';
import { redactConnectionSections } from '../config/connectionSecurity.js';
import { createLogger } from '../observability/logger.js';
import { REDACTED, redactText, redactUrl } from '../lib/redact.js';
import { auditMain } from './audit.js';
import { amlMain } from './aml.js';
import { casesMain } from './cases.js';
import { reportMain } from './report.js';
import { camtMain } from './camt.js';
import { notifyMain } from './notifier.js';
import { redactSecretRef } from '../config/secrets.js';

const USAGE = `usage: recon <command>

commands:
  run            start a reconciliation worker (config: RECON_CONFIG file + environment overrides)
  migrate        apply ClickHouse migrations and exit
  check-config   validate the configuration and print the effective one (secrets redacted)
  notify         run the alert notifier (ALERTS outbox → PagerDuty, Slack); "notify silence …" records a silence
  aml            "aml shadow-report [--from ISO] [--to ISO]" compares the shadow rule file's alerts with the live ones; "aml promote --actor NAME" makes it live, audited
  audit          "audit verify [--from N] [--to N] [--heads FILE]" checks the audit trail; "audit head" prints its head
  cases          "cases list|show|act|proposal|match|unmatch …" through the case API (RECON_API_URL, RECON_API_TOKEN)
  report         "report <positions|matched|exceptions|adjustments|ledger> --from ISO --to ISO --format csv|parquet --out PATH"
  camt           "camt ingest <files…>" | "camt watch <dir>" | "camt consume": ISO 20022 camt.052/053/054 into the ledger stream

environment: RECON_CONFIG, CLICKHOUSE_URL, CLICKHOUSE_USER, CLICKHOUSE_PASSWORD, CHDB_PATH,
             NATS_URL, NATS_USER, NATS_PASSWORD[_FILE], NATS_TOKEN[_FILE], NATS_CREDS,
             REDIS_URL, REDIS_USERNAME, REDIS_PASSWORD[_FILE], LOG_LEVEL`;

/**
 * The configuration as `check-config` prints it: every URL (NATS, Redis, ClickHouse, RPC and
 * websocket endpoints) through {@link redactUrl}, inline passwords and tokens `***`;
 * references to environment variables and files are kept (they are not secrets).
 */
export function redactConfig(config: Config): Config {
  return {
    ...config,
    ...redactConnectionSections(config.nats, config.redis),
    clickhouse: {
      ...config.clickhouse,
      ...(config.clickhouse.url ? { url: redactUrl(config.clickhouse.url) } : {}),
      password: config.clickhouse.password ? REDACTED : '',
    },
    // RPC URLs of hosted providers carry their API key in the path or query, websocket ones too.
    chains: config.chains.map((c) => ({ ...c, rpcUrls: c.rpcUrls.map(redactUrl), wsUrls: c.wsUrls.map(redactUrl) })),
    alerts: redactAlertsConfig(config.alerts),
    cases: { ...config.cases, tokens: config.cases.tokens.map((t) => ({ ...t, token: redactSecretRef(t.token) })) },
  };
}

/** YAML of the effective configuration (bigints as numbers or strings, as in a config file). */
export function formatConfig(config: Config): string {
  const plain = JSON.parse(JSON.stringify(redactConfig(config), (_k, v) => (typeof v === 'bigint' ? (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString()) : v))) as unknown;
  // Last pass over the text: a secret resolved at start or a URL in any other field never prints.
  return redactText(toYaml(plain));
}

async function run(config: Config): Promise<void> {
  const log = createLogger(config.log, { base: { namespace: config.namespace, worker: config.workerId } });
  const daemon = await startDaemon(config, { log });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      log.warn({ signal }, 'second signal: exiting now, unacked messages will be redelivered');
      process.exit(130);
    }
    log.info({ signal }, 'stopping: draining in-flight work (send the signal again to exit at once)');
    daemon.stop().then(
      () => process.exit(0),
      (e: unknown) => {
        log.error({ err: e }, 'graceful stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  await daemon.ready;
  const http = daemon.httpAddress();
  log.info(
    {
      workerId: config.workerId,
      namespace: config.namespace,
      metrics: http ? `${http}/metrics` : null,
      health: http ? `${http}/healthz` : null,
      ready: http ? `${http}/readyz` : null,
      nats: config.nats.servers.map(redactUrl),
      redis: redactUrl(config.redis.url),
      clickhouse: config.clickhouse.url
        ? `${redactUrl(config.clickhouse.url)} database ${config.clickhouse.database}`
        : `chdb ${resolve(config.clickhouse.dataDir)} database ${config.clickhouse.database}`,
    },
    http ? `recon worker running; listening on ${http}` : 'recon worker running (no HTTP server)',
  );

  try {
    await daemon.done;
  } catch {
    // The pipeline failed: logged as fatal by the daemon. Drain what can be drained, then fail.
    await daemon.stop().catch(() => undefined);
    process.exit(1);
  }
  // The pipeline completed without a stop request (streams deleted, connection closed for good).
  if (signals === 0) {
    log.error('pipeline ended without a stop request');
    await daemon.stop().catch(() => undefined);
    process.exit(1);
  }
}

async function runMigrations(config: Config): Promise<void> {
  const log = createLogger(config.log);
  const client = createClickHouse(config.clickhouse, log);
  try {
    const applied = await migrate(client, config.clickhouse.database, log, { cluster: config.clickhouse.cluster });
    log.info({ database: config.clickhouse.database, applied }, applied.length ? `applied migrations ${applied.join(', ')}` : 'schema up to date');
  } finally {
    await client.close().catch(() => undefined);
  }
}

/** Runs the command line; resolves with the exit code for commands that end on their own. */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const command = argv[0];
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    console.log(USAGE);
    return command === undefined ? 2 : 0;
  }
  // A client of the case API: it needs the API's address and a token, not the configuration.
  if (command === 'cases') return casesMain(argv.slice(1), env);
  if (!['run', 'migrate', 'check-config', 'notify', 'audit', 'report', 'camt', 'aml'].includes(command)) {
    console.error(`recon: unknown command '${command}'\n\n${USAGE}`);
    return 2;
  }
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`recon: ${e.shortMessage}${e.details ? `\n${e.details}` : ''}`);
      return 2;
    }
    throw e;
  }
  switch (command) {
    case 'check-config':
      process.stdout.write(formatConfig(config));
      console.error(`recon: configuration is valid${env.RECON_CONFIG ? ` (${env.RECON_CONFIG} + environment)` : ' (defaults + environment)'}`);
      return 0;
    case 'notify':
      return notifyMain(argv.slice(1), config, env);
    case 'audit':
      return auditMain(argv.slice(1), config);
    case 'aml':
      return amlMain(argv.slice(1), config);
    case 'report':
      return reportMain(argv.slice(1), config);
    case 'camt':
      return camtMain(argv.slice(1), config);
    case 'migrate':
      await runMigrations(config);
      return 0;
    default:
      await run(config); // exits the process itself
      return 0;
  }
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (isMain) {
  main(process.argv.slice(2)).then(
    (code) => {
      if (code !== 0 || process.argv[2] !== 'run') process.exit(code);
    },
    (e: unknown) => {
      if (e instanceof ConfigError) {
        console.error(`recon: ${e.shortMessage}`);
        process.exit(2);
      }
      console.error('recon: failed:', e instanceof Error ? (e.stack ?? e.message) : e);
      process.exit(1);
    },
  );
}
