import { randomBytes } from 'node:crypto';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { ensureChainStream } from '../../src/streams/chain/chainIngester.js';
import { startAnvil, type AnvilNode } from './anvil.js';

export interface ChainTestbedHandles {
  node: AnvilNode;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  redis: Redis;
}

/** A private chain stream, subject prefix and Redis namespace for one test. */
export interface ChainScope {
  namespace: string;
  chainStream: string;
  chainSubjectPrefix: string;
}

/**
 * The chain-ingestion test bed of one test file: one anvil node and NATS/Redis connections for the
 * file (handed to `bind` once ready), per-test scopes, and cleanups run after each test in reverse.
 */
export function useChainTestbed(tag: string, bind: (h: ChainTestbedHandles) => void) {
  const cleanups: Array<() => Promise<unknown>> = [];
  let h: ChainTestbedHandles | undefined;

  beforeAll(async () => {
    const node = await startAnvil();
    const nc = await connect({ servers: '127.0.0.1:4222' });
    h = { node, nc, js: jetstream(nc), jsm: await jetstreamManager(nc), redis: new Redis('redis://127.0.0.1:6379') };
    bind(h);
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });
  afterAll(async () => {
    h?.redis.disconnect();
    await h?.nc.close();
    await h?.node.stop();
  });

  async function scope(): Promise<ChainScope> {
    const { jsm, redis } = h!;
    const id = randomBytes(4).toString('hex');
    const namespace = `t_${tag}_${id}`;
    const nats = { chainStream: `CHAIN_${tag.toUpperCase()}_${id}`, chainSubjectPrefix: `t${tag}_${id}` };
    await ensureChainStream(jsm, { nats });
    cleanups.push(async () => {
      await jsm.streams.delete(nats.chainStream);
      const keys = await redis.keys(`${namespace}:*`);
      if (keys.length) await redis.del(...keys);
    });
    return { namespace, ...nats };
  }

  return { cleanups, scope };
}
