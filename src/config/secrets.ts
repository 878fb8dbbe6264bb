import { readFileSync } from 'node:fs';
import { ConfigError } from '../lib/errors.js';
import { registerSecret } from '../lib/redact.js';
import type { SecretRef } from '../alerts/alertsConfig.js';

/** Where secrets referenced by the configuration are read from (tests pass their own). */
export interface SecretSources {
  env: Record<string, string | undefined>;
  readFile?: (path: string) => string;
}

/**
 * The value of a secret reference: inline, `{ env: NAME }` or `{ file: PATH }` (a mounted Docker or
 * Kubernetes secret), trimmed. The value is registered for redaction (src/lib/redact.ts), so it
 * never appears in a log line or a stored error afterwards; a missing one fails with the field's
 * `path`, never its value.
 */
export function resolveSecret(ref: SecretRef, path: string, s: SecretSources): string {
  let value: string;
  if (typeof ref === 'string') value = ref.trim();
  else if ('env' in ref) {
    const v = s.env[ref.env];
    if (!v) throw new ConfigError(`invalid configuration: ${path}: environment variable ${ref.env} is not set`);
    value = v.trim();
  } else {
    try {
      value = (s.readFile ?? ((p) => readFileSync(p, 'utf8')))(ref.file).trim();
    } catch (e) {
      throw new ConfigError(`invalid configuration: ${path}: cannot read secret file ${ref.file}`, { cause: e });
    }
  }
  registerSecret(value);
  return value;
}

/** A secret reference as `check-config` prints it: references kept (they are not secrets), values `***`. */
export const redactSecretRef = (ref: SecretRef): SecretRef => (typeof ref === 'string' ? '***' : ref);
