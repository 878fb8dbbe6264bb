import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configFields, renderConfigDocs } from '../../src/config/configDocs.js';

const page = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');

describe('docs/configuration.md', () => {
  it('is exactly what `npm run docs:config` generates from the zod schema (regenerate it when this fails)', () => {
    expect(page).toBe(renderConfigDocs());
  });

  it('renders the same page twice in one process and across processes (no pid, no clock)', () => {
    expect(renderConfigDocs()).toBe(renderConfigDocs());
    // As a whole number: a pid of 6000 is inside the default `60000` of a duration field.
    expect(page).not.toMatch(new RegExp(`(^|[^0-9])${process.pid}([^0-9]|$)`));
  });

  it('lists nested fields with their defaults, required markers and descriptions', () => {
    const byPath = new Map(configFields().map((f) => [f.path, f]));
    expect(byPath.get('matching.windowMs')).toMatchObject({ type: 'duration: ms, or `500ms`, `90s`, `30m`, `24h`, `7d`', default: '`1800000`' });
    expect(byPath.get('chains[].rpcUrls')?.default).toBe('required');
    expect(byPath.get('balances.toleranceBase')).toMatchObject({ type: 'integer (bigint: number or decimal string)', default: '`0`' });
    expect(byPath.get('alerts.silences[].endsAt')?.type).toBe('timestamp (ISO 8601)');
    expect(byPath.get('tokens')?.default).toBe('`[]`');
    expect(byPath.get('workerId')?.default).toBe('`worker-<pid>`');
  });

  it('gives every leaf field a description', () => {
    const fields = configFields();
    const leaves = fields.filter((f) => !fields.some((g) => g.path.startsWith(`${f.path}.`) || g.path.startsWith(`${f.path}[].`)));
    // The argument names of a custom event are described once, on their parent `fields`.
    const undescribed = leaves.filter((f) => !f.description && !f.path.startsWith('tokens[].events[].fields.'));
    expect(undescribed.map((f) => f.path)).toEqual([]);
  });
});
