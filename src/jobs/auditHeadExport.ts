import { open } from 'node:fs/promises';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { AuditLog } from '../cases/auditLog.js';
import type { AnchorHead, ExportedHead } from '../cases/headAnchor.js';
import { repeatEvery } from '../lib/repeatEvery.js';

/** Raises the last exported seq, never lowers it. KEYS[1] the key, ARGV[1] the seq. */
const RAISE_LUA = `local v = tonumber(redis.call('GET', KEYS[1]) or '0')
if v < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) return 1 end
return 0`;

export interface AuditHeadExport {
  /** Exports the last durable head if it moved since the last export; the head exported, or null. */
  exportNow(): Promise<ExportedHead | null>;
  stop(): Promise<void>;
}

/**
 * Exports the audit trail's head on a schedule (`cases.headExport`), so that a rewrite of history
 * before it is detectable by anyone holding the export (`recon audit verify --heads FILE`): the
 * last head ClickHouse holds is appended as a JSON line to a file (fsynced) and, when configured,
 * anchored on an EVM chain first (its transaction recorded in the line). A head is exported once
 * across workers (a claim per seq in Redis) and only when it moved; a failed export is logged and
 * tried again at the next interval.
 */
export function startAuditHeadExport(o: {
  audit: AuditLog;
  redis: Redis;
  namespace: string;
  intervalMs: number;
  file?: string | undefined;
  anchor?: AnchorHead | undefined;
  workerId: string;
  log: Logger;
  now?: () => number;
}): AuditHeadExport {
  const now = o.now ?? Date.now;
  const lastKey = `${o.namespace}:{audit}:exported`;
  const claimKey = (seq: number) => `${o.namespace}:{audit}:exporting:${seq}`;

  async function exportNow(): Promise<ExportedHead | null> {
    const head = await o.audit.lastDurable();
    if (!head) return null;
    if (head.seq <= Number((await o.redis.get(lastKey)) ?? 0)) return null;
    const claimed = await o.redis.set(claimKey(head.seq), o.workerId, 'PX', Math.max(o.intervalMs, 120_000), 'NX');
    if (claimed !== 'OK') return null;
    try {
      const exported: ExportedHead = { seq: head.seq, hash: head.hash, at: new Date(now()).toISOString() };
      if (o.anchor) exported.anchor = await o.anchor(head);
      if (o.file) {
        const f = await open(o.file, 'a', 0o640);
        try {
          await f.write(`${JSON.stringify(exported)}\n`);
          await f.sync();
        } finally {
          await f.close();
        }
      }
      await o.redis.eval(RAISE_LUA, 1, lastKey, String(head.seq));
      o.log.info({ head: exported }, 'audit: head exported');
      return exported;
    } catch (e) {
      await o.redis.del(claimKey(head.seq));
      throw e;
    }
  }

  const loop = repeatEvery(o.intervalMs, exportNow, (e) => o.log.error({ err: e }, 'audit: head export failed; trying again at the next interval'));
  return {
    exportNow,
    stop: () => loop.stop(),
  };
}
