#!/usr/bin/env node
// Launcher: runs src/cli/recon.ts with `node --import tsx` (tsx resolved from this package, so it
// works from any cwd). The child gets its own process group so one Ctrl-C reaches it once, through
// us: a second signal then means "exit at once", as src/cli/recon.ts documents.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const entry = fileURLToPath(new URL('../src/cli/recon.ts', import.meta.url));
const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), entry, ...process.argv.slice(2)], {
  stdio: 'inherit',
  detached: true,
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => child.kill(signal));
}
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 + 15 : 1)));
