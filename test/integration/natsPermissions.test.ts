import { randomUUID } from 'node:crypto';
import { headers as natsHeaders } from '@nats-io/nats-core';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { startNotifier } from '../../src/alerts/notifier.js';
import { createLogger } from '../../src/observability/logger.js';
import { clearRegisteredSecrets } from '../../src/lib/redact.js';
import { createLedgerCodec } from '../../src/streams/ledgerCodec.js';
import { startClosedNats, type ClosedNats } from '../support/closedNats.js';
import { tempClickHouse, type TempClickHouse } from '../support/clickhouse.js';
import { waitFor } from '../support/waitFor.js';

/**
 * deploy/nats/nats.conf on a nats-server of its own: who may publish, consume and administer what.
 * The daemon runs for real under its user; the producer and ops users are tried where they may
 * and may not go.
 */
describe('NATS closed by default (deploy/nats/nats.conf)', () => {
  let nats: ClosedNats;
  let ch: TempClickHouse;
  let daemon: Daemon | undefined;
  const open: NatsConnection[] = [];
  const as = async (role: Parameters<ClosedNats['connectAs']>[0]) => {
    const nc = await nats.connectAs(role);
    open.push(nc);
    return nc;
  };

  beforeAll(async () => {
    [nats, ch] = await Promise.all([startClosedNats(), tempClickHouse()]);
  }, 60_000);
  afterAll(async () => {
    await daemon?.stop().catch(() => undefined);
    for (const nc of open) await nc.close().catch(() => undefined);
    await nats?.stop();
    await ch?.close();
    clearRegisteredSecrets();
  });

  it('refuses anonymous connections and wrong passwords', async () => {
    await expect(connect({ servers: nats.url, reconnect: false })).rejects.toThrow(/authorization/i);
    await expect(connect({ servers: nats.url, reconnect: false, user: 'recon-daemon', pass: 'wrong' })).rejects.toThrow(/authorization/i);
  });

  it('runs the daemon under its user: creates its streams and consumers, consumes postings, publishes dead letters and facts', async () => {
    const config = parseConfig({
      namespace: `t${randomUUID().slice(0, 8)}`,
      workerId: 'closed-daemon',
      nats: nats.natsConfig('daemon'),
      clickhouse: { database: ch.database },
      // As in deploy/recon/compose.yaml: facts through the fact log, loaded by this worker.
      sink: { mode: 'log' },
      http: { port: -1 },
      log: { level: 'warn' },
      accounts: [{ accountId: 'ACC-P', wallets: [] }],
    });
    daemon = await startDaemon(config, { clickhouse: ch.client, ingest: false, secrets: { env: nats.env } });
    await daemon.ready;

    // The bank's producer publishes one good posting and one that is not Avro.
    const producer = await as('producer');
    const js = jetstream(producer);
    const codec = createLedgerCodec();
    const now = Date.now();
    const { bytes, headers } = codec.encode({
      entryId: 'p-1',
      accountId: 'ACC-P',
      amountMinor: 1_000n,
      direction: 'credit',
      currency: 'USD',
      bookingTime: now,
      valueTime: now,
      status: 'booked',
      txType: 'deposit',
      endToEndId: 'E2E-p-1',
      remittance: null,
      tokenizationRef: null,
    });
    const h = natsHeaders();
    for (const [k, v] of Object.entries(headers)) h.set(k, v);
    expect((await js.publish('ledger.postings', bytes, { headers: h, msgID: 'p-1' })).stream).toBe('LEDGER');
    await js.publish('ledger.postings', new TextEncoder().encode('not avro'), { msgID: 'p-bad' });

    await waitFor('both postings handled', () => daemon!.stats.messages.ledger >= 2 && daemon!.stats.deadLetters >= 1, 30_000);
    // Operators read the dead letter (read-only user).
    const ops = await jetstreamManager(await as('ops'));
    const dl = await waitFor('the dead letter stored', async () => {
      const i = await ops.streams.info('DEADLETTER');
      return i.state.messages === 1 ? i : undefined;
    });
    expect(dl.config.subjects).toEqual(['deadletter.>']);
    const msg = await ops.streams.getMessage('DEADLETTER', { seq: dl.state.first_seq });
    expect(msg?.subject).toBe('deadletter.ledger');
    expect(new TextDecoder().decode(msg!.data)).toBe('not avro');
    const consumers: string[] = [];
    for await (const c of ops.consumers.list('LEDGER')) consumers.push(c.name);
    expect(consumers).toContain('recon-matcher');
    // The facts went through the FACTS stream and its loader into ClickHouse.
    await daemon!.factsLoaded();
    expect((await ops.consumers.info('FACTS', 'fact-loader')).ack_floor.stream_seq).toBeGreaterThan(0);
    const stored = await ch.client.query({ query: `SELECT count() AS n FROM ${ch.database}.ledger_entries WHERE entry_id = 'p-1'`, format: 'JSONEachRow' });
    expect(await stored.json()).toEqual([{ n: '1' }]);
    // Its user may read its ledger consumer's info: the sweeper learns the bank feed is drained
    // (src/jobs/ledgerDrain.ts), without which a silent feed never closes a mint's window.
    const drainedAt = await waitFor('the ledger consumer found drained', async () => {
      const d = (await daemon!.store.watermarks()).ledgerPartitions[0]!.drainedAt;
      return d >= now ? d : undefined;
    });
    expect(drainedAt).toBeLessThanOrEqual(Date.now());
  }, 90_000);

  it('lets the producer publish on ledger.> only: chain.>, stream deletion and other inboxes are refused', async () => {
    const producer = await as('producer');
    const js = jetstream(producer);
    expect((await js.publish('ledger.more', new Uint8Array([1]))).stream).toBe('LEDGER');
    await expect(js.publish('chain.1.forged', new Uint8Array([1]), { timeout: 3_000 })).rejects.toThrow('Permissions Violation for Publish to "chain.1.forged"');
    // No JetStream API at all: jetstreamManager's INFO request is already refused, and so is a deletion.
    await expect(jetstreamManager(producer, { timeout: 3_000 })).rejects.toThrow('Permissions Violation for Publish to "$JS.API.INFO"');
    await expect(producer.request('$JS.API.STREAM.DELETE.LEDGER', undefined, { timeout: 3_000 })).rejects.toThrow('Permissions Violation for Publish to "$JS.API.STREAM.DELETE.LEDGER"');
    // Peeking at the daemon's deliveries (its pull inbox): the subscription is refused.
    const sub = producer.subscribe('_INBOX_recon_daemon.>');
    expect(String(await sub.closed)).toContain('Permissions Violation for Subscription to "_INBOX_recon_daemon.>"');
    // Nothing forged reached CHAIN, and LEDGER is still there.
    const ops = await jetstreamManager(await as('ops'));
    expect((await ops.streams.info('CHAIN')).state.messages).toBe(0);
    expect((await ops.streams.info('LEDGER')).state.messages).toBeGreaterThanOrEqual(3);
  });

  it('runs the notifier under its user, which may consume ALERTS but not the ledger', async () => {
    const config = parseConfig({ namespace: `t${randomUUID().slice(0, 8)}`, workerId: 'closed-notifier', nats: nats.natsConfig('notifier'), log: { level: 'warn' } });
    const n = await startNotifier({ config, secrets: { env: nats.env }, log: createLogger(config.log) });
    await n.ready;
    await n.stop();
    const nc = await as('notifier');
    await expect(jetstream(nc).publish('ledger.forged', new Uint8Array([1]), { timeout: 3_000 })).rejects.toThrow('Permissions Violation for Publish to "ledger.forged"');
    await expect(nc.request('$JS.API.CONSUMER.MSG.NEXT.LEDGER.recon-matcher', undefined, { timeout: 3_000 })).rejects.toThrow(
      'Permissions Violation for Publish to "$JS.API.CONSUMER.MSG.NEXT.LEDGER.recon-matcher"',
    );
    const jsm = await jetstreamManager(nc);
    expect((await jsm.streams.info('ALERTS')).config.name).toBe('ALERTS');
  });

  it("gives the demo all rights in an account of its own, which cannot see the engine's streams", async () => {
    const jsm = await jetstreamManager(await as('demo'));
    await jsm.streams.add({ name: 'DEMO_LEDGER', subjects: ['demo.ledger.>'] });
    await expect(jsm.streams.info('LEDGER')).rejects.toThrow(/stream not found/);
    await jsm.streams.delete('DEMO_LEDGER');
    const ops = await jetstreamManager(await as('ops'));
    expect((await ops.streams.info('LEDGER')).config.name).toBe('LEDGER');
  });

  it('keeps the ops user read-only: no publish, no purge, no delete', async () => {
    const nc = await as('ops');
    const jsm = await jetstreamManager(nc);
    // The daemon dead-letters the earlier tests' forged messages on its own time: counted once it
    // has worked the ledger off, so that what this test sees is only what it did.
    await waitFor(
      'the ledger worked off',
      async () => {
        const c = await jsm.consumers.info('LEDGER', 'recon-matcher');
        return c.num_pending === 0 && c.num_ack_pending === 0;
      },
      30_000,
    );
    const before = (await jsm.streams.info('DEADLETTER')).state.messages;
    await expect(nc.request('$JS.API.STREAM.PURGE.LEDGER', undefined, { timeout: 3_000 })).rejects.toThrow('Permissions Violation for Publish to "$JS.API.STREAM.PURGE.LEDGER"');
    await expect(nc.request('$JS.API.STREAM.DELETE.DEADLETTER', undefined, { timeout: 3_000 })).rejects.toThrow('Permissions Violation for Publish to "$JS.API.STREAM.DELETE.DEADLETTER"');
    await expect(nc.request('$JS.API.CONSUMER.DELETE.LEDGER.recon-matcher', undefined, { timeout: 3_000 })).rejects.toThrow('Permissions Violation for Publish');
    await expect(jetstream(nc).publish('ledger.forged', new Uint8Array([1]), { timeout: 3_000 })).rejects.toThrow('Permissions Violation for Publish to "ledger.forged"');
    expect((await jsm.streams.info('DEADLETTER')).state.messages).toBe(before);
    expect((await jsm.consumers.info('LEDGER', 'recon-matcher')).name).toBe('recon-matcher');
  });
});
