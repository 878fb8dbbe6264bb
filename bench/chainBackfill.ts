/**
 * `npm run bench:chain`: chain backfill speed against a real anvil, in one run:
 *  (a) the node's raw eth_getLogs rate: the whole range fetched in the same chunks with plain viem
 *      (logs per second, nothing decoded beyond what viem does, nothing published), once one
 *      request at a time and once with as many requests in flight as the ingester may have ranges
 *      in flight (`--read-ahead`); the better of the two is the ceiling (the RPC's rate);
 *  (b) the ingester's backfill rate end to end: from a fresh checkpoint to every event published
 *      and acked in JetStream (headers checked, events decoded, block records in Redis, progress,
 *      checkpoints), in events per second;
 * and their ratio; and, for context, (c) the bare JetStream publish-and-ack rate of one message per
 * event (the ceiling of a per-event publisher on this machine; the ingester publishes one message
 * per block, so it is not bounded by it). Both (a) and (b) use the same chunk size (`--chunk`). The logs come from DepositToken's
 * mintBatch (one Transfer per recipient), sent back to back, one block per transaction (anvil's
 * automine; a block mined by hand when a receipt is late may hold several).
 * For (a) and (b) it also records the CPU time that anvil, nats-server, redis-server, this process
 * and this process's main thread (where the raw reader and the ingester run their JavaScript)
 * spent (from /proc), so a ratio below 1 can be told apart: waiting on the RPC (main thread partly
 * idle), one thread's work (main thread busy), or sharing the machine's cores with the node.
 * With `--latency-ms N`, (a) and (b) go through a fixed-latency proxy in its own process
 * (test/support/rpcProxy.ts): a remote provider N ms away. `--latency-kind tcp` (default) relays
 * bytes after a timer and costs almost no CPU, as a provider on another machine costs this one
 * nothing; `http` is the JSON-RPC proxy of the tests (it parses every request and answer).
 * Prints the figures and writes bench/results/chain-backfill.json (chain-backfill-latency<N>.json).
 *
 * Options: --logs N (default 24000) --per-tx N (logs per transaction, default 200)
 *          --chunk N (blocks per eth_getLogs, default 50) --runs N (default 3)
 *          --read-ahead N (the ingester's readAhead, default DEFAULT_READ_AHEAD) --latency-ms N (default 0)
 *          --latency-kind tcp|http (default tcp)
 *          --cpu-profile FILE (a V8 CPU profile of this process while each ingester run's clock runs:
 *          FILE for the first run, FILE.2, FILE.3 for the others)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import { Session } from 'node:inspector/promises';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { createPublicClient, http, type Address } from 'viem';
import { privateKeyToAddress, generatePrivateKey } from 'viem/accounts';
import { chainSchema } from '../src/config/schema.js';
import { chainIngester, DEFAULT_READ_AHEAD, ensureChainStream } from '../src/streams/chain/chainIngester.js';
import { deployDepositToken, startAnvil } from '../src/devchain/anvilNode.js';
import { depositTokenAbi } from '../src/devchain/depositTokenArtifact.js';
import { decodeChainEvents, encodeChainEvent } from '../src/streams/chain/chainEventCodec.js';
import { chainSubject } from '../src/streams/chain/chainSubjects.js';

const { values: opts } = parseArgs({
  options: {
    logs: { type: 'string', default: '24000' },
    'per-tx': { type: 'string', default: '200' },
    chunk: { type: 'string', default: '50' },
    runs: { type: 'string', default: '3' },
    'read-ahead': { type: 'string', default: String(DEFAULT_READ_AHEAD) },
    'latency-ms': { type: 'string', default: '0' },
    'latency-kind': { type: 'string', default: 'tcp' },
    'cpu-profile': { type: 'string' },
  },
});
const LOGS = Number(opts.logs);
const PER_TX = Number(opts['per-tx']);
const CHUNK = Number(opts.chunk);
const RUNS = Number(opts.runs);
const READ_AHEAD = Number(opts['read-ahead']);
const LATENCY_MS = Number(opts['latency-ms']);
const LATENCY_KIND = opts['latency-kind'] === 'http' ? 'http' : 'tcp';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const node = await startAnvil({ chainId: 31_337 });
  // As the daemon connects (src/daemon.ts): no async stack trace captured per publish.
  const nc = await connect({ servers: '127.0.0.1:4222', noAsyncTraces: true });
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
    // Sent in rounds of GEN_ROUND transactions, each waited for: anvil accepts transactions faster
    // than it mines them, and with thousands pending its automine has been seen to stop (txpool
    // pending, no new block for minutes). A round's last receipt is polled; a block is mined by
    // hand when it is still missing after a second.
    const GEN_ROUND = 200;
    let receipt: Awaited<ReturnType<typeof node.publicClient.getTransactionReceipt>> | null = null;
    for (let i = 0; i < txs; i++) {
      const n = Math.min(PER_TX, LOGS - i * PER_TX);
      const hash = await node.walletClient.writeContract({
        address: token,
        abi: depositTokenAbi,
        functionName: 'mintBatch',
        args: [recipients.slice(0, n), Array.from({ length: n }, (_, k) => BigInt(i * PER_TX + k + 1))],
        gas: 30_000_000n,
      });
      if ((i + 1) % GEN_ROUND !== 0 && i !== txs - 1) continue;
      receipt = await node.publicClient.getTransactionReceipt({ hash }).catch(() => null);
      for (let waited = 0; !receipt && waited < 120_000; waited += 50) {
        await new Promise((r) => setTimeout(r, 50));
        if (waited > 0 && waited % 1_000 === 0) await node.testClient.mine({ blocks: 1 });
        receipt = await node.publicClient.getTransactionReceipt({ hash }).catch(() => null);
      }
      if (!receipt) throw new Error(`no receipt for mintBatch ${hash} (transaction ${i + 1} of ${txs}) after 2 minutes`);
    }
    if (receipt?.status !== 'success') throw new Error('mintBatch reverted');
    const lastLogBlock = receipt.blockNumber;
    // Empty blocks on top, so every log block is deep history (backfilled by ranges).
    await node.testClient.mine({ blocks: 100 });
    const head = await node.publicClient.getBlockNumber({ cacheTime: 0 });
    const genSeconds = (performance.now() - genStarted) / 1_000;
    console.log(`generated ${LOGS} Transfer logs in ${txs} transactions, blocks (${startBlock + 1n}..${lastLogBlock}) in ${genSeconds.toFixed(1)} s`);

    // The RPC as the ingester and the raw reads see it: anvil itself, or behind a fixed latency.
    const proxy = LATENCY_MS > 0 ? await startLatencyProxy(node.rpcUrl, LATENCY_MS, LATENCY_KIND) : null;
    if (proxy) cleanups.push(async () => proxy.child.kill('SIGTERM'));
    const rpcUrl = proxy?.url ?? node.rpcUrl;
    const pids = {
      anvil: findPid((cmd) => cmd.includes('anvil') && cmd.includes(`--port\0${new URL(node.rpcUrl).port}\0`)),
      'nats-server': findPid((cmd) => cmd.startsWith('/usr/sbin/nats-server') || cmd.split('\0')[0]!.endsWith('nats-server')),
      'redis-server': findPid((cmd) => cmd.startsWith('redis-server') && cmd.includes(':6379')),
      ...(proxy?.child.pid && { proxy: proxy.child.pid }),
    };
    const cpu = cpuMeter(pids);

    // --- (a) raw eth_getLogs --------------------------------------------------------------------
    const plain = createPublicClient({ transport: http(rpcUrl) });
    const chunks: { from: bigint; to: bigint }[] = [];
    for (let from = startBlock; from <= head; from += BigInt(CHUNK)) chunks.push({ from, to: from + BigInt(CHUNK) - 1n < head ? from + BigInt(CHUNK) - 1n : head });
    /** Every chunk by eth_getLogs with `inFlight` requests at once; logs per second. */
    const rawRun = async (inFlight: number, label: string) => {
      const t0 = performance.now();
      let count = 0;
      let next = 0;
      await Promise.all(
        Array.from({ length: inFlight }, async () => {
          while (next < chunks.length) {
            const c = chunks[next++]!;
            const logs = await plain.getLogs({ address: token, fromBlock: c.from, toBlock: c.to });
            count += logs.length;
          }
        }),
      );
      const secs = (performance.now() - t0) / 1_000;
      if (count !== LOGS) throw new Error(`raw getLogs saw ${count} logs, expected ${LOGS}`);
      console.log(`raw eth_getLogs ${label}: ${count} logs in ${secs.toFixed(2)} s = ${Math.round(count / secs)} logs/s`);
      return count / secs;
    };
    const raw: number[] = [];
    const rawAhead: number[] = [];
    const rawCpu = cpu.start();
    for (let r = 0; r < RUNS; r++) raw.push(await rawRun(1, `run ${r + 1}, 1 in flight`));
    const rawCpuSeconds = rawCpu.stop();
    const rawAheadCpu = cpu.start();
    for (let r = 0; r < RUNS; r++) rawAhead.push(await rawRun(Math.max(1, READ_AHEAD), `run ${r + 1}, ${Math.max(1, READ_AHEAD)} in flight`));
    const rawAheadCpuSeconds = rawAheadCpu.stop();

    // --- (b) the ingester, end to end ------------------------------------------------------------
    const ingest: number[] = [];
    const profiler = opts['cpu-profile'] ? new Session() : null;
    if (profiler) {
      profiler.connect();
      await profiler.post('Profiler.enable');
    }
    const ingestCpu = cpu.start();
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
        chain: chainSchema.parse({ chainId: node.chainId, rpcUrls: [rpcUrl], confirmations: 0, pollIntervalMs: 20, maxBlockRange: CHUNK }),
        tokens: [{ chainId: node.chainId, address: token, currency: 'USD', startBlock }],
        namespace,
        subjectPrefix: nats.chainSubjectPrefix,
        js,
        redis,
        logger: pino({ level: 'warn' }),
        readAhead: READ_AHEAD,
      });
      if (profiler) await profiler.post('Profiler.start');
      const t0 = performance.now();
      await ing.start();
      while ((ing.lastProgress()?.blockNumber ?? -1n) < lastLogBlock) await new Promise((res) => setTimeout(res, 5));
      const secs = (performance.now() - t0) / 1_000;
      ingestCpu.pause();
      await ing.stop();
      if (profiler) {
        const { profile } = await profiler.post('Profiler.stop');
        const file = r === 0 ? opts['cpu-profile']! : `${opts['cpu-profile']!}.${r + 1}`;
        writeFileSync(file, JSON.stringify(profile));
        console.log(`  CPU profile of this run (clock running) written to ${file}`);
      }
      // Count what was published (after the clock stopped): every `.events` message decoded.
      const { events, messages } = await countPublishedEvents(js, nats.chainStream, chainSubject(nats.chainSubjectPrefix, node.chainId, 'events'));
      if (events !== LOGS) throw new Error(`the ingester published ${events} events, expected ${LOGS}`);
      console.log(`  (${messages} messages of up to ${LOGS / messages} events)`);
      ingest.push(events / secs);
      console.log(`ingester backfill run ${r + 1}: ${events} events published and acked in ${secs.toFixed(2)} s = ${Math.round(events / secs)} events/s`);
      ingestCpu.resume();
    }
    const ingestCpuSeconds = ingestCpu.stop();
    profiler?.disconnect();

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
      const payloads = logs.map((l) =>
        encodeChainEvent({
          eventId: `${node.chainId}:${l.blockHash}:${l.logIndex}`,
          chainId: node.chainId,
          token,
          blockNumber: l.blockNumber,
          blockHash: l.blockHash,
          blockTime: 0,
          txHash: l.transactionHash,
          logIndex: l.logIndex,
          kind: 'mint',
          from: '0x0000000000000000000000000000000000000000',
          to: recipients[0]!,
          value: 1n,
          decimals: 6,
          reference: null,
        }),
      );
      for (let r = 0; r < RUNS; r++) {
        const t0 = performance.now();
        let inflight: Promise<unknown>[] = [];
        for (let i = 0; i < payloads.length; i++) {
          inflight.push(js.publish(`benchpub_${id}.${r}`, payloads[i]!, { msgID: `${r}:${i}` }));
          if (inflight.length >= 256) {
            await Promise.all(inflight);
            inflight = [];
          }
        }
        await Promise.all(inflight);
        bare.push(payloads.length / ((performance.now() - t0) / 1_000));
        console.log(`bare JetStream publish run ${r + 1}: ${Math.round(bare[r]!)} msgs/s`);
      }
    }

    const rawRate = Math.max(median(raw), median(rawAhead));
    const ingestRate = median(ingest);
    // CPU milliseconds per 1,000 logs, per process, while each was measured (all runs).
    const per1k = (c: Record<string, number>) =>
      Object.fromEntries(
        Object.entries(c)
          .filter(([k]) => k !== 'wall')
          .map(([k, v]) => [k, Number(((v * 1e6) / (LOGS * RUNS)).toFixed(2))]),
      );
    // How busy this process's main thread (where the raw reader and the ingester run) was while measured.
    const busy = (c: Record<string, number>) => Number(((c[MAIN_THREAD] ?? 0) / (c.wall || 1)).toFixed(2));
    const ingestMainMsPer1k = ((ingestCpuSeconds[MAIN_THREAD] ?? 0) * 1e6) / (LOGS * RUNS);
    // CPU milliseconds per log of every process measured (this process counted once, with its threads).
    const cpuMsPerLog = (c: Record<string, number>) => (Object.entries(c).reduce((sum, [k, v]) => (k === 'wall' || k === MAIN_THREAD ? sum : sum + v), 0) * 1e3) / (LOGS * RUNS);
    const result = {
      benchmark: 'chain-backfill',
      at: new Date().toISOString(),
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '', memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
      setup: {
        logs: LOGS,
        logsPerBlock: PER_TX,
        transactions: txs,
        blocks: Number(lastLogBlock - startBlock),
        chunkBlocks: CHUNK,
        runs: RUNS,
        readAhead: READ_AHEAD,
        rpcLatencyMs: LATENCY_MS,
        ...(LATENCY_MS > 0 && { latencyKind: LATENCY_KIND }),
        node: 'anvil (@foundry-rs/anvil)',
        generationSeconds: Number(genSeconds.toFixed(2)),
      },
      rawGetLogsPerSecond: Math.round(rawRate),
      rawGetLogsPerSecondOneInFlight: Math.round(median(raw)),
      rawGetLogsPerSecondReadAheadInFlight: Math.round(median(rawAhead)),
      ingesterEventsPerSecond: Math.round(ingestRate),
      ratio: Number((ingestRate / rawRate).toFixed(3)),
      bareJetStreamPublishPerSecond: Math.round(median(bare)),
      ingesterToJetStreamCeiling: Number((ingestRate / median(bare)).toFixed(3)),
      cpuMsPer1kLogs: { raw: per1k(rawCpuSeconds), rawReadAhead: per1k(rawAheadCpuSeconds), ingester: per1k(ingestCpuSeconds) },
      mainThreadBusy: { rawReadAhead: busy(rawAheadCpuSeconds), ingester: busy(ingestCpuSeconds) },
      // Events per second one ingester thread could reach if it were never idle (from its CPU per event).
      ingesterThreadCapacityPerSecond: Math.round(1e6 / (ingestMainMsPer1k || Number.NaN)),
      // Cores the whole backfill (every process measured) would keep busy at the raw rate.
      coresNeededAtRawRate: Number(((rawRate * cpuMsPerLog(ingestCpuSeconds)) / 1_000).toFixed(2)),
      runs: { raw: raw.map(Math.round), rawReadAhead: rawAhead.map(Math.round), ingester: ingest.map(Math.round), bareJetStream: bare.map(Math.round) },
    };
    console.log(
      `\nraw eth_getLogs: ${result.rawGetLogsPerSecond} logs/s (1 in flight ${result.rawGetLogsPerSecondOneInFlight}, ${Math.max(1, READ_AHEAD)} in flight ${result.rawGetLogsPerSecondReadAheadInFlight})   ingester: ${result.ingesterEventsPerSecond} events/s   ratio ${result.ratio}`,
    );
    console.log(`CPU ms per 1,000 logs, raw (1 in flight): ${JSON.stringify(per1k(rawCpuSeconds))}`);
    console.log(`CPU ms per 1,000 logs, raw (${Math.max(1, READ_AHEAD)} in flight): ${JSON.stringify(per1k(rawAheadCpuSeconds))}`);
    console.log(`CPU ms per 1,000 logs, ingester:          ${JSON.stringify(per1k(ingestCpuSeconds))}`);
    console.log(
      `main thread busy: raw reader ${Math.round(100 * result.mainThreadBusy.rawReadAhead)} %, ingester ${Math.round(100 * result.mainThreadBusy.ingester)} %` +
        `   one ingester thread never idle: ${result.ingesterThreadCapacityPerSecond} events/s (${ingestMainMsPer1k.toFixed(2)} ms per 1,000)`,
    );
    console.log(`cores the backfill would keep busy at the raw rate (all processes): ${result.coresNeededAtRawRate} of ${cpus().length}`);
    console.log(`bare JetStream publish+ack: ${result.bareJetStreamPublishPerSecond} msgs/s   ingester / that ceiling: ${result.ingesterToJetStreamCeiling}`);
    const dir = join(new URL('.', import.meta.url).pathname, 'results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, LATENCY_MS > 0 ? `chain-backfill-latency${LATENCY_MS}.json` : 'chain-backfill.json');
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`wrote ${file}`);
  } finally {
    for (const c of cleanups) await c().catch(() => undefined);
    redis.disconnect();
    await nc.close();
    await node.stop();
  }
}

/** The pid of the first process whose NUL-separated command line `match`es, if any. */
function findPid(match: (cmdline: string) => boolean): number | undefined {
  for (const d of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(d)) continue;
    try {
      if (match(readFileSync(`/proc/${d}/cmdline`, 'latin1'))) return Number(d);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

/** The cpuMeter entry of this process's main thread (JavaScript; not GC helpers, not libuv's pool). */
const MAIN_THREAD = 'bench main thread';

/** CPU seconds (user + system) of a process (or of its thread `tid`) so far, from /proc; 0 when unreadable. */
function cpuSecondsOf(pid: number, tid?: number): number {
  try {
    const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return 0;
  }
}

/** Measures the CPU seconds that `pids` and this process spend between start and stop, minus pauses. */
function cpuMeter(pids: Record<string, number | undefined>) {
  const read = () => {
    const out: Record<string, number> = {
      wall: performance.now() / 1_000,
      bench: process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6,
      [MAIN_THREAD]: cpuSecondsOf(process.pid, process.pid),
    };
    for (const [name, pid] of Object.entries(pids)) if (pid) out[name] = cpuSecondsOf(pid);
    return out;
  };
  return {
    start() {
      const total: Record<string, number> = {};
      let since = read();
      const add = () => {
        const now = read();
        for (const k of Object.keys(now)) total[k] = (total[k] ?? 0) + now[k]! - (since[k] ?? 0);
      };
      return {
        pause: add,
        resume: () => {
          since = read();
        },
        stop: () => {
          add();
          return total;
        },
      };
    },
  };
}

/** Starts test/support/rpcProxy.ts in a process of its own with a fixed latency; resolves with its URL. */
async function startLatencyProxy(target: string, latencyMs: number, kind: 'http' | 'tcp'): Promise<{ url: string; child: ChildProcess }> {
  const script = new URL('../test/support/rpcProxy.ts', import.meta.url).pathname;
  const child = spawn(process.execPath, ['--import', 'tsx', script, target, String(latencyMs), kind], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n')[0]!;
      if (out.includes('\n')) resolve(line.trim());
    });
    child.once('exit', (code) => reject(new Error(`rpc proxy exited with ${code}`)));
  });
  return { url, child };
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
