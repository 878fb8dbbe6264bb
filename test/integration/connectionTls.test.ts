import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { connectRedis } from '../../src/state/redisClient.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisSecurityOptions } from '../../src/config/connectionSecurity.js';
import { parseConfig } from '../../src/config/load.js';
import { startDaemon } from '../../src/daemon.js';
import { tempClickHouse } from '../support/clickhouse.js';
import { randomUUID } from 'node:crypto';
import { clearRegisteredSecrets } from '../../src/lib/redact.js';
import { freePort } from '../../src/devchain/anvilNode.js';
import { startClosedNats, type ClosedNats } from '../support/closedNats.js';
import { waitFor } from '../support/waitFor.js';

/** A self-signed certificate for 127.0.0.1 (its own CA), made with openssl in `dir`. */
function selfSigned(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}

describe('TLS and passwords to NATS and Redis', () => {
  const dir = mkdtempSync(join(tmpdir(), 'recon-tls-'));
  let pem: { cert: string; key: string };
  let nats: ClosedNats;
  let redisProc: ChildProcess | undefined;
  let redisPort = 0;

  beforeAll(async () => {
    pem = selfSigned(dir);
    nats = await startClosedNats({ extra: `tls { cert_file: "${pem.cert}", key_file: "${pem.key}" }`, caFile: pem.cert });
    // A Redis of its own: TLS only, a password required.
    redisPort = await freePort();
    redisProc = spawn(
      'redis-server',
      [
        '--port',
        '0',
        '--tls-port',
        String(redisPort),
        '--bind',
        '127.0.0.1',
        '--tls-cert-file',
        pem.cert,
        '--tls-key-file',
        pem.key,
        '--tls-ca-cert-file',
        pem.cert,
        '--tls-auth-clients',
        'no',
        '--requirepass',
        'redis-test-pw',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
      ],
      { stdio: 'ignore' },
    );
  }, 30_000);
  afterAll(async () => {
    await nats?.stop();
    if (redisProc && redisProc.exitCode === null) {
      const e = new Promise((r) => redisProc!.once('exit', r));
      redisProc.kill('SIGTERM');
      await e;
    }
    rmSync(dir, { recursive: true, force: true });
    clearRegisteredSecrets();
  });

  it('connects the daemon user to a TLS-only NATS with the CA from the config; a plain client is refused', async () => {
    const nc = await nats.connectAs('daemon');
    expect(nc.info?.tls_required).toBe(true);
    expect(String(await nc.request('$JS.API.INFO').then((m) => m.string()))).toContain('"type":"io.nats.jetstream.api.v1.account_info_response"');
    await nc.close();
    // The server requires TLS: a client without the configured CA cannot verify it and is refused.
    await expect(connect({ servers: nats.url, reconnect: false, user: 'recon-daemon', pass: 'test-daemon-pw' })).rejects.toThrow(/self-signed certificate/);
  });

  it('connects to a Redis with a password over TLS (redis.password from the environment, redis.tls.caFile); without the password it is refused', async () => {
    const port = redisPort;
    const config = parseConfig({ redis: { url: `rediss://127.0.0.1:${port}`, password: { env: 'REDIS_PW' }, tls: { caFile: pem.cert } } });
    const opts = redisSecurityOptions(config.redis, { env: { REDIS_PW: 'redis-test-pw' } });
    const pong = await waitFor(
      'Redis over TLS',
      async () => {
        const r = connectRedis(config.redis, { env: { REDIS_PW: 'redis-test-pw' } }, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
        r.on('error', () => undefined);
        try {
          await r.connect();
          return await r.ping();
        } finally {
          r.disconnect();
        }
      },
      15_000,
      100,
    );
    expect(pong).toBe('PONG');
    const anon = new Redis(config.redis.url, { tls: opts.tls, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    const refused = new Promise<Error>((r) => anon.once('error', r));
    await anon.connect().catch(() => undefined);
    expect(String(await refused)).toMatch(/NOAUTH/);
    anon.disconnect();
  });

  it('runs the daemon with passwords over TLS to both NATS and Redis', async () => {
    const ch = await tempClickHouse();
    const config = parseConfig({
      namespace: `t${randomUUID().slice(0, 8)}`,
      workerId: 'tls-daemon',
      http: { port: -1 },
      log: { level: 'warn' },
      nats: nats.natsConfig('daemon'),
      redis: { url: `rediss://127.0.0.1:${redisPort}`, password: { env: 'REDIS_PW' }, tls: { caFile: pem.cert } },
      clickhouse: { database: ch.database },
    });
    const daemon = await startDaemon(config, { clickhouse: ch.client, ingest: false, secrets: { env: { ...nats.env, REDIS_PW: 'redis-test-pw' } } });
    try {
      await daemon.ready;
      expect(await daemon.sweep()).toBeGreaterThanOrEqual(0); // a Redis round trip over TLS
    } finally {
      await daemon.stop();
      await ch.close();
    }
  }, 60_000);
});
