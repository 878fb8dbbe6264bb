import { isPermanent, ReconError, SinkUnavailable } from './errors.js';
import { redactText } from './redact.js';

/**
 * What a failure while handling one message says about its cause:
 * - `bad-input`: the message itself is wrong (a permanent `ReconError`): dead-letter it now;
 * - `dependency`: a service did not answer or said "not now" (connection refused or closed, a
 *   timeout, Redis loading or failing over, match state being rebuilt): retry with backoff;
 * - `unanticipated`: anything else (a RangeError, a script error on this input's arguments, an
 *   answer nobody expected). Not "a dependency is down": retried up to the delivery limit, then
 *   dead-lettered unless the evidence says every message is failing (src/worker/poisonEvidence.ts).
 */
export type FailureKind = 'bad-input' | 'dependency' | 'unanticipated';

/** Node socket errors: the peer is unreachable or went away. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNABORTED']);
/** Error classes of ioredis and the NATS client that mean "no answer from the server". */
const DEPENDENCY_ERROR_NAMES = new Set(['MaxRetriesPerRequestError', 'ClosedConnectionError', 'DrainingConnectionError', 'ConnectionError', 'TimeoutError', 'NoRespondersError']);
/** Redis error replies that describe the server's state, not the command (and our own STATE_LOST). */
const REDIS_STATE_REPLY = /^(LOADING|BUSY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|READONLY|MOVED|ASK|STATE_LOST)\b/;
/** ioredis' own messages when the connection is not there. */
const REDIS_NOT_CONNECTED = /^(Connection is closed\.|Stream isn't writeable)/;

export function failureKind(e: unknown): FailureKind {
  if (isPermanent(e)) return 'bad-input';
  for (let cur: unknown = e, depth = 0; cur instanceof Error && depth < 8; cur = cur.cause, depth++) {
    if (cur instanceof SinkUnavailable) return 'dependency';
    if (cur instanceof ReconError) continue;
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return 'dependency';
    if (DEPENDENCY_ERROR_NAMES.has(cur.name) || DEPENDENCY_ERROR_NAMES.has(cur.constructor.name)) return 'dependency';
    if (REDIS_STATE_REPLY.test(cur.message) || REDIS_NOT_CONNECTED.test(cur.message)) return 'dependency';
  }
  return 'unanticipated';
}

/** One line for an operator: the error's class and message, never a stack, secrets redacted, bounded. */
export function describeFailure(e: unknown, max = 1_000): string {
  const text = e instanceof ReconError ? e.shortMessage + (e.details ? `: ${e.details}` : '') : e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  const line = redactText(text.replace(/[\r\n]+/g, ' ').toWellFormed());
  return line.length > max ? `${line.slice(0, max)}…` : line;
}
