/**
 * Errors in the manner of viem's BaseError: a short message an operator understands, details,
 * and a cause chain. `permanent` decides retry (transient: a sink or RPC is down) against
 * dead-letter (permanent: the input itself is bad) in the type, never by parsing messages.
 */
export abstract class ReconError extends Error {
  abstract readonly code: string;
  abstract readonly permanent: boolean;
  readonly shortMessage: string;
  readonly details: string | undefined;

  constructor(shortMessage: string, options: { details?: string | undefined; cause?: unknown } = {}) {
    super(options.details ? `${shortMessage}\n\nDetails: ${options.details}` : shortMessage, {
      cause: options.cause,
    });
    this.shortMessage = shortMessage;
    this.details = options.details;
    this.name = new.target.name;
  }

  /** The deepest cause in the chain (or this error). */
  walk(): unknown {
    let e: unknown = this;
    while (e instanceof Error && e.cause !== undefined) e = e.cause;
    return e;
  }
}

/** The bytes could not be decoded (not Avro of a known schema, truncated, unknown version). */
export class DecodeError extends ReconError {
  readonly code = 'DECODE_ERROR';
  readonly permanent = true;
}

/** The message decoded but breaks a business rule (negative amount, unknown currency, bad address). */
export class SchemaViolation extends ReconError {
  readonly code = 'SCHEMA_VIOLATION';
  readonly permanent = true;
}

/** An account, wallet or token that no mapping knows, where policy says reject. */
export class UnmappedIdentity extends ReconError {
  readonly code = 'UNMAPPED_IDENTITY';
  readonly permanent = true;
}

/** Redis replicas did not acknowledge the state writes in time (`redis.waitReplicas`): retry, never dead-letter. */
export class ReplicationLagging extends ReconError {
  readonly code = 'REPLICATION_LAGGING';
  readonly permanent = false;
}

/** A sink (ClickHouse, Redis, NATS) is unavailable: retry, never dead-letter. */
export class SinkUnavailable extends ReconError {
  readonly code = 'SINK_UNAVAILABLE';
  readonly permanent = false;
}

/** Configuration is invalid; names the field. */
export class ConfigError extends ReconError {
  readonly code = 'CONFIG_ERROR';
  readonly permanent = true;
}

export function isPermanent(e: unknown): e is ReconError {
  return e instanceof ReconError && e.permanent;
}

/**
 * A Redis script could not apply its change for one input (a Lua runtime error on that input's
 * arguments). Not a dependency outage: Redis answered. Whether the input is poison is decided by
 * evidence (see src/worker/poisonEvidence.ts), so it is not permanent by itself.
 */
export class ScriptError extends ReconError {
  readonly code = 'SCRIPT_ERROR';
  readonly permanent = false;
}

/**
 * ClickHouse refused a write for good (the server parsed the request and said no: bad data for a
 * column, a value out of range). Retrying the same rows cannot succeed; the batch is bisected to
 * the message whose facts the server refuses.
 */
export class SinkRejected extends ReconError {
  readonly code = 'SINK_REJECTED';
  readonly permanent = true;
  /** The server's numeric error code (e.g. '27' CANNOT_PARSE_INPUT_ASSERTION_FAILED). */
  readonly serverCode: string;

  constructor(shortMessage: string, options: { serverCode: string; details?: string | undefined; cause?: unknown }) {
    super(shortMessage, options);
    this.serverCode = options.serverCode;
  }
}

/**
 * A message kept failing while others went through: it reached the delivery limit and is
 * dead-lettered with its last error as the cause.
 */
export class PoisonMessage extends ReconError {
  readonly code = 'POISON_MESSAGE';
  readonly permanent = true;
}
