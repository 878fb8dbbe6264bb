/**
 * Writes docs/configuration.md from the zod schema (src/config/configDocs.ts).
 *   npm run docs:config            # regenerate the page
 *   npm run docs:config -- --check # exit 1 when the checked-in page is stale
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderConfigDocs } from '../src/config/configDocs.js';

const target = fileURLToPath(new URL('../docs/configuration.md', import.meta.url));
const page = renderConfigDocs();

if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {
    /* missing counts as stale */
  }
  if (current !== page) {
    console.error('docs/configuration.md is stale: run `npm run docs:config`');
    process.exit(1);
  }
  console.log('docs/configuration.md is up to date');
} else {
  writeFileSync(target, page);
  console.log(`wrote ${target}`);
}
