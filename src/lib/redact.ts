/**
 * Secrets never leave: one place that knows every form a credential takes inside a URL, used by
 * `check-config`, the loggers (every line they write) and the reasons stored with dead letters.
 *
 * Redacted: `user:password@` and `token@` user info (http, ws, nats, redis, …); query parameters
 * (any value: RPC providers put keys in `?apikey=`, `?key=`, `?token=`, signed URLs in others);
 * path segments that look like keys (Infura `/v3/<32 hex>`, Alchemy `/v2/<key>`, QuickNode
 * `/<hex>/`: 16 or more characters of letters, digits, `_` and `-` holding a digit, or 32+ hex);
 * Slack webhook paths (`/services/T…/B…/…`) and PagerDuty routing keys in text.
 */
export const REDACTED = '***';

/** A path segment that is an API key rather than a route name. */
function isSecretSegment(s: string): boolean {
  if (s.length >= 16 && /^[A-Za-z0-9_-]+$/.test(s) && /[0-9]/.test(s)) return true;
  return s.length >= 32 && /^[A-Fa-f0-9]+$/.test(s);
}

/** The URL with its credentials replaced by `***`; a string that is not a URL is returned as is. */
export function redactUrl(url: string): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*@)?([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/i.exec(url);
  if (!m) return url;
  const [, scheme, userinfo, host, path = '', query, fragment = ''] = m;
  let out = scheme!;
  if (userinfo) {
    const info = userinfo.slice(0, -1);
    const colon = info.indexOf(':');
    // user:password@ keeps the user; a lone token@ (nats://token@host, redis://:pass@) is all secret.
    out += colon > 0 ? `${info.slice(0, colon)}:${REDACTED}@` : `${REDACTED}@`;
  }
  out += host;
  if (/^\/services\//.test(path) && /slack\.com$/i.test(host!)) out += `/services/${REDACTED}`;
  else out += path.split('/').map((s) => (isSecretSegment(s) ? REDACTED : s)).join('/');
  if (query) out += `?${query.slice(1).split('&').map((kv) => (kv.includes('=') ? `${kv.slice(0, kv.indexOf('='))}=${REDACTED}` : REDACTED)).join('&')}`;
  return out + fragment;
}

const URL_IN_TEXT = /[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`\\,)\]}]+/gi;
/** A PagerDuty Events API v2 routing key (32 letters and digits) quoted or standing alone. */
const ROUTING_KEY_IN_TEXT = /\b(routing_key|routingKey)("?\s*[:=]\s*"?)[A-Za-z0-9]{32}\b/g;

/** Every URL in free text (an error message, a stack, a log line) with its credentials redacted. */
export function redactText(text: string): string {
  if (!text.includes('://') && !text.includes('outing')) return text;
  return text.replace(URL_IN_TEXT, redactUrl).replace(ROUTING_KEY_IN_TEXT, (_m, k: string, sep: string) => `${k}${sep}${REDACTED}`);
}
