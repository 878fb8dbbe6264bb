import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { formatConfig } from '../../src/cli/recon.js';
import { natsSecurityOptions, redisSecurityOptions } from '../../src/config/connectionSecurity.js';
import { loadConfig, parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/lib/errors.js';
import { clearRegisteredSecrets, redactText } from '../../src/lib/redact.js';

afterEach(() => clearRegisteredSecrets());
const dir = mkdtempSync(join(tmpdir(), 'recon-sec-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('NATS and Redis credentials and TLS in the configuration', () => {
  it('passes user/password from the environment to connect() and registers the password for redaction', () => {
    const c = parseConfig({ nats: { auth: { user: 'recon-daemon', password: { env: 'NATS_PW' } } } });
    const o = natsSecurityOptions(c.nats, { env: { NATS_PW: 'daemon-pass-1' } });
    expect(o).toMatchObject({ user: 'recon-daemon', pass: 'daemon-pass-1' });
    expect(redactText('auth failed for daemon-pass-1')).toBe('auth failed for ***');
  });

  it('reads a token from a file and TLS files, with handshake-first', () => {
    const ca = file('ca.pem', 'CA');
    const cert = file('c.pem', 'C');
    const key = file('k.pem', 'K');
    const c = parseConfig({ nats: { auth: { token: { file: file('token', 'tok-from-file-9\n') } }, tls: { caFile: ca, certFile: cert, keyFile: key, handshakeFirst: true } } });
    expect(natsSecurityOptions(c.nats, { env: {} })).toEqual({ token: 'tok-from-file-9', tls: { caFile: ca, certFile: cert, keyFile: key, handshakeFirst: true } });
  });

  it('builds an authenticator from a creds file or an nkey seed file', () => {
    const seed = 'SUAIBDPBAUTWCWBKIO6XHQNINK5FWJW4OHLXC3HQ2KFE4PEJUA44CNHTC4';
    expect(natsSecurityOptions(parseConfig({ nats: { auth: { nkeySeedFile: file('seed.nk', seed) } } }).nats, { env: {} }).authenticator).toBeTypeOf('function');
    expect(redactText(`seed ${seed}`)).toBe('seed ***');
    const jwt = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJqdGkiOiJ-abc_def-ghi';
    const creds = `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`;
    expect(natsSecurityOptions(parseConfig({ nats: { auth: { credsFile: file('u.creds', creds) } } }).nats, { env: {} }).authenticator).toBeTypeOf('function');
    expect(redactText(`jwt ${jwt} seen`)).toBe('jwt *** seen');
  });

  it('refuses mixed credential kinds, a user without a password, a cert without its key, and unreadable files', () => {
    expect(() => parseConfig({ nats: { auth: { user: 'u', password: 'p', token: 't' } } })).toThrow(/nats\.auth: use one of/);
    expect(() => parseConfig({ nats: { auth: { user: 'u' } } })).toThrow(/nats\.auth\.password: user and password go together/);
    expect(() => parseConfig({ nats: { tls: { certFile: 'c.pem' } } })).toThrow(/nats\.tls: certFile and keyFile go together/);
    const c = parseConfig({ nats: { tls: { caFile: join(dir, 'missing.pem') } } });
    expect(() => natsSecurityOptions(c.nats, { env: {} })).toThrow(ConfigError);
    expect(() => natsSecurityOptions(parseConfig({ nats: { auth: { user: 'u', password: { env: 'UNSET' } } } }).nats, { env: {} })).toThrow(
      /nats\.auth\.password: environment variable UNSET is not set/,
    );
  });

  it('gives ioredis the password and TLS (explicit, or from a rediss:// URL)', () => {
    const ca = file('redis-ca.pem', 'REDIS-CA');
    const c = parseConfig({ redis: { url: 'redis://10.0.0.5:6380', username: 'recon', password: { env: 'REDIS_PW' }, tls: { caFile: ca, servername: 'redis.internal' } } });
    expect(redisSecurityOptions(c.redis, { env: { REDIS_PW: 'redis-pass-7' } })).toEqual({ username: 'recon', password: 'redis-pass-7', tls: { ca: 'REDIS-CA', servername: 'redis.internal' } });
    expect(redisSecurityOptions(parseConfig({ redis: { url: 'rediss://:inurl-pass@r:6380' } }).redis, { env: {} })).toEqual({ tls: {} });
    expect(redactText('NOAUTH inurl-pass')).toBe('NOAUTH ***');
  });

  it('takes credentials from NATS_USER/NATS_PASSWORD(_FILE), NATS_TOKEN, REDIS_PASSWORD as references, keeping the URL overrides', () => {
    const a = loadConfig({ NATS_URL: 'nats://n1:4222,nats://n2:4222', NATS_USER: 'recon-daemon', NATS_PASSWORD_FILE: '/run/secrets/nats', REDIS_URL: 'redis://r:6379', REDIS_PASSWORD: 'x' });
    expect(a.nats.servers).toEqual(['nats://n1:4222', 'nats://n2:4222']);
    expect(a.nats.auth).toEqual({ user: 'recon-daemon', password: { file: '/run/secrets/nats' } });
    expect(a.redis).toMatchObject({ url: 'redis://r:6379', password: { env: 'REDIS_PASSWORD' } });
    expect(loadConfig({ NATS_TOKEN: 't' }).nats.auth).toEqual({ token: { env: 'NATS_TOKEN' } });
  });
});

describe('check-config output', () => {
  it('prints no secret of any URL form or inline credential', () => {
    const secrets = [
      'natsTok3n',
      'natsPa55',
      'redisPa55',
      'wsPa55',
      '0123456789abcdef0123456789abcdef',
      'AbCdEfGh_ijKLmnop-1234',
      'qnHex0a1b2c3d4e5f60718293a4b5c6d7e8f9',
      'inlinePw9',
      'chPa55word',
      'XXXXXXXXXXXXXXXXXXXXXXXX',
    ];
    const out = formatConfig(
      parseConfig({
        nats: { servers: ['nats://natsTok3n@n1:4222', 'tls://daemon:natsPa55@n2:4222'], auth: { user: 'recon-daemon', password: 'inlinePw9' } },
        redis: { url: 'rediss://default:redisPa55@redis:6380/0' },
        clickhouse: { url: 'https://ch.example.com:8443', password: 'chPa55word' },
        chains: [
          {
            chainId: 1,
            rpcUrls: [
              'https://mainnet.infura.io/v3/0123456789abcdef0123456789abcdef',
              'https://eth-mainnet.g.alchemy.com/v2/AbCdEfGh_ijKLmnop-1234',
              'https://a.quiknode.pro/qnHex0a1b2c3d4e5f60718293a4b5c6d7e8f9/',
            ],
            wsUrls: ['wss://u:wsPa55@eth.example.com/ws?apikey=k'],
          },
        ],
        alerts: { slack: { webhooks: [{ name: 'ops', url: 'https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX' }] } },
      }),
    );
    for (const s of secrets) expect(out, s).not.toContain(s);
    expect(out).toContain('nats://***@n1:4222');
    expect(out).toContain('https://mainnet.infura.io/v3/***');
    expect(out).toContain('rediss://default:***@redis:6380/0');
    expect(out).toContain('user: recon-daemon');
  });
});
