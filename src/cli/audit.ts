/**
 * `recon audit`: the audit trail from the command line.
 *
 *   recon audit verify [--from SEQ] [--to SEQ] [--heads FILE [--anchors]]
 *       checks the stored hash chain over the period (default: all of it) and, with --heads, against
 *       head hashes exported earlier (JSON lines {"seq":n,"hash":"…"}, as `cases.headExport` or
 *       `recon audit head` write them); with --anchors, first each head's anchoring transaction on
 *       chain. Prints the verdict as JSON. Exit 0 when intact, 1 naming the first broken record.
 *   recon audit head
 *       prints the last durable head as one JSON line {"seq":n,"hash":"…","at":"<ISO time>"}: the
 *       worker's `cases.headExport` does this on a schedule; keep its output elsewhere, so that a
 *       rewrite of the history before it is detectable.
 */
import { readFileSync } from 'node:fs';
import type { ClickHouseClient } from '@clickhouse/client';
import { parseArgs } from 'node:util';
import { AuditLog } from '../cases/auditLog.js';
import type { Config } from '../config/schema.js';
import type { SecretSources } from '../config/secrets.js';
import { createClickHouse } from '../sinks/clickhouse/createClickHouse.js';
import { factWriterFor } from '../sinks/clickhouse/factWriter.js';
import { createPublicClient, http, TransactionNotFoundError, type Hash, type Hex, type PublicClient } from 'viem';
import { checkAnchor, type ExportedHead } from '../cases/headAnchor.js';
import { connectRedis } from '../state/redisClient.js';

const USAGE = 'usage: recon audit verify [--from SEQ] [--to SEQ] [--heads FILE [--anchors]] | recon audit head';

/** Runs `recon audit …`; resolves with the exit code, writing results to `out`. */
export async function auditMain(
  argv: readonly string[],
  config: Config,
  o: { secrets?: SecretSources; out?: (line: string) => void; now?: () => number; clickhouse?: ClickHouseClient } = {},
): Promise<number> {
  const out =
    o.out ??
    ((line: string) => {
      process.stdout.write(`${line}\n`);
    });
  const [sub, ...rest] = argv;
  let args: { from?: string | undefined; to?: string | undefined; heads?: string | undefined; anchors?: boolean | undefined };
  try {
    args = parseArgs({ args: [...rest], options: { from: { type: 'string' }, to: { type: 'string' }, heads: { type: 'string' }, anchors: { type: 'boolean' } } }).values;
  } catch (e) {
    console.error(`recon audit: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  /** A record number, undefined when absent, null when not one. */
  const seqArg = (v: string | undefined): number | undefined | null => (v === undefined ? undefined : /^[1-9]\d{0,15}$/.test(v) ? Number(v) : null);
  const from = seqArg(args.from);
  const to = seqArg(args.to);
  if (args.anchors && !args.heads) {
    console.error(`recon audit: --anchors checks the anchors of the heads in --heads FILE\n${USAGE}`);
    return 2;
  }
  if (from === null || to === null || (sub !== 'verify' && sub !== 'head')) {
    console.error(`recon audit: ${from === null || to === null ? '--from and --to are record numbers (1, 2, …)' : `unknown subcommand '${sub ?? ''}'`}\n${USAGE}`);
    return 2;
  }
  const clickhouse = o.clickhouse ?? createClickHouse(config.clickhouse);
  const redis = connectRedis(config.redis, o.secrets, { maxRetriesPerRequest: 2 });
  try {
    const log = new AuditLog({
      redis,
      clickhouse,
      database: config.clickhouse.database,
      writer: factWriterFor(clickhouse, config.clickhouse),
      namespace: config.namespace,
    });
    if (sub === 'head') {
      // The last durable record: a head still pending in Redis could yet be lost with it.
      const head = await log.lastDurable();
      out(JSON.stringify({ seq: head?.seq ?? 0, hash: head?.hash ?? null, at: new Date((o.now ?? Date.now)()).toISOString() }));
      return 0;
    }
    const exportedHeads = args.heads
      ? readFileSync(args.heads, 'utf8')
          .split('\n')
          .filter((l) => l.trim() !== '')
          .map((l) => JSON.parse(l) as ExportedHead)
          .filter((h) => h.hash)
      : [];
    if (args.anchors) {
      // Each anchored head against its transaction on chain, before the chain itself.
      const clients = new Map<number, PublicClient>();
      const getInput = async (chainId: number, txHash: Hash): Promise<Hex | null> => {
        let c = clients.get(chainId);
        if (!c) {
          const rpc = config.chains.find((x) => x.chainId === chainId)?.rpcUrls[0] ?? config.cases.headExport?.anchor?.rpcUrl;
          if (!rpc) throw new Error(`no chains[] entry for chain ${chainId}, on which a head was anchored`);
          c = createPublicClient({ transport: http(rpc) });
          clients.set(chainId, c);
        }
        try {
          return (await c.getTransaction({ hash: txHash })).input;
        } catch (e) {
          if (e instanceof TransactionNotFoundError) return null;
          throw e;
        }
      };
      for (const h of exportedHeads) {
        const problem = await checkAnchor(h, getInput);
        if (problem) {
          out(JSON.stringify({ ok: false, seq: h.seq, problem: 'anchor', detail: problem }));
          return 1;
        }
      }
    }
    const v = await log.verify({ ...(from !== undefined && { fromSeq: from }), ...(to !== undefined && { toSeq: to }), exportedHeads });
    out(JSON.stringify(v));
    return v.ok ? 0 : 1;
  } finally {
    redis.disconnect();
    if (!o.clickhouse) await clickhouse.close().catch(() => undefined);
  }
}
