import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url).pathname;

/** Relative imports of each file under `dir` (one level), as written. */
function importsOf(dir: string): { file: string; spec: string }[] {
  const out: { file: string; spec: string }[] = [];
  for (const f of readdirSync(join(root, dir))) {
    if (!f.endsWith('.ts')) continue;
    const text = readFileSync(join(root, dir, f), 'utf8');
    for (const m of text.matchAll(/from '([^']+)'/g)) out.push({ file: `${dir}/${f}`, spec: m[1]! });
  }
  return out;
}

describe('the domain', () => {
  it('imports nothing but itself, the typed errors and pure libraries: no state, sinks, streams or I/O', () => {
    const allowedPackages = new Set(['zod', 'viem', 'node:crypto']);
    const offending = importsOf('src/domain').filter(({ spec }) => (spec.startsWith('.') ? !(spec.startsWith('./') || spec === '../lib/errors.js') : !allowedPackages.has(spec)));
    expect(offending).toEqual([]);
  });
});
