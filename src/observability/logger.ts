import { createHash } from 'node:crypto';
import { pino, type DestinationStream, type Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { redactText } from '../lib/redact.js';

/** Paths of secrets, always redacted (one level of nesting: `{ clickhouse: { password } }`). */
const SECRET_KEYS = ['password', 'pass', 'authorization', 'routingKey', 'routing_key', 'webhookUrl', 'apiKey', 'secret', 'privateKey'];
/** Paths of account identifiers, redacted when `log.redactAccounts` is on. */
const ACCOUNT_KEYS = ['accountId', 'account_id', 'account', 'wallet', 'wallets', 'from', 'to', 'subject_id'];

const paths = (keys: readonly string[]) => keys.flatMap((k) => [k, `*.${k}`]);

/**
 * An account identifier becomes a short keyed hash, so a reader can still tell that two log lines
 * are about the same account without learning which one. The key is per deployment (namespace),
 * so the hash cannot be looked up in a table computed elsewhere.
 */
export function pseudonymise(value: unknown, key: string): string {
  const text = Array.isArray(value) ? value.join(',') : String(value);
  return `anon:${createHash('sha256').update(key).update('\0').update(text).digest('hex').slice(0, 12)}`;
}

export interface CreateLoggerOptions {
  /** Where JSON lines go (default stdout). Tests pass a stream to read them back. */
  destination?: DestinationStream | undefined;
  /** Bound into every line. */
  base?: Record<string, unknown>;
  /** Key of the account pseudonyms (default: the namespace in `base`, else 'recon'). */
  pseudonymKey?: string;
}

/**
 * The daemon's pino logger: JSON lines, the configured level, secrets always redacted and account
 * identifiers (account ids, wallets) pseudonymised when `log.redactAccounts` is on, plus any extra
 * `log.redactPaths`. Every line is also passed through {@link redactText} as it is written, so a
 * secret inside a message or an error (viem prints the RPC URL, with its API key, in its errors;
 * a NATS or Redis error may carry its URL) never reaches the output. Levels: error = needs a human (a failure we cannot retry past), warn = input
 * or state an operator should look at (dead letters, retries), info = lifecycle, debug = one line
 * per message and batch with its correlation id, trace = everything else.
 */
export function createLogger(cfg: Config['log'], options: CreateLoggerOptions = {}): Logger {
  const key = options.pseudonymKey ?? String(options.base?.namespace ?? 'recon');
  const accountPaths = cfg.redactAccounts ? paths(ACCOUNT_KEYS) : [];
  const secretPaths = [...paths(SECRET_KEYS), ...cfg.redactPaths];
  const accountSet = new Set(accountPaths);
  return pino(
    {
      level: cfg.level,
      base: options.base ?? null,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // Credentials inside URLs anywhere in a line (an RPC error quoting its URL) never reach the log.
      hooks: { streamWrite: redactText },
      redact: {
        paths: [...secretPaths, ...accountPaths],
        censor: (value, path) => (accountSet.has(path.length > 1 ? `*.${path[path.length - 1]}` : path[0]!) ? pseudonymise(value, key) : '[redacted]'),
      },
    },
    options.destination,
  );
}

/** Correlation id of a JetStream message: `stream:sequence`, the same in every log line about it from pull to ack. */
export function correlationId(msg: { info?: { stream: string }; seq: number }, fallbackStream = '?'): string {
  let stream = fallbackStream;
  try {
    stream = msg.info?.stream ?? fallbackStream;
  } catch {
    // info is parsed from the reply subject; a message built by hand (tests) has none.
  }
  return `${stream}:${msg.seq}`;
}
