import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConfigInput } from '../../src/config/schema.js';

const root = new URL('../../', import.meta.url).pathname;

/** The real daemon (`recon run`) in a child process, so a test can SIGKILL it mid-stream. */
export interface DaemonProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code (or the signal's name). */
  exited: Promise<number | string>;
  kill(signal: NodeJS.Signals): Promise<number | string>;
}

export function writeConfig(dir: string, config: ConfigInput): string {
  const file = join(dir, `recon-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(
    file,
    JSON.stringify(config, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)),
  );
  return file;
}

export function spawnDaemon(configFile: string, env: Record<string, string> = {}): DaemonProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/cli/recon.ts'), 'run'], {
    cwd: root,
    env: { ...process.env, RECON_CONFIG: configFile, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | string>((r) => child.on('exit', (code, signal) => r(code ?? signal ?? -1)));
  return {
    child,
    output: () => out,
    exited,
    async kill(signal) {
      child.kill(signal);
      return exited;
    },
  };
}
