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
import { identifierString } from '../config/schema.js';
import { identifierProblem, preview } from '../domain/inputBounds.js';
import { SchemaViolation } from '../lib/errors.js';

/** Most entries one update or file may carry: a watch list is thousands of entries, not millions. */
export const MAX_WATCHLIST_ENTRIES = 100_000;

/** An entry (address or account id): an identifier at the door (src/domain/inputBounds.ts). */
const entries = z.array(identifierString()).max(MAX_WATCHLIST_ENTRIES);
const updateSchema = z.union([z.object({ add: entries }).strict(), z.object({ remove: entries }).strict(), z.object({ replace: entries }).strict()]);
export type WatchlistUpdate = z.infer<typeof updateSchema>;

/**
 * Parses a watch-list update message (JSON); `SchemaViolation` naming each bad field (`add.3:
 * identifier contains U+0007 …`) when it is not JSON or breaks the contract.
 */
export function parseWatchlistUpdate(text: string): WatchlistUpdate {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (cause) {
    throw new SchemaViolation(`watch-list update is not JSON: ${(cause as Error).message}`, { cause });
  }
  const keys = typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? Object.keys(doc) : [];
  const key = keys.length === 1 ? (['add', 'remove', 'replace'] as const).find((k) => k === keys[0]) : undefined;
  if (!key) {
    throw new SchemaViolation(
      `watch-list update must be one of {"add"|"remove"|"replace": [...]}, got ${keys.length > 0 ? `keys ${preview(keys.join(', '))}` : preview(JSON.stringify(doc) ?? String(doc))}`,
    );
  }
  const r = entries.safeParse((doc as Record<string, unknown>)[key]);
  if (r.success) return { [key]: r.data } as WatchlistUpdate;
  const reasons = r.error.issues
    .slice(0, 10)
    .map((i) => `${[key, ...i.path].join('.')}: ${i.message}`)
    .join('; ');
  throw new SchemaViolation(`watch-list update refused: ${reasons}`, { cause: r.error });
}

/**
 * Parses a watch-list file's text: a YAML/JSON list, or one entry per line with # comments.
 * Every entry must be an identifier; `SchemaViolation` names the first bad one (line or index).
 */
export function parseWatchlistText(text: string): string[] {
  const trimmed = text.trim();
  let list: string[];
  let where: (i: number) => string;
  if (trimmed.startsWith('[') || trimmed.startsWith('-')) {
    const doc = parseYaml(trimmed) as unknown;
    list = z
      .array(z.union([z.string(), z.number()]).transform(String))
      .parse(doc)
      .map((s) => s.trim());
    where = (i) => `entry ${i}`;
  } else {
    list = trimmed.split(/\r?\n/).map((l) => l.replace(/#.*/, '').trim());
    where = (i) => `line ${i + 1}`;
  }
  const out: string[] = [];
  list.forEach((entry, i) => {
    if (entry === '') return;
    const p = identifierProblem(entry);
    if (p) throw new SchemaViolation(`watch list ${where(i)}: identifier ${p} (${preview(entry)})`);
    out.push(entry.toLowerCase());
  });
  if (out.length > MAX_WATCHLIST_ENTRIES) throw new SchemaViolation(`watch list has ${out.length} entries; at most ${MAX_WATCHLIST_ENTRIES} are allowed`);
  return out;
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
  const rebuild = () => {
    effective = new Set([...fromFile, ...published]);
  };
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
  const listener = (cur: Stats, prev: Stats) => {
    if (cur.mtimeMs !== prev.mtimeMs || cur.size !== prev.size) reloadFile();
  };
  if (o.file) watchFile(o.file, { interval: o.pollIntervalMs ?? 2_000 }, listener);
  let sub: Subscription | undefined;
  if (o.nats && o.subject) {
    sub = o.nats.subscribe(o.subject, {
      callback: (err, msg) => {
        if (err) return;
        try {
          apply(parseWatchlistUpdate(msg.string()));
          o.log.info({ entries: effective.size }, 'aml: watch list updated from NATS');
        } catch (e) {
          // Core NATS, no stream to dead-letter from: the reason (naming the field) is logged, the list kept.
          o.log.warn({ reason: e instanceof SchemaViolation ? e.shortMessage : String(e), subject: msg.subject }, 'aml: invalid watch list update ignored');
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
