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

  constructor(shortMessage: string, options: { details?: string; cause?: unknown } = {}) {
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
