/**
 * A watched drop directory of camt files: each `*.xml` at its top level is ingested once it has
 * settled (same size and mtime for `camt.dropDir.settleMs`), then moved to `processed/`, or to
 * `failed/` beside a `<file>.reason.txt` saying why it was refused. A transient failure (NATS
 * down) leaves the file where it is, for the next scan.
 */
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ingestCamt, type CamtIngestDeps, type CamtIngestResult } from './camtIngest.js';

export interface CamtDropDirOptions extends CamtIngestDeps {
  dir: string;
  log?: Logger;
  /** Clock for the settle check, epoch ms; default Date.now. */
  now?: () => number;
}

export interface CamtDropDir {
  /** One scan: ingests every settled file, returns what became of each. */
  scanOnce(): Promise<CamtIngestResult[]>;
  /** Scans every `camt.dropDir.pollIntervalMs` until the returned stop is called (resolves after the scan in progress). */
  start(): { stop(): Promise<void> };
}

async function freeName(dir: string, name: string, sha: string | null): Promise<string> {
  try {
    await stat(join(dir, name));
  } catch {
    return name;
  }
  return `${name}.${(sha ?? Date.now().toString(16)).slice(0, 12)}`;
}

/** Creates the drop directory's `processed/` and `failed/` folders and returns its scanner. */
export function camtDropDir(options: CamtDropDirOptions): CamtDropDir {
  const { dir, log } = options;
  const now = options.now ?? Date.now;
  const settleMs = options.config.camt.dropDir.settleMs;
  const processed = join(dir, 'processed');
  const failed = join(dir, 'failed');
  /** Last size and mtime seen per file, and since when. */
  const seen = new Map<string, { size: number; mtimeMs: number; since: number }>();

  async function scanOnce(): Promise<CamtIngestResult[]> {
    await mkdir(processed, { recursive: true });
    await mkdir(failed, { recursive: true });
    const names = (await readdir(dir, { withFileTypes: true })).filter((d) => d.isFile() && d.name.toLowerCase().endsWith('.xml')).map((d) => d.name);
    names.sort();
    const results: CamtIngestResult[] = [];
    for (const name of names) {
      const path = join(dir, name);
      const st = await stat(path).catch(() => undefined);
      if (!st) continue;
      const prev = seen.get(name);
      if (!prev || prev.size !== st.size || prev.mtimeMs !== st.mtimeMs) {
        seen.set(name, { size: st.size, mtimeMs: st.mtimeMs, since: now() });
        if (settleMs > 0) continue;
      } else if (now() - prev.since < settleMs) continue;
      let result: CamtIngestResult;
      try {
        result = await ingestCamt({ name: path, size: st.size, open: () => createReadStream(path, { highWaterMark: 256 * 1024 }) }, options);
      } catch (e) {
        log?.warn({ err: e, file: path }, 'camt: transient failure, the file stays for the next scan');
        continue;
      }
      seen.delete(name);
      if (result.ok) {
        await rename(path, join(processed, await freeName(processed, name, result.sha256)));
        log?.info({ file: path, statements: result.statements.length, postings: result.postings, published: result.published, duplicates: result.duplicates }, 'camt: ingested');
      } else {
        const target = await freeName(failed, name, result.sha256);
        await writeFile(join(failed, `${target}.reason.txt`), `${result.code}\n${result.reason}\n`);
        await rename(path, join(failed, target));
        log?.warn({ file: path, code: result.code, reason: result.reason }, 'camt: refused, moved to failed/');
      }
      results.push(result);
    }
    return results;
  }

  return {
    scanOnce,
    start() {
      let stopped = false;
      let timer: NodeJS.Timeout | undefined;
      let running: Promise<unknown> = Promise.resolve();
      const tick = () => {
        running = scanOnce()
          .catch((e: unknown) => log?.error({ err: e, dir }, 'camt: drop directory scan failed'))
          .finally(() => {
            if (!stopped) timer = setTimeout(tick, options.config.camt.dropDir.pollIntervalMs);
          });
      };
      tick();
      return {
        async stop() {
          stopped = true;
          if (timer) clearTimeout(timer);
          await running;
        },
      };
    },
  };
}
