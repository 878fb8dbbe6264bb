/**
 * `npm run bench:chain`: chain backfill speed against a real anvil, in one run:
 *  (a) the node's raw eth_getLogs rate: the whole range fetched in bounded chunks with plain viem
 *      (logs per second, nothing decoded beyond what viem does, nothing published);
 *  (b) the ingester's backfill rate end to end: from a fresh checkpoint to every event published
 *      and acked in JetStream (headers checked, events decoded, block records in Redis, progress,
 *      checkpoints), in events per second;
 * and their ratio; and, for context, (c) the bare JetStream publish-and-ack rate of one message per
 * event (the ceiling of a per-event publisher on this machine; the ingester publishes one message
 * per block, so it is not bounded by it). Both (a) and (b) use the same chunk size (`--chunk`). The logs come from DepositToken's
 * mintBatch (one Transfer per recipient), sent back to back, one block per transaction.
 * Prints the figures and writes bench/results/chain-backfill.json.
 *
 * Options: --logs N (default 24000) --per-tx N (logs per transaction, default 200)
 *          --chunk N (blocks per eth_getLogs, default 50) --runs N (default 3)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { createPublicClient, http, type Address } from 'viem';
import { privateKeyToAddress, generatePrivateKey } from 'viem/accounts';
import { chainSchema } from '../src/config/schema.js';
import { chainIngester, ensureChainStream } from '../src/streams/chain/chainIngester.js';
import { deployDepositToken, startAnvil } from '../src/streams/chain/anvilNode.js';
import { depositTokenAbi } from '../src/streams/chain/depositTokenArtifact.js';
import { decodeChainEvents, encodeChainEvent } from '../src/streams/chain/chainEventCodec.js';

const { values: opts } = parseArgs({
  options: {
    logs: { type: 'string', default: '24000' },
    'per-tx': { type: 'string', default: '200' },
    chunk: { type: 'string', default: '50' },
    runs: { type: 'string', default: '3' },
  },
});
const LOGS = Number(opts.logs);
const PER_TX = Number(opts['per-tx']);
const CHUNK = Number(opts.chunk);
const RUNS = Number(opts.runs);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const node = await startAnvil({ chainId: 31_337 });
  const nc = await connect({ servers: '127.0.0.1:4222' });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const redis = new Redis('redis://127.0.0.1:6379');
  const cleanups: Array<() => Promise<unknown>> = [];
  try {
    // --- generate the logs --------------------------------------------------------------------
    const token = await deployDepositToken(node, { name: 'Bench Deposit', symbol: 'BD', decimals: 6 });
    const startBlock = await node.publicClient.getBlockNumber({ cacheTime: 0 });
    const recipients = Array.from({ length: PER_TX }, () => privateKeyToAddress(generatePrivateKey()).toLowerCase() as Address);
    const txs = Math.ceil(LOGS / PER_TX);
    const genStarted = performance.now();
    let last: `0x${string}` | undefined;
    for (let i = 0; i < txs; i++) {
      const n = Math.min(PER_TX, LOGS - i * PER_TX);
      last = await node.walletClient.writeContract({
        address: token, abi: depositTokenAbi, functionName: 'mintBatch',
        args: [recipients.slice(0, n), Array.from({ length: n }, (_, k) => BigInt(i * PER_TX + k + 1))], gas: 30_000_000n,
      });
    }
    const receipt = await node.publicClient.waitForTransactionReceipt({ hash: last!, pollingInterval: 50 });
    if (receipt.status !== 'success') throw new Error('mintBatch reverted');
    const lastLogBlock = receipt.blockNumber;
    // Empty blocks on top, so every log block is deep history (backfilled by ranges).
    await node.testClient.mine({ blocks: 100 });
    const head = await node.publicClient.getBlockNumber({ cacheTime: 0 });
    const genSeconds = (performance.now() - genStarted) / 1_000;
    console.log(`generated ${LOGS} Transfer logs in ${txs} blocks (${startBlock + 1n}..${lastLogBlock}) in ${genSeconds.toFixed(1)} s`);

    // --- (a) raw eth_getLogs --------------------------------------------------------------------
    const plain = createPublicClient({ transport: http(node.rpcUrl) });
    const raw: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const t0 = performance.now();
      let count = 0;
      for (let from = startBlock; from <= head; from += BigInt(CHUNK)) {
        const to = from + BigInt(CHUNK) - 1n < head ? from + BigInt(CHUNK) - 1n : head;
        count += (await plain.getLogs({ address: token, fromBlock: from, toBlock: to })).length;
      }
      const secs = (performance.now() - t0) / 1_000;
      if (count !== LOGS) throw new Error(`raw getLogs saw ${count} logs, expected ${LOGS}`);
      raw.push(count / secs);
      console.log(`raw eth_getLogs run ${r + 1}: ${count} logs in ${secs.toFixed(2)} s = ${Math.round(count / secs)} logs/s`);
    }

    // --- (b) the ingester, end to end ------------------------------------------------------------
    const ingest: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const id = randomUUID().slice(0, 8);
      const nats = { chainStream: `BENCH_CHAIN_${id}`, chainSubjectPrefix: `benchchain_${id}` };
      const namespace = `bench_chain_${id}`;
      await ensureChainStream(jsm, { nats });
      cleanups.push(async () => {
        await jsm.streams.delete(nats.chainStream).catch(() => undefined);
        const keys = await redis.keys(`${namespace}:*`);
        if (keys.length) await redis.del(...keys);
      });
      const ing = chainIngester({
        chain: chainSchema.parse({ chainId: node.chainId, rpcUrls: [node.rpcUrl], confirmations: 0, pollIntervalMs: 20, maxBlockRange: CHUNK }),
        tokens: [{ chainId: node.chainId, address: token, currency: 'USD', startBlock }],
        namespace, subjectPrefix: nats.chainSubjectPrefix, js, redis, logger: pino({ level: 'warn' }),
      });
      const t0 = performance.now();
      await ing.start();
      while ((ing.lastProgress()?.blockNumber ?? -1n) < lastLogBlock) await new Promise((res) => setTimeout(res, 5));
      const secs = (performance.now() - t0) / 1_000;
      await ing.stop();
      // Count what was published (after the clock stopped): every `.events` message decoded.
      const { events, messages } = await countPublishedEvents(js, nats.chainStream, `${nats.chainSubjectPrefix}.${node.chainId}.events`);
      if (events !== LOGS) throw new Error(`the ingester published ${events} events, expected ${LOGS}`);
      console.log(`  (${messages} messages of up to ${LOGS / messages} events)`);
      ingest.push(events / secs);
      console.log(`ingester backfill run ${r + 1}: ${events} events published and acked in ${secs.toFixed(2)} s = ${Math.round(events / secs)} events/s`);
    }

    // --- (c) context: the bare JetStream publish-and-ack rate of the same messages -------------------
    const bare: number[] = [];
    {
      const id = randomUUID().slice(0, 8);
      const name = `BENCH_PUB_${id}`;
      await jsm.streams.add({ name, subjects: [`benchpub_${id}.>`], storage: 'file', duplicate_window: 120_000_000_000 });
      cleanups.push(() => jsm.streams.delete(name));
      const logs = [];
      for (let from = startBlock; from <= lastLogBlock; from += BigInt(CHUNK)) {
        logs.push(...(await plain.getLogs({ address: token, fromBlock: from, toBlock: from + BigInt(CHUNK) - 1n })));
      }
      const payloads = logs.map((l) => encodeChainEvent({
        eventId: `${node.chainId}:${l.blockHash}:${l.logIndex}`, chainId: node.chainId, token, blockNumber: l.blockNumber, blockHash: l.blockHash,
        blockTime: 0, txHash: l.transactionHash, logIndex: l.logIndex, kind: 'mint', from: '0x0000000000000000000000000000000000000000',
        to: recipients[0]!, value: 1n, decimals: 6, reference: null,
      }));
      for (let r = 0; r < RUNS; r++) {
        const t0 = performance.now();
        let inflight: Promise<unknown>[] = [];
        for (let i = 0; i < payloads.length; i++) {
          inflight.push(js.publish(`benchpub_${id}.${r}`, payloads[i]!, { msgID: `${r}:${i}` }));
          if (inflight.length >= 256) { await Promise.all(inflight); inflight = []; }
        }
        await Promise.all(inflight);
        bare.push(payloads.length / ((performance.now() - t0) / 1_000));
        console.log(`bare JetStream publish run ${r + 1}: ${Math.round(bare[r]!)} msgs/s`);
      }
    }

    const rawRate = median(raw);
    const ingestRate = median(ingest);
    const result = {
      benchmark: 'chain-backfill',
      at: new Date().toISOString(),
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '', memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
      setup: { logs: LOGS, logsPerBlock: PER_TX, blocks: txs, chunkBlocks: CHUNK, runs: RUNS, node: 'anvil (@foundry-rs/anvil)', generationSeconds: Number(genSeconds.toFixed(2)) },
      rawGetLogsPerSecond: Math.round(rawRate),
      ingesterEventsPerSecond: Math.round(ingestRate),
      ratio: Number((ingestRate / rawRate).toFixed(3)),
      bareJetStreamPublishPerSecond: Math.round(median(bare)),
      ingesterToJetStreamCeiling: Number((ingestRate / median(bare)).toFixed(3)),
      runs: { raw: raw.map(Math.round), ingester: ingest.map(Math.round), bareJetStream: bare.map(Math.round) },
    };
    console.log(`\nraw eth_getLogs: ${result.rawGetLogsPerSecond} logs/s   ingester: ${result.ingesterEventsPerSecond} events/s   ratio ${result.ratio}`);
    console.log(`bare JetStream publish+ack: ${result.bareJetStreamPublishPerSecond} msgs/s   ingester / that ceiling: ${result.ingesterToJetStreamCeiling}`);
    const dir = join(new URL('.', import.meta.url).pathname, 'results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'chain-backfill.json'), `${JSON.stringify(result, null, 2)}\n`);
    console.log(`wrote ${join(dir, 'chain-backfill.json')}`);
  } finally {
    for (const c of cleanups) await c().catch(() => undefined);
    redis.disconnect();
    await nc.close();
    await node.stop();
  }
}

/** Events and messages on `subject` of `stream`, read back with an ordered consumer. */
async function countPublishedEvents(js: JetStreamClient, stream: string, subject: string): Promise<{ events: number; messages: number }> {
  const consumer = await js.consumers.get(stream, { filter_subjects: subject });
  const total = (await consumer.info(true)).num_pending;
  let events = 0;
  let messages = 0;
  if (total === 0) return { events, messages };
  const iter = await consumer.consume();
  for await (const m of iter) {
    events += decodeChainEvents(m.data).length;
    if (++messages >= total) break;
  }
  await iter.close();
  return { events, messages };
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
