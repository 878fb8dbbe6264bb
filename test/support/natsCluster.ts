import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { freePorts, privateServer, waitFor, type PrivateServer } from './drill.js';

export interface NatsCluster {
  nodes: PrivateServer[];
  /** Client URLs of every node, for `nats.servers`. */
  servers: string[];
  dispose(): Promise<void>;
}

/**
 * A JetStream cluster of `size` nats-server processes (the binary CI installs) on 127.0.0.1,
 * routed to each other, each with a store dir of its own; resolves once JetStream has a meta
 * leader and a stream with `size` replicas can be created.
 */
export async function natsCluster(size = 3): Promise<NatsCluster> {
  // A port found free can be taken before nats-server binds it (by any process's outgoing
  // connection): a node that exits at start is retried on fresh ports, twice.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startNatsCluster(size);
    } catch (e) {
      if (attempt >= 3 || !(e instanceof Error) || !/exited .* before it listened/.test(e.message)) throw e;
    }
  }
}

async function startNatsCluster(size: number): Promise<NatsCluster> {
  const ports = await freePorts(size * 2);
  const clientPorts = ports.slice(0, size);
  const routePorts = ports.slice(size);
  const dirs = clientPorts.map(() => mkdtempSync(join(tmpdir(), 'recon-nats-cluster-')));
  const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`).join(',');
  const nodes = clientPorts.map((port, i) =>
    privateServer(port, `127.0.0.1:${port}`, 'nats-server', [
      '-js',
      '-a',
      '127.0.0.1',
      '-p',
      String(port),
      '-sd',
      dirs[i]!,
      '--server_name',
      `n${i + 1}`,
      '--cluster_name',
      'recon-test',
      '--cluster',
      `nats://127.0.0.1:${routePorts[i]}`,
      '--routes',
      routes,
    ]),
  );
  try {
    await Promise.all(nodes.map((n) => n.start()));
  } catch (e) {
    for (const n of nodes) await n.dispose();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    throw e;
  }
  const servers = nodes.map((n) => n.url);
  const nc = await connect({ servers });
  try {
    // No API check: until the servers elect a meta leader, JetStream requests time out.
    const jsm = await jetstreamManager(nc, { checkAPI: false, timeout: 2_000 });
    const probe = `CLUSTER_PROBE_${clientPorts[0]}`;
    await waitFor(
      'a JetStream cluster with a meta leader',
      async () => {
        try {
          await jsm.streams.add({ name: probe, subjects: [`${probe.toLowerCase()}.>`], num_replicas: size });
          return true;
        } catch {
          return false;
        }
      },
      30_000,
      250,
    );
    await jsm.streams.delete(probe);
  } finally {
    await nc.close();
  }
  return {
    nodes,
    servers,
    async dispose() {
      for (const n of nodes) await n.dispose();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    },
  };
}
