import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { ensureStreams } from '../../src/streams/jetstreamSetup.js';
import { ledgerPartitionMapping, ledgerPublishSubject, partitionOf, partitionStreamName } from '../../src/streams/partitions.js';
import { freePort, privateServer, type PrivateServer } from '../support/drill.js';

/**
 * The engine's partition of an account is the one nats-server's own subject mapping
 * `{{partition(n,1)}}` gives it: a core-banking publisher that puts the account in its subject can
 * let the server partition (docs/deployment.md#partitioned-streams), and the engine's own
 * publishers land each posting in the same partition stream.
 */
describe('partitioned ledger streams against nats-server subject mapping', () => {
  const count = 3;
  const dir = mkdtempSync(join(tmpdir(), 'recon-partition-map-'));
  let server: PrivateServer;
  let nc: NatsConnection;
  const config = parseConfig({
    namespace: 'pmap',
    nats: { ledgerStream: 'PMAP_LEDGER', ledgerSubjects: ['pmap_ledger.>'], chainStream: 'PMAP_CHAIN', chainSubjectPrefix: 'pmap_chain', partitions: { count } },
  });
  const mapping = ledgerPartitionMapping('pmap_ledger', 'postings', count);

  beforeAll(async () => {
    const port = await freePort();
    const conf = join(dir, 'nats.conf');
    writeFileSync(conf, `listen: 127.0.0.1:${port}\njetstream { store_dir: "${join(dir, 'js')}" }\nmappings = {\n  "${mapping.from}": "${mapping.to}"\n}\n`);
    server = privateServer(port, `127.0.0.1:${port}`, 'nats-server', ['-c', conf]);
    await server.start();
    nc = await connect({ servers: server.url });
    await ensureStreams(await jetstreamManager(nc), config);
  });

  afterAll(async () => {
    await nc?.close();
    await server?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lands every account in the same partition stream whether the server or the engine partitions it', async () => {
    const js = jetstream(nc);
    const accounts = Array.from({ length: 60 }, (_, i) => `ACC-${i}-${(i * 7919).toString(36)}`);
    const seen = new Set<number>();
    for (const account of accounts) {
      const p = partitionOf(account, count);
      seen.add(p);
      // The server maps pmap_ledger.postings.<account> to pmap_ledger.<partition>.postings.<account>.
      const byServer = await js.publish(`pmap_ledger.postings.${account}`, new TextEncoder().encode(account), { msgID: `s:${account}` });
      expect(byServer.stream, account).toBe(partitionStreamName('PMAP_LEDGER', p, count));
      const subject = ledgerPublishSubject(config.nats, 'pmap_ledger.postings', account);
      expect(subject).toBe(`pmap_ledger.${p}.postings`);
      const byEngine = await js.publish(subject, new TextEncoder().encode(account), { msgID: `e:${account}` });
      expect(byEngine.stream, account).toBe(byServer.stream);
    }
    // Sixty accounts over three partitions: every partition is used.
    expect([...seen].sort()).toEqual([0, 1, 2]);
    const jsm = await jetstreamManager(nc);
    let total = 0;
    for (let p = 0; p < count; p++) total += (await jsm.streams.info(partitionStreamName('PMAP_LEDGER', p, count))).state.messages;
    expect(total).toBe(2 * accounts.length);
  });

  it('refuses to start on streams made for another partition count, naming the stream', async () => {
    const jsm = await jetstreamManager(nc);
    const unpartitioned = parseConfig({ ...config, nats: { ...config.nats, partitions: { count: 1 } } });
    await expect(ensureStreams(jsm, unpartitioned)).rejects.toThrow(/stream PMAP_LEDGER_P0 exists from a deployment with partitioned streams, but nats.partitions.count is 1: drain it/);
    // And the other way round: bare streams left from before partitioning.
    const bare = parseConfig({ namespace: 'pmap2', nats: { ledgerStream: 'PMAP2_LEDGER', ledgerSubjects: ['pmap2_ledger.>'], chainStream: 'PMAP2_CHAIN', chainSubjectPrefix: 'pmap2_chain' } });
    await ensureStreams(jsm, bare);
    const split = parseConfig({ ...bare, nats: { ...bare.nats, partitions: { count: 2 } } });
    await expect(ensureStreams(jsm, split)).rejects.toThrow(/stream PMAP2_LEDGER exists from a deployment with unpartitioned streams, but nats.partitions.count is 2/);
  });
});
