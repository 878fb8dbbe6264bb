import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { redactConfig } from '../../src/cli/recon.js';
import { createLogger } from '../../src/observability/logger.js';
import { clearRegisteredSecrets, redactText, redactUrl, registerSecret } from '../../src/lib/redact.js';
import { describeFailure } from '../../src/lib/failureKind.js';

afterEach(() => clearRegisteredSecrets());

const INFURA_KEY = '9aa3d95b3bc440fa88ea12eaa4456161';
const ALCHEMY_KEY = 'Xk7pQ2m_9vLr-3TnWz8yBb1cDe4FgHi';
const SECRETS = [INFURA_KEY, ALCHEMY_KEY, 's3cr3t-pass', 'n4ts-t0ken', 'T0123/B4567/abcdefXYZ0123456789', 'qnkey0123456789abcdef0123'];

describe('redactUrl', () => {
  it.each([
    [`https://mainnet.infura.io/v3/${INFURA_KEY}`, 'https://mainnet.infura.io/v3/***'],
    [`wss://mainnet.infura.io/ws/v3/${INFURA_KEY}`, 'wss://mainnet.infura.io/ws/v3/***'],
    [`https://eth-mainnet.g.alchemy.com/v2/${ALCHEMY_KEY}`, 'https://eth-mainnet.g.alchemy.com/v2/***'],
    [`wss://eth-mainnet.g.alchemy.com/v2/${ALCHEMY_KEY}`, 'wss://eth-mainnet.g.alchemy.com/v2/***'],
    ['https://snowy-wild.quiknode.pro/qnkey0123456789abcdef0123/', 'https://snowy-wild.quiknode.pro/***/'],
    ['https://rpc.example.com/?apikey=abc123&chain=1', 'https://rpc.example.com/?apikey=***&chain=***'],
    ['https://user:s3cr3t-pass@rpc.example.com:8545/', 'https://user:***@rpc.example.com:8545/'],
    ['nats://n4ts-t0ken@127.0.0.1:4222', 'nats://***@127.0.0.1:4222'],
    ['nats://recon:s3cr3t-pass@nats-1:4222', 'nats://recon:***@nats-1:4222'],
    ['redis://:s3cr3t-pass@127.0.0.1:6379/0', 'redis://***@127.0.0.1:6379/0'],
    ['rediss://default:s3cr3t-pass@redis:6380', 'rediss://default:***@redis:6380'],
    ['https://hooks.slack.com/services/T0123/B4567/abcdefXYZ0123456789', 'https://hooks.slack.com/services/***'],
    ['http://127.0.0.1:8545', 'http://127.0.0.1:8545'],
    ['ws://127.0.0.1:8546/ws', 'ws://127.0.0.1:8546/ws'],
    ['127.0.0.1:4222', '127.0.0.1:4222'],
  ])('%s', (url, expected) => {
    expect(redactUrl(url)).toBe(expected);
  });
});

describe('redactText', () => {
  it('redacts every URL in an error message, a stack or a JSON log line', () => {
    const viemError = `HTTP request failed.\n\nURL: https://mainnet.infura.io/v3/${INFURA_KEY}\nRequest body: {"method":"eth_blockNumber"}`;
    expect(redactText(viemError)).not.toContain(INFURA_KEY);
    const line = JSON.stringify({
      msg: 'rpc failed',
      err: { message: `fetch wss://eth-mainnet.g.alchemy.com/v2/${ALCHEMY_KEY} failed`, url: `nats://n4ts-t0ken@host:4222` },
      routing_key: 'abcdefghijklmnopqrstuvwxyz012345',
    });
    const out = redactText(line);
    for (const s of [ALCHEMY_KEY, 'n4ts-t0ken', 'abcdefghijklmnopqrstuvwxyz012345']) expect(out).not.toContain(s);
    expect(() => JSON.parse(out)).not.toThrow();
  });

  it('leaves text without URLs untouched', () => {
    const t = 'Posting E-1: amount is 0 minor units';
    expect(redactText(t)).toBe(t);
  });
});

describe('secrets never leave', () => {
  it('check-config prints no secret of any URL form', () => {
    const config = parseConfig({
      nats: { servers: ['nats://recon:s3cr3t-pass@nats-1:4222', 'nats://n4ts-t0ken@nats-2:4222'] },
      redis: { url: 'rediss://default:s3cr3t-pass@redis:6380' },
      clickhouse: { url: 'https://ch:8443', password: 's3cr3t-pass' },
      chains: [
        {
          chainId: 1,
          rpcUrls: [`https://mainnet.infura.io/v3/${INFURA_KEY}`, 'https://snowy-wild.quiknode.pro/qnkey0123456789abcdef0123/'],
          wsUrls: [`wss://eth-mainnet.g.alchemy.com/v2/${ALCHEMY_KEY}`],
        },
      ],
    });
    const printed = JSON.stringify(redactConfig(config), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    for (const s of SECRETS) expect(printed).not.toContain(s);
  });

  it('the daemon logger writes no secret, whatever field or error carries it', () => {
    const lines: string[] = [];
    const dest = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const log = createLogger({ level: 'info', redactAccounts: false, redactPaths: [] }, { destination: dest as never });
    log.error({ err: new Error(`HTTP request failed. URL: https://mainnet.infura.io/v3/${INFURA_KEY}`) }, 'chain: rpc failed');
    log.warn({ rpc: `wss://eth-mainnet.g.alchemy.com/v2/${ALCHEMY_KEY}` }, `retrying nats://n4ts-t0ken@nats-2:4222`);
    const all = lines.join('');
    expect(all).toContain('chain: rpc failed');
    for (const s of SECRETS) expect(all).not.toContain(s);
  });
});

describe('redactUrl: every form', () => {
  it.each([
    // credentials in the user part, every scheme
    ['https://alice:s3cretPw@rpc.example.com/', 'https://alice:***@rpc.example.com/', 's3cretPw'],
    ['wss://alice:s3cretPw@ws.example.com:8546', 'wss://alice:***@ws.example.com:8546', 's3cretPw'],
    ['redis://:r3disPass@redis:6379/0', 'redis://***@redis:6379/0', 'r3disPass'],
    ['redis://default:r3disPass@redis:6379', 'redis://default:***@redis:6379', 'r3disPass'],
    ['nats://daemon:natsPw99@nats:4222', 'nats://daemon:***@nats:4222', 'natsPw99'],
    ['nats://s3cr3tToken@nats:4222', 'nats://***@nats:4222', 's3cr3tToken'],
    ['tls://s3cr3tToken@nats.internal:4222', 'tls://***@nats.internal:4222', 's3cr3tToken'],
    ['s3cr3tToken@127.0.0.1:4222', '***@127.0.0.1:4222', 's3cr3tToken'],
    // keys in RPC paths
    ['https://mainnet.infura.io/v3/0123456789abcdef0123456789abcdef', 'https://mainnet.infura.io/v3/***', '0123456789abcdef'],
    ['wss://mainnet.infura.io/ws/v3/0123456789abcdef0123456789abcdef', 'wss://mainnet.infura.io/ws/v3/***', '0123456789abcdef'],
    ['https://eth-mainnet.g.alchemy.com/v2/AbCdEfGh_ijKLmnop-1234', 'https://eth-mainnet.g.alchemy.com/v2/***', 'AbCdEfGh'],
    ['https://x.infura.io/v3/KEYKEYKEY', 'https://x.infura.io/v3/***', 'KEYKEYKEY'],
    ['https://black-dawn.quiknode.pro/3f1a9c0b2d4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a/', 'https://black-dawn.quiknode.pro/***/', '3f1a9c0b2d4e'],
    ['https://rpc.ankr.com/eth/a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2', 'https://rpc.ankr.com/eth/***', 'a1b2c3d4e5f6'],
    // query strings
    ['https://rpc.example.com/?apikey=ABCDEF123&chain=1', 'https://rpc.example.com/?apikey=***&chain=***', 'ABCDEF123'],
    ['https://rpc.example.com/?key=k1&token=t0ken42&access_token=at42xyz&x-api-key=hdr99', 'https://rpc.example.com/?key=***&token=***&access_token=***&x-api-key=***', 't0ken42'],
    ['https://rpc.example.com/rpc?network=mainnet&session=Zk29Xq81Lm04Rt77Pq#frag', 'https://rpc.example.com/rpc?network=***&session=***#frag', 'Zk29Xq81'],
    // Slack webhooks
    ['https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX', 'https://hooks.slack.com/services/***', 'XXXXXXXX'],
    ['https://hooks.slack.com/triggers/T0/123/abcdef0123456789', 'https://hooks.slack.com/triggers/***', 'abcdef0123'],
  ])('%s', (url, expected, secret) => {
    const out = redactUrl(url);
    expect(out).toBe(expected);
    expect(out).not.toContain(secret);
    expect(redactUrl(out)).toBe(out); // idempotent
  });

  it('leaves URLs without secrets as they are', () => {
    for (const u of ['http://127.0.0.1:8545', 'nats://127.0.0.1:4222', 'redis://127.0.0.1:6379', 'https://etherscan.io/tx/0x5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060'])
      expect(redactUrl(u)).toBe(u);
  });
});

describe('redactText: errors, fields, registered secrets', () => {
  it('redacts the RPC URL inside a viem HTTP error message', () => {
    const msg = 'HTTP request failed.\n\nURL: https://x.infura.io/v3/0123456789abcdef0123456789abcdef\nRequest body: {"method":"eth_blockNumber"}\n\nDetails: fetch failed\nVersion: viem@2.57';
    const out = redactText(msg);
    expect(out).toContain('URL: https://x.infura.io/v3/***\n');
    expect(out).not.toContain('0123456789abcdef');
  });

  it('redacts a URL inside a JSON log line, stopping at the escaped newline', () => {
    const line = JSON.stringify({ err: { message: 'URL: wss://u:pw12345@node.example/ws/v3/0123456789abcdef0123456789abcdef\nDetails: x' } });
    const out = redactText(line);
    expect(out).not.toContain('pw12345');
    expect(out).not.toContain('0123456789abcdef');
    expect(JSON.parse(out).err.message).toBe('URL: wss://u:***@node.example/ws/v3/***\nDetails: x');
  });

  it('redacts bearer tokens, password= and routing_key fields', () => {
    const out = redactText('Authorization: Bearer eyJhbGciOi.payload.sig password=hunter2hunter {"routing_key":"0123456789abcdef0123456789abcdef"} api_key: k-998877');
    expect(out).toBe('Authorization: Bearer *** password=*** {"routing_key":"***"} api_key: ***');
  });

  it('keeps secret references (env, file) of YAML and JSON readable', () => {
    const yaml = 'auth:\n  password:\n    env: NATS_PASSWORD\nredis:\n  password: { env: REDIS_PASSWORD }\n';
    expect(redactText(yaml)).toBe(yaml);
    expect(redactText('{"password":{"file":"/run/secrets/x"}}')).toBe('{"password":{"file":"/run/secrets/x"}}');
  });

  it('redacts a registered secret wherever it appears, and ignores values too short to be one', () => {
    registerSecret('R0utingKeyR0utingKeyR0utingKey12');
    registerSecret('abc');
    expect(redactText('PagerDuty refused R0utingKeyR0utingKeyR0utingKey12 (abc)')).toBe('PagerDuty refused *** (abc)');
  });

  it('keeps token addresses, hashes and ordinary fields readable', () => {
    const s = '{"token":"0xdAC17F958D2ee523a2206206994597C13D831ec7","tx":"0x5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060","msg":"batch durable"}';
    expect(redactText(s)).toBe(s);
  });

  it('describeFailure (dead-letter reasons) never carries an RPC key', () => {
    const e = new Error('request to https://eth-mainnet.g.alchemy.com/v2/AbCdEfGh_ijKLmnop-1234 failed, reason: connect ECONNREFUSED');
    expect(describeFailure(e)).toBe('Error: request to https://eth-mainnet.g.alchemy.com/v2/*** failed, reason: connect ECONNREFUSED');
  });
});
