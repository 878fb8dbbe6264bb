/**
 * `npm run bench:shards -- [--shards 6] [--masters 3] [--accounts 600] [--pairs 40000]`: the match
 * state sharded over a local Redis Cluster (issue 18). Starts `masters` redis-server masters with a
 * replica each (test/support/redisCluster.ts), then, once unsharded and once with `shards` shards,
 * sends `pairs` deposit pairs (a credit, then its mint) straight through MatchStore (no NATS, no
 * ClickHouse), accounts round-robin, and prints the legs per shard and the CPU each master spent
 * (utime + stime from /proc/<pid>/stat of its redis-server, pid from INFO server), with each
 * master's share against the mean. Stops the cluster after itself.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Cluster, type Redis } from 'ioredis';
import { shardOf, shardTags, slotOfTag } from '../src/domain/stateShards.js';
import type { Leg } from '../src/domain/types.js';
import { MatchStore } from '../src/state/matchStore.js';
import { redisCluster } from '../test/support/redisCluster.js';

const { values: argv } = parseArgs({
  options: {
    shards: { type: 'string', default: '6' },
    masters: { type: 'string', default: '3' },
    accounts: { type: 'string', default: '600' },
    pairs: { type: 'string', default: '40000' },
  },
});
const SHARDS = Number(argv.shards);
const ACCOUNTS = Number(argv.accounts);
const PAIRS = Number(argv.pairs);
const WALLET = (a: number) => `0x${(0xa11ce000000n + BigInt(a)).toString(16).padStart(40, '0')}`;
const hex64 = (i: number) => `0x${'5ba4d5'}${i.toString(16).padStart(58, '0')}`;

/** utime + stime of a process in seconds (USER_HZ = 100). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

function pair(ns: string, i: number, t0: number): [Leg, Leg] {
  const a = i % ACCOUNTS;
  const amount = String(1_000 + i);
  const common = { flow: 'deposit' as const, accountId: `ACC-${a}`, wallet: WALLET(a), currency: 'USD', amountKey: amount, reference: null };
  return [
    { ...common, legId: `bank:${ns}-E-${i}`, side: 'bank', tokenKey: '', amountNative: amount, eventTime: t0 + i, fingerprint: `b${i}` },
    {
      ...common,
      legId: `chain:31337:${hex64(i)}:0`,
      side: 'chain',
      tokenKey: '31337:0x5fbdb2315678afecb367f032d93f642f64180aa3',
      amountNative: `${amount}0000000000000000`,
      eventTime: t0 + i + 500,
      fingerprint: `c${i}`,
    },
  ];
}

async function run(client: Cluster, masters: { port: number; pid: number }[], shards: number) {
  const ns = `bench-${randomUUID().slice(0, 8)}`;
  const store = new MatchStore(client as unknown as Redis, { namespace: ns, shards, toleranceMs: 120_000, windowMs: 60_000, retentionMs: 3_600_000 });
  const legsPerShard = Array.from({ length: shards }, () => 0);
  const before = masters.map((m) => cpuSeconds(m.pid));
  const t0 = Date.now();
  const started = performance.now();
  const inFlight = new Set<Promise<unknown>>();
  let matched = 0;
  for (let i = 0; i < PAIRS; i++) {
    const [credit, mint] = pair(ns, i, t0);
    legsPerShard[shardOf(credit, shards, 'account')]! += 2;
    const p = store
      .matchOrPark(credit, 'booked')
      .then(() => store.matchOrPark(mint, 'booked'))
      .then((r) => {
        if (r.outcome.t === 'match') matched++;
      });
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
    if (inFlight.size >= 512) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  const secs = (performance.now() - started) / 1_000;
  const cpu = masters.map((m, i) => cpuSeconds(m.pid) - before[i]!);
  await store.clear();
  const mean = cpu.reduce((a, b) => a + b) / cpu.length;
  const tagOwner = await Promise.all(shardTags(shards).map((t) => Number(client.slots[slotOfTag(t)]?.[0]?.split(':')[1] ?? 0)));
  console.info(`\n${shards} shard(s): ${PAIRS} pairs over ${ACCOUNTS} accounts, ${matched} matched, ${Math.round((2 * PAIRS) / secs)} legs/s`);
  console.info(`  legs per shard: ${legsPerShard.map((n, i) => `${shardTags(shards)[i]}@${tagOwner[i]}: ${n}`).join(', ')}`);
  console.info(`  Redis CPU per master: ${masters.map((m, i) => `${m.port}: ${cpu[i]!.toFixed(2)} s (${mean > 0 ? Math.round((100 * (cpu[i]! - mean)) / mean) : 0} % vs mean)`).join(', ')}`);
  return { legsPerShard, cpu, mean, matched };
}

const cluster = await redisCluster(Number(argv.masters));
const client = new Cluster(cluster.urls.map((u) => ({ host: '127.0.0.1', port: Number(new URL(u).port) })));
try {
  await new Promise((r) => client.once('ready', r));
  const masters = await Promise.all(client.nodes('master').map(async (n) => ({ port: Number(n.options.port), pid: Number(/process_id:(\d+)/.exec(await n.info('server'))![1]) })));
  masters.sort((a, b) => a.port - b.port);
  await run(client, masters, 1);
  const sharded = await run(client, masters, SHARDS);
  const worst = Math.max(...sharded.cpu.map((c) => Math.abs(c - sharded.mean) / sharded.mean));
  console.info(`\nwith ${SHARDS} shards every master within ±${Math.round(worst * 100)} % of the mean Redis CPU (target ±25 %)`);
} finally {
  client.disconnect();
  await cluster.dispose();
}
