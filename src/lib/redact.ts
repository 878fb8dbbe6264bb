/**
 * The one place where secrets are taken out of text before it leaves the process: `check-config`
 * output, every log line (src/observability/logger.ts), error details stored in dead letters and facts, probe
 * answers. Forms covered (test/unit/redact.test.ts proves each):
 *
 * - credentials in a URL's user part, any scheme: `https://user:pw@`, `wss://user:pw@`,
 *   `redis://:pw@`, `nats://user:pw@` → `user:***@`; a lone user part is a token
 *   (`nats://TOKEN@`, `https://KEY@`) → `***@`;
 * - API keys in RPC paths: the segment after Infura's `/v3/`, Alchemy's `/v2/`, and any long opaque
 *   segment (QuickNode's `/<hex>/`, Ankr's, …): 16+ characters of letters, digits, `_` or `-` with
 *   at least one digit, or 32+ of them;
 * - every query value (`?apikey=`, `?key=`, `?token=`, signatures of signed URLs: providers name
 *   them all differently, so no value is trusted), parameter names kept;
 * - Slack webhook paths (`hooks.slack.com/services/T…/B…/…`) and workflow triggers;
 * - secrets resolved at start (passwords, routing keys, webhook URLs) registered with
 *   {@link registerSecret}: every verbatim occurrence, wherever it appears.
 *
 * A redacted part reads `***`, so a reader still sees which host and which form was configured.
 */

export const REDACTED = '***';

/** A path segment that reads like an API key rather than a route name or a number. */
const OPAQUE = (s: string) => /^[A-Za-z0-9_-]+$/.test(s) && !/^0x[0-9a-fA-F]+$/.test(s) && ((s.length >= 16 && /\d/.test(s) && /[A-Za-z]/.test(s)) || s.length >= 32);
/** Path segments after which the next one is a provider's key (Infura /v3/KEY, Alchemy /v2/KEY). */
const KEY_AFTER = new Set(['v2', 'v3']);

/** A URL of any scheme inside free text: stops at whitespace, quotes, brackets and JSON escapes. */
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]{1,15}:\/\/[^\s"'`<>\\|{}^]+/gi;
/** `Bearer <token>` / `Basic <b64>` in header dumps. */
const AUTH_HEADER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/g;
/** `"routing_key":"…"`, `password=…` and the like in JSON or key=value text. */
const SECRET_FIELD = /(["']?)\b(routing_key|routingKey|password|passwd|apikey|api_key|access_token|auth_token|client_secret)\1([ \t]*[:=][ \t]*)(["']?)([^"'\s,;&{}[\]]+)\4/gi;

const registered = new Set<string>();

/**
 * Records a secret resolved at start (a password, a routing key, a webhook URL, a token read from a
 * file) so that every later verbatim occurrence in redacted text becomes `***`. Values shorter than
 * 6 characters are ignored: they would blank out ordinary words.
 */
export function registerSecret(value: string | undefined): void {
  const v = value?.trim();
  if (v && v.length >= 6) registered.add(v);
}

/** Forgets every registered secret (tests). */
export function clearRegisteredSecrets(): void {
  registered.clear();
}

function redactPath(host: string, pathname: string): string {
  if (/(^|\.)hooks\.slack\.com$/i.test(host)) {
    // /services/T…/B…/secret and /triggers/…, /workflows/…: everything after the kind is the secret.
    return pathname.replace(/^(\/[^/]+)\/.+$/, `$1/${REDACTED}`);
  }
  const segments = pathname.split('/');
  return segments.map((s, i) => (s && (OPAQUE(s) || (i > 0 && KEY_AFTER.has(segments[i - 1]!.toLowerCase()) && s.length >= 8)) ? REDACTED : s)).join('/');
}

function redactQuery(search: string): string {
  if (!search || search === '?') return search;
  return `?${search
    .slice(1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      return eq < 0 ? REDACTED : `${pair.slice(0, eq)}=${REDACTED}`;
    })
    .join('&')}`;
}

/**
 * A URL with its secrets replaced by `***` (see the module comment for the forms). Works on
 * `host:port` forms without a scheme and on strings that are not URLs (returned with registered
 * secrets removed). Idempotent.
 */
export function redactUrl(url: string): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)?(?:([^@/?#\s]*)@)?([^/?#\s]*)([^?#\s]*)(\?[^#\s]*)?(#\S*)?$/i.exec(url);
  if (!m) return redactRegistered(url);
  const [, scheme = '', userinfo, host = '', path = '', query = '', hash = ''] = m;
  let user = '';
  if (userinfo !== undefined) {
    const colon = userinfo.indexOf(':');
    // user:password keeps the user (who it is, not a secret); a lone user part (a token) or
    // `:password` is all secret.
    user = colon > 0 ? `${userinfo.slice(0, colon)}:${REDACTED}@` : `${REDACTED}@`;
  }
  return redactRegistered(`${scheme}${user}${host}${redactPath(host, path)}${redactQuery(query)}${hash ? (OPAQUE(hash.slice(1)) ? `#${REDACTED}` : hash) : ''}`);
}

function redactRegistered(text: string): string {
  let out = text;
  for (const s of registered) if (out.includes(s)) out = out.split(s).join(REDACTED);
  return out;
}

/**
 * Free text (an error message, a stack, a JSON log line, a response body) with every URL in it
 * passed through {@link redactUrl}, `Bearer`/`Basic` credentials, `password=`/`"routing_key":`
 * style fields and registered secrets replaced by `***`. Cheap when there is nothing to redact.
 */
export function redactText(text: string): string {
  let out = redactRegistered(text);
  if (out.includes('://')) out = out.replace(URL_IN_TEXT, (u) => redactUrl(u));
  if (/bearer|basic/i.test(out)) out = out.replace(AUTH_HEADER, (_m, kind: string) => `${kind} ${REDACTED}`);
  if (/routing_?key|passw|api_?key|access_token|auth_token|client_secret/i.test(out)) {
    out = out.replace(SECRET_FIELD, (m, q1: string, name: string, sep: string, q2: string, value: string) =>
      value === REDACTED || value === '[redacted]' ? m : `${q1}${name}${q1}${sep}${q2}${REDACTED}${q2}`,
    );
  }
  return out;
}
