/**
 * `recon camt …`: ISO 20022 camt.052/053/054 into the ledger stream (docs/iso20022.md).
 *
 *   recon camt ingest <files…>   ingest each file whole or dead-letter it; exit 1 if any was refused
 *   recon camt watch <dir>       watch a drop directory (processed/, failed/ + <file>.reason.txt)
 *   recon camt consume           consume camt XML from the JetStream subject camt.inputSubject
 *
 * Each prints one JSON line per message. SIGTERM/SIGINT stop `watch` and `consume` after the
 * message in progress.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { natsSecurityOptions } from '../config/connectionSecurity.js';
import type { Config } from '../config/schema.js';
import { camtDropDir } from '../iso20022/camtDropDir.js';
import type { CamtIngestResult } from '../iso20022/camtIngest.js';
import { ingestCamt } from '../iso20022/camtIngest.js';
import { consumeCamtSubject } from '../iso20022/camtSubject.js';
import { redisStatementSequences } from '../iso20022/statementSequence.js';
import { connectRedis } from '../state/redisClient.js';
import { createLogger } from '../observability/logger.js';
import { ensureStreams } from '../streams/jetstreamSetup.js';

const USAGE = 'usage: recon camt ingest <files…> | recon camt watch <dir> | recon camt consume';

/** One JSON line of a result (bigints as strings). */
export function camtResultLine(r: CamtIngestResult): string {
  const plain = r.ok
    ? {
        file: r.name,
        ok: true,
        postings: r.postings,
        published: r.published,
        duplicates: r.duplicates,
        statements: r.statements.map((s) => ({ id: s.header.reportId, kind: `${s.header.family}.001.0${s.header.version}`, account: s.accountId, entries: s.entries, balances: s.balances.length })),
      }
    : { file: r.name, ok: false, code: r.code, reason: r.reason };
  return JSON.stringify(plain);
}

function onStop(): AbortSignal {
  const ac = new AbortController();
  process.once('SIGTERM', () => ac.abort());
  process.once('SIGINT', () => ac.abort());
  return ac.signal;
}

/** Runs a `camt` subcommand; resolves with the exit code. */
export async function camtMain(argv: readonly string[], config: Config): Promise<number> {
  const [sub, ...args] = argv;
  if (sub !== 'ingest' && sub !== 'watch' && sub !== 'consume') {
    console.error(USAGE);
    return 2;
  }
  if ((sub === 'ingest' && args.length === 0) || (sub === 'watch' && args.length !== 1)) {
    console.error(USAGE);
    return 2;
  }
  const log = createLogger(config.log);
  const nc = await connect({ ...natsSecurityOptions(config.nats), servers: config.nats.servers, name: `${config.workerId}-camt`, noAsyncTraces: true });
  const redis = connectRedis(config.redis);
  try {
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    await ensureStreams(jsm, config);
    const sequences = redisStatementSequences(redis, config.namespace);
    if (sub === 'ingest') {
      let refused = 0;
      for (const file of args) {
        const size = (await stat(file)).size;
        const r = await ingestCamt({ name: file, size, open: () => createReadStream(file, { highWaterMark: 256 * 1024 }) }, { js, config, sequences });
        if (!r.ok) refused++;
        console.log(camtResultLine(r));
      }
      return refused > 0 ? 1 : 0;
    }
    const signal = onStop();
    if (sub === 'watch') {
      const watcher = camtDropDir({ dir: args[0]!, js, config, log, sequences }).start();
      log.info({ dir: args[0] }, 'camt: watching the drop directory');
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      await watcher.stop();
      return 0;
    }
    log.info({ stream: config.camt.inputStream, subject: config.camt.inputSubject }, 'camt: consuming the input subject');
    await consumeCamtSubject({ js, jsm, config, log, signal, sequences, onResult: (r) => console.log(camtResultLine(r)) });
    return 0;
  } finally {
    redis.disconnect();
    await nc.close();
  }
}
