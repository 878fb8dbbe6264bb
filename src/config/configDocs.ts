import { z } from 'zod';
import { configSchema } from './schema.js';
import { DURATION_PATTERN } from './duration.js';

/**
 * Renders docs/configuration.md from the zod schema of the configuration (src/config/schema.ts),
 * so the page cannot drift from what the daemon accepts: `npm run docs:config` writes it and
 * test/unit/configDocs.test.ts fails when the checked-in page differs from this output.
 *
 * The schema goes through zod's own `z.toJSONSchema` (input side: what a file may contain). zod
 * has no JSON Schema for bigints and dates; they are rendered as decimal strings and ISO 8601
 * timestamps, which is what the coercing schema accepts. The output is deterministic: a default
 * computed at parse time (`workerId`) is shown as what it is made of.
 */

type Json = {
  type?: string | string[];
  format?: string;
  pattern?: string;
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minItems?: number;
  minLength?: number;
  properties?: Record<string, Json>;
  required?: string[];
  items?: Json;
  anyOf?: Json[];
  oneOf?: Json[];
  additionalProperties?: Json | boolean;
};

/** One row of the field table. */
export interface ConfigField {
  path: string;
  type: string;
  default: string;
  description: string;
}

const toJson = (): Json =>
  z.toJSONSchema(configSchema, {
    io: 'input',
    unrepresentable: (ctx) => {
      const def = (ctx.zodSchema as unknown as { _zod: { def: { type: string; defaultValue?: unknown } } })._zod.def;
      if (def.type === 'bigint') return { type: 'string', format: 'bigint' };
      if (def.type === 'date') return { type: 'string', format: 'date-time' };
      if (def.type === 'default') return { default: String(def.defaultValue) };
      return 'throw';
    },
    // zod leaves out the default of a field whose inner schema transforms its input (an address
    // is lower-cased), though the default applies all the same: take it from the schema itself.
    override: (ctx) => {
      const def = (ctx.zodSchema as unknown as { _zod: { def: { type: string; defaultValue?: unknown } } })._zod.def;
      const json = ctx.jsonSchema as Json;
      if (def.type === 'default' && json.default === undefined) {
        json.default = JSON.parse(JSON.stringify(def.defaultValue, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
      }
    },
  }) as Json;

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

const bounds = (s: Json): string => {
  const parts: string[] = [];
  if (s.exclusiveMinimum !== undefined) parts.push(`> ${s.exclusiveMinimum}`);
  if (s.minimum !== undefined && s.minimum > -MAX_SAFE) parts.push(`≥ ${s.minimum}`);
  if (s.maximum !== undefined && s.maximum < MAX_SAFE) parts.push(`≤ ${s.maximum}`);
  if (s.exclusiveMaximum !== undefined) parts.push(`< ${s.exclusiveMaximum}`);
  return parts.length ? ` ${parts.join(', ')}` : '';
};

const isSecretRef = (alts: Json[]): boolean => alts.length === 3 && alts[1]?.properties?.env !== undefined && alts[2]?.properties?.file !== undefined;

/** An object alternative of a union: its discriminating constants, e.g. `{ mode: "tag", … }`. */
const variant = (s: Json): string => {
  const consts = Object.entries(s.properties ?? {}).filter(([, p]) => p.const !== undefined);
  if (!consts.length) return 'object';
  return `\`{ ${consts.map(([k, p]) => `${k}: ${JSON.stringify(p.const)}`).join(', ')}, … }\``;
};

/** A short type text: `integer > 0`, `string[] (≥ 1)`, `'a' \| 'b'`, `secret`… */
export const typeOf = (s: Json): string => {
  const alts = s.anyOf ?? s.oneOf;
  if (alts) {
    if (isSecretRef(alts)) return 'secret: string, `{ env }` or `{ file }`';
    if (alts.some((a) => a.pattern === DURATION_PATTERN)) return 'duration: ms, or `500ms`, `90s`, `30m`, `24h`, `7d`';
    return alts.map((a) => (a.type === 'object' ? variant(a) : typeOf(a))).join(' \\| ');
  }
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``;
  if (s.enum) return s.enum.map((v) => `\`${String(v)}\``).join(' \\| ');
  switch (s.type) {
    case 'string':
      if (s.format === 'bigint') return 'integer (bigint: number or decimal string)';
      if (s.format === 'date-time') return 'timestamp (ISO 8601)';
      if (s.format === 'uri') return 'URL';
      if (s.pattern) return `string \`${s.pattern}\``;
      return s.minLength ? 'string (non-empty)' : 'string';
    case 'integer':
    case 'number':
      return `${s.type}${bounds(s)}`;
    case 'boolean':
      return 'boolean';
    case 'array': {
      const item = s.items ? typeOf(s.items) : 'any';
      const simple = /^[a-z]+$/.test(item);
      return `${simple ? `${item}[]` : `list of ${item}`}${s.minItems ? ` (≥ ${s.minItems})` : ''}`;
    }
    case 'object':
      if (s.additionalProperties && typeof s.additionalProperties === 'object') return `map of string → ${typeOf(s.additionalProperties)}`;
      return 'object';
    default:
      return 'any';
  }
};

const showDefault = (value: unknown, required: boolean): string => {
  if (value === undefined) return required ? 'required' : 'unset';
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 0) return '';
  if (value === '') return "`''`";
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return `\`${text.replaceAll('|', '\\|')}\``;
};

const cell = (text: string): string => text.replace(/\s+/g, ' ').replaceAll('|', '\\|').trim();

/**
 * Defaults computed when the configuration is parsed, shown as what they are made of (the value
 * zod reports is this process's). A new computed default belongs here, or the page would differ
 * on every run.
 */
const COMPUTED_DEFAULTS: Record<string, string> = { workerId: '`worker-<pid>`' };

/** Every field of the configuration, depth first, in declaration order. */
export const configFields = (): ConfigField[] => {
  const rows: ConfigField[] = [];
  const walk = (s: Json, path: string, required: boolean): void => {
    // A section (plain object) gets a row only when it says something of its own.
    if (path && !(s.type === 'object' && !s.additionalProperties && !s.description)) {
      rows.push({ path, type: typeOf(s), default: COMPUTED_DEFAULTS[path] ?? showDefault(s.default, required), description: cell(s.description ?? '') });
    }
    const object = s.type === 'array' ? s.items : s;
    const prefix = s.type === 'array' ? `${path}[]` : path;
    if (object?.type !== 'object' || !object.properties) return;
    for (const [name, child] of Object.entries(object.properties)) {
      walk(child, prefix ? `${prefix}.${name}` : name, object.required?.includes(name) ?? false);
    }
  };
  walk(toJson(), '', false);
  return rows;
};

/** The whole Markdown page, ending with a newline. */
export const renderConfigDocs = (): string => {
  const lines = [
    '# Configuration',
    '',
    '<!-- Generated by `npm run docs:config` (scripts/gen-config-docs.ts) from src/config/schema.ts;',
    '     do not edit by hand: test/unit/configDocs.test.ts fails when this page differs from the schema. -->',
    '',
    'One YAML (or JSON) file named by `RECON_CONFIG`, validated once at start by zod',
    '(`src/config/schema.ts`); a bad field fails with its path and reason (exit code 2). Every field',
    'has a default or is optional, so an empty file (or none) is a valid configuration.',
    '`config/recon.example.yaml` is a commented example of the core sections (an `alerts` example is',
    'in [alerts.md](alerts.md#configuration)); `npx recon check-config` validates a file and prints',
    'the effective configuration with secrets redacted.',
    '',
    '## Environment overrides',
    '',
    '| variable | overrides | note |',
    '| --- | --- | --- |',
    '| `RECON_CONFIG` | — | path of the configuration file |',
    '| `CLICKHOUSE_URL` | `clickhouse.url` | setting it switches from embedded chdb to that server (HTTP) |',
    '| `CLICKHOUSE_USER` | `clickhouse.username` | |',
    '| `CLICKHOUSE_PASSWORD` | `clickhouse.password` | keep secrets here, not in the file |',
    '| `CHDB_PATH` | `clickhouse.dataDir` | |',
    '| `CLICKHOUSE_CLUSTER` | `clickhouse.cluster.name` | turns on cluster DDL (replicated + Distributed tables, [deployment.md](deployment.md)) |',
    '| `NATS_URL` | `nats.servers` | comma-separated list |',
    '| `NATS_USER`, `NATS_PASSWORD` / `NATS_PASSWORD_FILE` | `nats.auth` | kept as `{ env }` / `{ file }` references ([security.md](security.md)) |',
    '| `NATS_TOKEN` / `NATS_TOKEN_FILE`, `NATS_CREDS` | `nats.auth` | a token, or a `.creds` file |',
    "| `NATS_INBOX_PREFIX` | `nats.inboxPrefix` | this user's reply inboxes (`deploy/nats/nats.conf`) |",
    '| `REDIS_URL` | `redis.url` | |',
    '| `REDIS_USERNAME`, `REDIS_PASSWORD` / `REDIS_PASSWORD_FILE` | `redis.username`, `redis.password` | |',
    '| `LOG_LEVEL` | `log.level` | |',
    '',
    'Secrets of the notifier (PagerDuty routing keys, Slack webhook URLs) are written as',
    '`{ env: NAME }` or `{ file: /path }` and resolved when the notifier starts; see',
    '[alerts.md](alerts.md#secrets).',
    '',
    '## Fields',
    '',
    '`a[]` is a list whose items have the fields `a[].x`. *required* means the field must be given',
    'when its parent is; *unset* means optional with no default. Durations are in milliseconds,',
    'amounts in the unit the description names.',
    '',
    '| field | type | default | description |',
    '| --- | --- | --- | --- |',
    ...configFields().map((f) => `| \`${f.path}\` | ${f.type} | ${f.default} | ${f.description} |`),
    '',
  ];
  return lines.join('\n');
};
