/**
 * Runs the chain ingesters alone, one per configured chain, in this process: for a deployment
 * that separates polling from matching, and for tests that SIGKILL an active poller.
 *
 *   node --import tsx src/cli/runIngester.ts <config.json> [leaseTtlMs]
 *
 * The file holds the engine's configuration (the same shape as `recon run`). SIGTERM/SIGINT stop
 * cleanly (the lease is released); SIGKILL leaves the lease to expire, and a standby takes over.
 */
import { readFileSync } from 'node:fs';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { natsSecurityOptions } from '../config/connectionSecurity.js';
import { createLogger } from '../observability/logger.js';
import { parseConfig } from '../config/load.js';
import { connectRedis } from '../state/redisClient.js';
import { chainIngester, ensureChainStream } from '../streams/chain/chainIngester.js';

async function main(): Promise<void> {
  const [file, ttl] = process.argv.slice(2);
  if (!file) throw new Error('usage: runIngester <config.json> [leaseTtlMs]');
  const config = parseConfig(JSON.parse(readFileSync(file, 'utf8')));
  const logger = createLogger({ ...config.log, level: (process.env.LOG_LEVEL as typeof config.log.level | undefined) ?? config.log.level });
  const nc = await connect({ ...natsSecurityOptions(config.nats), servers: config.nats.servers, noAsyncTraces: true });
  const js = jetstream(nc);
  await ensureChainStream(await jetstreamManager(nc), config);
  const redis = connectRedis(config.redis);
  const ingesters = config.chains.map((chain) =>
    chainIngester({
      chain,
      tokens: config.tokens,
      namespace: config.namespace,
      subjectPrefix: config.nats.chainSubjectPrefix,
      partitions: config.nats.partitions.count,
      js,
      redis,
      logger,
      workerId: config.workerId,
      ...(ttl && { leaseTtlMs: Number(ttl) }),
    }),
  );
  for (const i of ingesters) await i.start();
  logger.info({ chains: ingesters.length, workerId: config.workerId }, 'chain ingesters running');
  const shutdown = async () => {
    for (const i of ingesters) await i.stop();
    redis.disconnect();
    await nc.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown());
  process.once('SIGINT', () => void shutdown());
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
