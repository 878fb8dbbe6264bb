import { ConfigError } from '../lib/errors.js';
import { redactSecretRef, resolveSecret, type SecretSources } from '../config/secrets.js';
import type { AlertMatch, AlertsConfig, SecretRef } from './alertsConfig.js';

/** A delivery target with its secret resolved. Never log this object: name it by `name`. */
export interface PagerDutyTarget {
  name: string;
  routingKey: string;
  match: AlertMatch;
}
export interface SlackTarget {
  name: string;
  url: string;
  match: AlertMatch;
}
export interface AlertTargets {
  pagerduty: PagerDutyTarget[];
  slack: SlackTarget[];
}

export type { SecretSources } from '../config/secrets.js';

const ROUTING_KEY = /^[A-Za-z0-9]{32}$/;

/**
 * Resolves the routing keys and webhook URLs from the environment or files and validates them, so
 * a bad secret stops the notifier at start with the field's path — and never its value.
 */
export function resolveAlertSecrets(a: AlertsConfig, s: SecretSources): AlertTargets {
  const pagerduty: PagerDutyTarget[] = [];
  const key = (ref: SecretRef, path: string) => {
    const k = resolveSecret(ref, path, s);
    if (!ROUTING_KEY.test(k)) throw new ConfigError(`invalid configuration: ${path}: not a PagerDuty Events API v2 integration key (32 letters and digits)`);
    return k;
  };
  for (const [i, r] of a.pagerduty.routes.entries()) {
    pagerduty.push({ name: `pagerduty:route${i}`, routingKey: key(r.routingKey, `alerts.pagerduty.routes.${i}.routingKey`), match: r.match });
  }
  if (a.pagerduty.routingKey) pagerduty.push({ name: 'pagerduty:default', routingKey: key(a.pagerduty.routingKey, 'alerts.pagerduty.routingKey'), match: {} });
  const slack = a.slack.webhooks.map((w, i) => {
    const path = `alerts.slack.webhooks.${i}.url`;
    const url = resolveSecret(w.url, path, s);
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new ConfigError(`invalid configuration: ${path}: not a URL`);
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new ConfigError(`invalid configuration: ${path}: must be an http(s) URL`);
    if (u.hostname === 'hooks.slack.com' && !u.pathname.startsWith('/services/'))
      throw new ConfigError(`invalid configuration: ${path}: a Slack incoming webhook URL is https://hooks.slack.com/services/…`);
    return { name: `slack:${w.name}`, url, match: w.match };
  });
  const names = new Set<string>();
  for (const t of [...pagerduty, ...slack]) {
    if (names.has(t.name)) throw new ConfigError(`invalid configuration: alerts: two targets named ${t.name}`);
    names.add(t.name);
  }
  return { pagerduty, slack };
}

/** Alerts config with inline secrets replaced by '***' (references to env/file are kept: they are not secrets). */
export function redactAlertsConfig(a: AlertsConfig): AlertsConfig {
  const r = redactSecretRef;
  return {
    ...a,
    pagerduty: { ...a.pagerduty, ...(a.pagerduty.routingKey && { routingKey: r(a.pagerduty.routingKey) }), routes: a.pagerduty.routes.map((x) => ({ ...x, routingKey: r(x.routingKey) })) },
    slack: { ...a.slack, webhooks: a.slack.webhooks.map((w) => ({ ...w, url: r(w.url) })) },
  };
}

/** pino redaction paths for anything that could carry a secret of the alerts section. */
export const ALERT_REDACT_PATHS = [
  'routing_key',
  '*.routing_key',
  'routingKey',
  '*.routingKey',
  'webhookUrl',
  '*.webhookUrl',
  'alerts.pagerduty.routingKey',
  'alerts.pagerduty.routes[*].routingKey',
  'alerts.slack.webhooks[*].url',
  'target.url',
  'target.routingKey',
  'request.routing_key',
];
