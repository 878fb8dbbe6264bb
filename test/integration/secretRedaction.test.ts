import { Writable } from 'node:stream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { clearRegisteredSecrets } from '../../src/lib/redact.js';
import { isolatedNames, testSink } from '../support/harness.js';
import { tempClickHouse, type TempClickHouse } from '../support/clickhouse.js';
import { waitFor } from '../support/waitFor.js';

const INFURA_KEY = '0f1e2d3c4b5a69788796a5b4c3d2e1f0';
const WS_PASSWORD = 'wsPa55word';
const CH_PASSWORD = 'chPassw0rd!';

describe('secrets in the daemon log', () => {
  let ch: TempClickHouse;
  let daemon: Daemon | undefined;
  let nc: NatsConnection;
  const names = isolatedNames();
  let out = '';

  beforeAll(async () => {
    ch = await tempClickHouse();
    nc = await connect({ servers: '127.0.0.1:4222' });
  });
  afterAll(async () => {
    await daemon?.stop().catch(() => undefined);
    const jsm = await jetstreamManager(nc);
    for (const s of [names.nats.ledgerStream, names.nats.chainStream, names.nats.mappingStream, names.nats.deadLetterStream]) await jsm.streams.delete(s).catch(() => undefined);
    await nc.close();
    await ch.close();
    clearRegisteredSecrets();
  });

  it('never writes the RPC key of a failing provider, in messages, errors or stacks (real pino to a buffer)', async () => {
    const sink = new Writable({
      write(chunk, _enc, cb) {
        out += String(chunk);
        cb();
      },
    });
    const config = parseConfig({
      namespace: names.namespace,
      workerId: `${names.namespace}-w`,
      nats: names.nats,
      sink: testSink(names, {}),
      clickhouse: { database: ch.database, password: CH_PASSWORD },
      http: { port: -1 },
      log: { level: 'debug' },
      chains: [
        {
          chainId: 1,
          rpcUrls: [`https://x.infura.io/v3/${INFURA_KEY}`],
          wsUrls: [`wss://recon:${WS_PASSWORD}@x.infura.io/ws/v3/${INFURA_KEY}`],
          rpcTimeoutMs: 2_000,
          rpcRetries: 0,
          pollIntervalMs: 100,
        },
      ],
      tokens: [{ chainId: 1, address: '0x00000000000000000000000000000000000000aa', currency: 'USD' }],
    });
    daemon = await startDaemon(config, { clickhouse: ch.client, logDestination: sink });
    // A positive signal: the poll failure was logged with its error (viem's message names the URL).
    await waitFor('the RPC failure in the log', async () => /chain poll failed|x\.infura\.io/.test(out), 30_000);
    await daemon.stop();
    daemon = undefined;
    const lines = out
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const failure = lines.find((l) => String(JSON.stringify(l)).includes('x.infura.io'));
    expect(failure, 'some line names the provider').toBeDefined();
    expect(JSON.stringify(failure)).toContain('x.infura.io/v3/***');
    expect(out).not.toContain(INFURA_KEY);
    expect(out).not.toContain(WS_PASSWORD);
    expect(out).not.toContain(CH_PASSWORD);
  });
});
