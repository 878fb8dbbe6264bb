/**
 * The watch list (sanctioned or watch-listed addresses and accounts): the union of a file and of
 * what is published on a NATS subject, both hot-reloadable. The file is one entry per line (`#`
 * comments), or a YAML/JSON list; it is re-read when it changes. A NATS message is JSON
 * `{"add": [...]}`, `{"remove": [...]}` or `{"replace": [...]}` and changes the published part
 * (every worker subscribes, so all see it). Entries are compared lower case.
 */
import { readFileSync, unwatchFile, watchFile, type Stats } from 'node:fs';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

const updateSchema = z.union([
  z.object({ add: z.array(z.string().min(1)) }).strict(),
  z.object({ remove: z.array(z.string().min(1)) }).strict(),
  z.object({ replace: z.array(z.string().min(1)) }).strict(),
]);
export type WatchlistUpdate = z.infer<typeof updateSchema>;

/** Parses a watch-list file's text: a YAML/JSON list, or one entry per line with # comments. */
export function parseWatchlistText(text: string): string[] {
  const trimmed = text.trim();
  if (trimmed.startsWith('[') || trimmed.startsWith('-')) {
    const doc = parseYaml(trimmed) as unknown;
    return z.array(z.union([z.string(), z.number()]).transform(String)).parse(doc).map((s) => s.trim().toLowerCase()).filter(Boolean);
  }
  return trimmed.split(/\r?\n/).map((l) => l.replace(/#.*/, '').trim().toLowerCase()).filter(Boolean);
}

export interface Watchlist {
  current(): ReadonlySet<string>;
  /** Applies an update as if it had arrived on the subject. */
  apply(update: WatchlistUpdate): void;
  /** Re-reads the file now. */
  reloadFile(): void;
  stop(): void;
}

export interface WatchlistOptions {
  file?: string;
  nats?: NatsConnection;
  subject?: string;
  pollIntervalMs?: number;
  log: Logger;
}

export function startWatchlist(o: WatchlistOptions): Watchlist {
  let fromFile = new Set<string>();
  let published = new Set<string>();
  let effective = new Set<string>();
  const rebuild = () => { effective = new Set([...fromFile, ...published]); };
  const reloadFile = () => {
    if (!o.file) return;
    try {
      fromFile = new Set(parseWatchlistText(readFileSync(o.file, 'utf8')));
      rebuild();
      o.log.info({ file: o.file, entries: fromFile.size }, 'aml: watch list file loaded');
    } catch (e) {
      o.log.error({ err: e, file: o.file }, 'aml: watch list file unreadable; keeping the previous list');
    }
  };
  const apply = (u: WatchlistUpdate) => {
    if ('replace' in u) published = new Set(u.replace.map((s) => s.toLowerCase()));
    else if ('add' in u) for (const s of u.add) published.add(s.toLowerCase());
    else for (const s of u.remove) published.delete(s.toLowerCase());
    rebuild();
  };
  reloadFile();
  const listener = (cur: Stats, prev: Stats) => { if (cur.mtimeMs !== prev.mtimeMs || cur.size !== prev.size) reloadFile(); };
  if (o.file) watchFile(o.file, { interval: o.pollIntervalMs ?? 2_000 }, listener);
  let sub: Subscription | undefined;
  if (o.nats && o.subject) {
    sub = o.nats.subscribe(o.subject, {
      callback: (err, msg) => {
        if (err) return;
        try {
          apply(updateSchema.parse(JSON.parse(msg.string())));
          o.log.info({ entries: effective.size }, 'aml: watch list updated from NATS');
        } catch (e) {
          o.log.warn({ err: e, subject: msg.subject }, 'aml: invalid watch list update ignored');
        }
      },
    });
  }
  return {
    current: () => effective,
    apply,
    reloadFile,
    stop() {
      if (o.file) unwatchFile(o.file, listener);
      sub?.unsubscribe();
    },
  };
}
