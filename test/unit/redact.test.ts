import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { redactConfig } from '../../src/cli/recon.js';
import { createLogger } from '../../src/lib/logger.js';
import { redactText, redactUrl } from '../../src/lib/redact.js';

const INFURA_KEY = '9aa3d95b3bc440fa88ea12eaa4456161';
const ALCHEMY_KEY = 'Xk7pQ2m_9vLr-3TnWz8yBb1cDe4FgHi';
const SECRETS = [INFURA_KEY, ALCHEMY_KEY, 's3cr3t-pass', 'n4ts-t0ken', 'T0123/B4567/abcdefXYZ0123456789', 'qnkey0123456789abcdef0123'];

describe('redactUrl', () => {
  it.each([
    ['https://mainnet.infura.io/v3/' + INFURA_KEY, 'https://mainnet.infura.io/v3/***'],
    ['wss://mainnet.infura.io/ws/v3/' + INFURA_KEY, 'wss://mainnet.infura.io/ws/v3/***'],
    ['https://eth-mainnet.g.alchemy.com/v2/' + ALCHEMY_KEY, 'https://eth-mainnet.g.alchemy.com/v2/***'],
    ['wss://eth-mainnet.g.alchemy.com/v2/' + ALCHEMY_KEY, 'wss://eth-mainnet.g.alchemy.com/v2/***'],
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
    const line = JSON.stringify({ msg: 'rpc failed', err: { message: `fetch wss://eth-mainnet.g.alchemy.com/v2/${ALCHEMY_KEY} failed`, url: `nats://n4ts-t0ken@host:4222` }, routing_key: 'abcdefghijklmnopqrstuvwxyz012345' });
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
      chains: [{ chainId: 1, rpcUrls: [`https://mainnet.infura.io/v3/${INFURA_KEY}`, 'https://snowy-wild.quiknode.pro/qnkey0123456789abcdef0123/'], wsUrls: [`wss://eth-mainnet.g.alchemy.com/v2/${ALCHEMY_KEY}`] }],
    });
    const printed = JSON.stringify(redactConfig(config), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    for (const s of SECRETS) expect(printed).not.toContain(s);
  });

  it('the daemon logger writes no secret, whatever field or error carries it', () => {
    const lines: string[] = [];
    const dest = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
    const log = createLogger({ level: 'info', redactAccounts: false, redactPaths: [] }, { destination: dest as never });
    log.error({ err: new Error(`HTTP request failed. URL: https://mainnet.infura.io/v3/${INFURA_KEY}`) }, 'chain: rpc failed');
    log.warn({ rpc: `wss://eth-mainnet.g.alchemy.com/v2/${ALCHEMY_KEY}` }, `retrying nats://n4ts-t0ken@nats-2:4222`);
    const all = lines.join('');
    expect(all).toContain('chain: rpc failed');
    for (const s of SECRETS) expect(all).not.toContain(s);
  });
});
