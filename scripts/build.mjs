#!/usr/bin/env node
// npm run build: compiles src/ to dist/ (tsconfig.build.json) and copies the files the code reads
// beside itself at run time (Redis Lua scripts), so `node dist/cli/recon.js` needs neither tsx
// nor TypeScript. Usage: node scripts/build.mjs [outDir]   (default dist)
import { execFileSync } from 'node:child_process';
import { cpSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(root, process.argv[2] ?? 'dist');
const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');

rmSync(out, { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', out], { stdio: 'inherit', cwd: root });

const assets = [];
const walk = (dir) => {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.name.endsWith('.lua') || e.name.endsWith('.html')) assets.push(p);
  }
};
walk(join(root, 'src'));
for (const a of assets) cpSync(a, join(out, relative(join(root, 'src'), a)));
console.error(`build: ${relative(root, out) || '.'} (${assets.length} assets copied: Lua scripts, the console page)`);
