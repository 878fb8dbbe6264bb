import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePorts, privateServer, waitFor, type PrivateServer } from './drill.js';

const run = promisify(execFile);

export interface RedisCluster {
  nodes: PrivateServer[];
  /** Seed URLs of every node, for `redis.clusterNodes`. */
  urls: string[];
  /** The port of the master serving `key`'s slot. */
  masterOf(key: string): Promise<number>;
  dispose(): Promise<void>;
}

/**
 * A Redis Cluster of `masters` masters with one replica each, from the redis-server binary CI
 * installs, on 127.0.0.1 (in memory: nothing persisted but the cluster's own node files, in a temp
 * dir); resolves once every node reports `cluster_state:ok` and every replica is in sync.
 */
export async function redisCluster(masters = 3): Promise<RedisCluster> {
  const ports = await freePorts(masters * 2);
  const dir = mkdtempSync(join(tmpdir(), 'recon-redis-cluster-'));
  // A dir per node: replicas sync through an RDB file, which nodes sharing a dir would overwrite.
  for (const port of ports) mkdirSync(join(dir, String(port)));
  const nodes = ports.map((port) =>
    privateServer(port, `redis://127.0.0.1:${port}`, 'redis-server', [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      join(dir, `nodes-${port}.conf`),
      '--cluster-node-timeout',
      '2000',
      '--save',
      '',
      '--appendonly',
      'no',
      // Replicas sync at once (the default waits 5 s for more replicas): a drill may kill a
      // master seconds after the start, and an unsynced replica never takes over.
      '--repl-diskless-sync-delay',
      '0',
      '--dir',
      join(dir, String(port)),
    ]),
  );
  try {
    await Promise.all(nodes.map((n) => n.start()));
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1', '--cluster-yes']);
    await waitFor(
      'every node of the cluster ok, every replica in sync',
      async () => {
        for (const p of ports) {
          const c = new Redis(p, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0 });
          try {
            await c.connect();
            if (!String(await c.cluster('INFO')).includes('cluster_state:ok')) return false;
            // Every replica in sync with its master.
            const repl = String(await c.info('replication'));
            if (repl.includes('role:slave') && !repl.includes('master_link_status:up')) return false;
          } catch {
            return false;
          } finally {
            c.disconnect();
          }
        }
        return true;
      },
      30_000,
      200,
    );
  } catch (e) {
    for (const n of nodes) await n.dispose();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    nodes,
    urls: nodes.map((n) => n.url),
    async masterOf(key) {
      // Asked of any node still up (the one asked first may be the one a drill killed).
      for (const port of ports) {
        const c = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
        try {
          await c.connect();
          const slot = Number(await c.cluster('KEYSLOT', key));
          const shards = await c.cluster('SLOTS');
          const owner = shards.find(([from, to]) => slot >= from && slot <= to);
          if (owner) return Number(owner[2]![1]);
        } catch {
          // down: ask the next one
        } finally {
          c.disconnect();
        }
      }
      throw new Error(`no node of the cluster answers for ${key}`);
    },
    async dispose() {
      for (const n of nodes) await n.dispose();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
