/**
 * What the pipeline benchmarks share: the names of a run's own streams, subjects and Redis
 * namespace; the load generator in a process of its own (bench/publisher.ts), driven over IPC; and
 * the clean-up of a run's streams and keys.
 */
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { Redis } from 'ioredis';
import { createClickHouse } from '../src/sinks/clickhouse/createClickHouse.js';
import type { TrafficOptions } from '../test/support/drillTraffic.js';
import type { PublishCommand, PublishResult } from './publisher.js';

/** A run's names: `tag` (bench, soak) heads the namespace, its first letter the streams and subjects. */
export function benchNames(tag = 'bench', id = randomUUID().slice(0, 8)) {
  const l = tag[0]!;
  const L = l.toUpperCase();
  return {
    namespace: `${tag}${id}`,
    ledgerSubject: `${l}ledger_${id}.postings`,
    nats: {
      ledgerStream: `${L}LEDGER_${id}`,
      ledgerSubjects: [`${l}ledger_${id}.>`],
      chainStream: `${L}CHAIN_${id}`,
      chainSubjectPrefix: `${l}chain_${id}`,
      mappingStream: `${L}MAP_${id}`,
      mappingSubject: `${l}mapping_${id}.accounts`,
      deadLetterStream: `${L}DL_${id}`,
      deadLetterSubjectPrefix: `${l}dl_${id}`,
      consumerName: 'matcher',
    },
  };
}
export type BenchNames = ReturnType<typeof benchNames>;

/** The run's ClickHouse: embedded chdb in a temporary directory, or the server of CLICKHOUSE_URL. */
export function benchClickHouse(tag: string, database: string) {
  const dataDir = mkdtempSync(join(tmpdir(), `recon-${tag}-chdb-`));
  const clickhouse = createClickHouse({
    url: process.env.CLICKHOUSE_URL,
    username: process.env.CLICKHOUSE_USER ?? 'default',
    password: process.env.CLICKHOUSE_PASSWORD ?? '',
    database,
    dataDir,
  });
  return { dataDir, clickhouse };
}

/** The load generator child process. */
export function startPublisher() {
  const child = fork(new URL('./publisher.ts', import.meta.url).pathname, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let next = 0;
  const waiting = new Map<number, (r: PublishResult) => void>();
  child.on('message', (r: PublishResult) => waiting.get(r.id)?.(r));
  // One exit listener for every publish (a listener per publish outgrew Node's limit of ten).
  const exitWaiters = new Set<(e: Error) => void>();
  child.on('exit', (code) => {
    for (const reject of exitWaiters) reject(new Error(`publisher exited with ${code}`));
  });
  return {
    publish(n: BenchNames, traffic: TrafficOptions, from: number, to: number, pairsPerSecond: number | null, inflight = 1_024, acked = true): Promise<PublishResult> {
      const id = next++;
      const c: PublishCommand = {
        cmd: 'publish',
        id,
        servers: [process.env.NATS_URL ?? '127.0.0.1:4222'],
        ledgerSubject: n.ledgerSubject,
        chainSubjectPrefix: n.nats.chainSubjectPrefix,
        traffic,
        from,
        to,
        pairsPerSecond,
        inflight,
        acked,
      };
      return new Promise((resolve, reject) => {
        waiting.set(id, (r) => {
          exitWaiters.delete(reject);
          resolve(r);
        });
        exitWaiters.add(reject);
        child.send(c);
      });
    },
    stop: () => child.kill('SIGTERM'),
  };
}

/** Deletes a run's streams (and `extraStreams`, its fact log) and its Redis keys. */
export async function cleanup(jsm: JetStreamManager, n: BenchNames, redis: Redis, extraStreams: string[] = []) {
  for (const s of [n.nats.ledgerStream, n.nats.chainStream, n.nats.mappingStream, n.nats.deadLetterStream, ...extraStreams]) await jsm.streams.delete(s).catch(() => undefined);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${n.namespace}:*`, 'COUNT', 5_000);
    cursor = next;
    if (keys.length) await redis.unlink(...keys);
  } while (cursor !== '0');
}
