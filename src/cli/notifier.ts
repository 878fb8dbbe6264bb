/**
 * `recon notify`: the alert notifier (PagerDuty, Slack) as its own process, consuming the ALERTS
 * outbox the workers publish to. `recon notify silence …` records a silence.
 *
 *   recon notify                                   run the notifier until SIGTERM/SIGINT
 *   recon notify silence --kind MISSING_MINT --for 2h --by alice --why "bank maintenance window"
 *   recon notify silence --account ACC-1 --wallet 0x… --until 2030-01-01T00:00:00Z --by … --why …
 *   recon notify silence --id <id> --lift --by … --why …   (ends a silence now)
 */
import { createServer } from 'node:http';
import { natsSecurityOptions } from '../config/connectionSecurity.js';
import { createLogger } from '../observability/logger.js';
import { randomUUID } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { Config } from '../config/schema.js';
import { ensureNotifierStreams } from '../alerts/alertStreams.js';
import { startNotifier } from '../alerts/notifier.js';
import { publishSilence } from '../alerts/silences.js';
import { ConfigError } from '../lib/errors.js';

export const NOTIFY_USAGE = `usage: recon notify [silence --kind K | --account A | --wallet W (--for 2h | --until ISO) --by WHO --why TEXT [--id ID] | silence --id ID --lift --by WHO --why TEXT]`;

const DURATION = /^(\d+)(ms|s|m|h|d)$/;
const UNIT: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `--name value` pairs (and bare `--lift`). */
function flags(args: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('--')) throw new ConfigError(`unexpected argument '${a}'\n${NOTIFY_USAGE}`);
    const name = a.slice(2);
    if (name === 'lift') {
      out.lift = 'true';
      continue;
    }
    const v = args[++i];
    if (v === undefined) throw new ConfigError(`--${name} needs a value\n${NOTIFY_USAGE}`);
    out[name] = v;
  }
  return out;
}

async function silence(config: Config, args: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const f = flags(args);
  const now = Date.now();
  let endsAt: Date;
  if (f.lift) endsAt = new Date(now);
  else if (f.until) endsAt = new Date(f.until);
  else if (f.for && DURATION.test(f.for)) {
    const [, n, u] = DURATION.exec(f.for)!;
    endsAt = new Date(now + Number(n) * UNIT[u!]!);
  } else throw new ConfigError(`a silence needs --for <n>(s|m|h|d) or --until <ISO time>\n${NOTIFY_USAGE}`);
  const nc = await connect({ ...natsSecurityOptions(config.nats, { env }), servers: config.nats.servers });
  try {
    const jsm = await jetstreamManager(nc);
    await ensureNotifierStreams(
      jsm,
      config.alerts,
      { stream: config.nats.deadLetterStream, subjectPrefix: config.nats.deadLetterSubjectPrefix, limits: config.nats.limits.deadLetter },
      config.nats.replicas,
    );
    const s = await publishSilence(jetstream(nc), config.alerts.silenceSubject, {
      id: f.id ?? randomUUID(),
      match: { ...(f.kind && { kind: f.kind }), ...(f.account && { account: f.account }), ...(f.wallet && { wallet: f.wallet }) },
      startsAt: new Date(now),
      endsAt,
      createdBy: f.by ?? '',
      comment: f.why ?? '',
    }).catch((e: unknown) => {
      throw new ConfigError(`invalid silence: ${(e as Error).message}`);
    });
    console.log(JSON.stringify(s));
    return 0;
  } finally {
    await nc.close();
  }
}

async function run(config: Config, env: NodeJS.ProcessEnv): Promise<number> {
  const log = createLogger(config.log, { base: { namespace: config.namespace, worker: `${config.workerId}-notifier` } });
  const notifier = await startNotifier({ config, secrets: { env }, log });
  await notifier.ready;
  let server: ReturnType<typeof createServer> | undefined;
  if (config.alerts.httpPort >= 0) {
    server = createServer(async (req, res) => {
      if (req.url === '/metrics') {
        res.setHeader('content-type', notifier.registry.contentType);
        res.end(await notifier.registry.metrics());
      } else if (req.url === '/healthz') res.end('ok');
      else {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((r) => server!.listen(config.alerts.httpPort, config.http.host, r));
  }
  log.info({ ...notifier.targets, metrics: server ? `http://${config.http.host}:${config.alerts.httpPort}/metrics` : null }, 'recon notifier running');
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) process.exit(130);
    log.info({ signal }, 'stopping the notifier (held alerts stay unacked and are redelivered)');
    server?.close();
    notifier.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  await notifier.done;
  return 0;
}

/** Entry of `recon notify …`; resolves with the exit code (run exits the process itself on a signal). */
export async function notifyMain(args: readonly string[], config: Config, env: NodeJS.ProcessEnv): Promise<number> {
  if (args[0] === 'silence') return silence(config, args.slice(1), env);
  if (args.length > 0) throw new ConfigError(`unknown notify argument '${args[0]}'\n${NOTIFY_USAGE}`);
  return run(config, env);
}
