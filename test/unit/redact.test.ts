import { afterEach, describe, expect, it } from 'vitest';
import { clearRegisteredSecrets, redactText, redactUrl, registerSecret } from '../../src/lib/redact.js';
import { describeFailure } from '../../src/lib/failureKind.js';

afterEach(() => clearRegisteredSecrets());

describe('redactUrl', () => {
  it.each([
    // credentials in the user part, every scheme
    ['https://alice:s3cretPw@rpc.example.com/', 'https://alice:***@rpc.example.com/', 's3cretPw'],
    ['wss://alice:s3cretPw@ws.example.com:8546', 'wss://alice:***@ws.example.com:8546', 's3cretPw'],
    ['redis://:r3disPass@redis:6379/0', 'redis://:***@redis:6379/0', 'r3disPass'],
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
    ['https://rpc.example.com/?apikey=ABCDEF123&chain=1', 'https://rpc.example.com/?apikey=***&chain=1', 'ABCDEF123'],
    ['https://rpc.example.com/?key=k1&token=t0ken42&access_token=at42xyz&x-api-key=hdr99', 'https://rpc.example.com/?key=***&token=***&access_token=***&x-api-key=***', 't0ken42'],
    ['https://rpc.example.com/rpc?network=mainnet&session=Zk29Xq81Lm04Rt77Pq', 'https://rpc.example.com/rpc?network=mainnet&session=***', 'Zk29Xq81'],
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
    for (const u of ['http://127.0.0.1:8545', 'nats://127.0.0.1:4222', 'redis://127.0.0.1:6379', 'https://grafana.example.com/d/recon-overview?orgId=1&from=1733000000000',
      'https://etherscan.io/tx/0x5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060']) expect(redactUrl(u)).toBe(u);
  });
});

describe('redactText', () => {
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
