import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const read = (p: string) => readFileSync(join(root, p), 'utf8');
const readme = read('README.md');

const walk = (dir: string): string[] =>
  readdirSync(join(root, dir)).flatMap((name) => {
    const p = join(dir, name);
    return statSync(join(root, p)).isDirectory() ? [p, ...walk(p)] : [p];
  });
const docPages = walk('docs').filter((p) => p.endsWith('.md'));

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/ /g, '-');
const anchorsOf = (markdown: string) =>
  new Set(
    markdown
      .replace(/```[\s\S]*?```/g, '')
      .split('\n')
      .filter((l) => /^#{1,6} /.test(l))
      .map((l) => slug(l.replace(/^#+ /, ''))),
  );

/** Relative Markdown links of a page: [text](target#anchor). */
const linksOf = (markdown: string) => [...markdown.replace(/```[\s\S]*?```/g, '').matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((t) => !/^[a-z]+:/.test(t));

describe('README', () => {
  it('stays within 10,000 characters and shows how to run the demo and the tests', () => {
    expect(readme.length).toBeLessThanOrEqual(10_000);
    expect(readme).toContain('npm run demo');
    expect(readme).toContain('npm test');
  });

  it('has a project layout that matches the tree: every src folder listed, every listed path present', () => {
    const layout = /## Project layout\n\n```\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    const listed = layout
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(/\s+/)[0]!.replace(/\/$/, ''));
    const srcDirs = walk('src').filter((p) => statSync(join(root, p)).isDirectory());
    expect(srcDirs.filter((d) => !listed.includes(d))).toEqual([]);
    expect(listed.filter((p) => !existsSync(join(root, p)))).toEqual([]);
  });

  it('links every page under docs/ (decision records through their index)', () => {
    const fromReadme = new Set(linksOf(readme).map((t) => t.split('#')[0]!));
    const decisionsIndex = read('docs/decisions/README.md');
    const fromIndex = new Set(linksOf(decisionsIndex).map((t) => join('docs/decisions', t.split('#')[0]!)));
    const unlinked = docPages.filter((p) => !fromReadme.has(p) && !fromIndex.has(p));
    expect(unlinked).toEqual([]);
  });
});

describe('docs', () => {
  it('has no broken relative link or anchor in the README or any docs page', () => {
    const broken: string[] = [];
    for (const page of ['README.md', ...docPages]) {
      for (const target of linksOf(read(page))) {
        const [file = '', anchor] = target.split('#');
        const path = file ? relative(root, resolve(root, dirname(page), file)) : page;
        if (!existsSync(join(root, path))) {
          broken.push(`${page}: ${target}`);
          continue;
        }
        if (anchor && !anchorsOf(read(path)).has(anchor)) broken.push(`${page}: ${target} (no such heading)`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('has a runbook entry for every discrepancy kind in the code and every Prometheus alert rule', () => {
    const types = read('src/domain/types.ts');
    const union = /export type DiscrepancyKind =([^;]+);/.exec(types)?.[1] ?? '';
    const kinds = [...union.matchAll(/'([A-Z_]+)'/g)].map((m) => m[1]!);
    expect(kinds.length).toBeGreaterThan(10);
    const rules = (parse(read('deploy/prometheus/alerts.yml')) as { groups: { rules: { alert: string }[] }[] }).groups.flatMap((g) => g.rules.map((r) => r.alert));
    expect(rules.length).toBeGreaterThan(10);
    const anchors = anchorsOf(read('docs/runbook.md'));
    expect([...kinds, ...rules].filter((name) => !anchors.has(slug(name)))).toEqual([]);
  });
});
