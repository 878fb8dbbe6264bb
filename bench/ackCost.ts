/**
 * `npm run bench:acks [-- --messages N --rounds R --rate EV/S --seconds S]`: what acking each
 * message costs, against one ack per batch (issue 18 names "acks per batch" as a lever).
 *
 * A JetStream stream of its own on the local NATS; N messages of 300 bytes are published first, then
 * consumed by a fresh durable pull consumer twice per round: with `ack_policy: explicit` and an ack
 * per message (what the worker does), and with `ack_policy: all` and one ack per 64 messages (the
 * last acks every earlier one). Then the same at a fixed rate (`--rate`, published with core NATS
 * from this process, 1 ms ticks) where the consumer acks per turn, as the worker acks a durable
 * batch: every message that arrived within 5 ms (their acks leave in one socket write), or the last
 * of them alone. Prints this process's CPU per message and that of
 * every local nats-server (utime + stime from /proc), and the messages left unacked (must be 0).
 *
 * Why the worker keeps explicit acks all the same (docs/performance.md): with `all`, an ack also
 * acknowledges every message of a lower consumer sequence delivered to *any* client of the
 * consumer. Workers share one durable consumer, so one worker's ack would acknowledge another's
 * messages before their facts are durable; and after a failover, the new worker's first ack would
 * acknowledge the messages the dead one had been given and never made durable. Nothing lost is
 * the first rule, so this bench only prices the lever.
 */
import { parseArgs } from 'node:util';
import { connect } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import { pidsNamed, processCpuSeconds } from './cpuAccounting.js';

const { values: argv } = parseArgs({
  options: {
    messages: { type: 'string', default: '40000' },
    rounds: { type: 'string', default: '3' },
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '8' },
  },
});
const N = Number(argv.messages);
const RATE = Number(argv.rate);
const SECONDS = Number(argv.seconds);
/** Messages per ack with `ack_policy: all` when draining. */
const ACK_EVERY = 64;
/** A turn at a fixed rate: the messages that arrived within this long share one ack. */
const TURN_MS = 5;

const natsPids = pidsNamed('nats-server');
const natsCpu = () => natsPids.reduce((s, p) => s + processCpuSeconds(p), 0);
const ownCpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

const nc = await connect({ servers: process.env.NATS_URL ?? '127.0.0.1:4222' });
const jsm = await jetstreamManager(nc);
const js = jetstream(nc);
const id = Math.random().toString(36).slice(2, 8);
const stream = `BACKS_${id}`;
const subject = `backs_${id}.m`;
await jsm.streams.add({ name: stream, subjects: [`backs_${id}.>`] });
const body = new Uint8Array(300);

type Policy = 'explicit' | 'all';
let consumers = 0;
async function consumer(policy: Policy) {
  const name = `c${++consumers}_${policy}`;
  await jsm.consumers.add(stream, {
    durable_name: name,
    ack_policy: policy === 'all' ? AckPolicy.All : AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.New,
    max_ack_pending: 4_000,
  });
  return { name, c: await js.consumers.get(stream, name) };
}

/** Unacked messages of a consumer once its acks have arrived. */
async function unacked(name: string): Promise<number> {
  await new Promise((r) => setTimeout(r, 300));
  return (await jsm.consumers.info(stream, name)).num_ack_pending;
}

const line = (what: string, msgs: number, own: number, nats: number, left: number) =>
  console.log(`${what.padEnd(42)} this process ${((own * 1e6) / msgs).toFixed(1).padStart(5)} µs/msg  NATS ${((nats * 1e6) / msgs).toFixed(1).padStart(5)} µs/msg  unacked ${left}`);

/** Publishes N messages, then drains them acking per `policy`. */
async function drain(policy: Policy): Promise<[number, number]> {
  const { name, c } = await consumer(policy);
  for (let i = 0; i < N; i += 1_000) await Promise.all(Array.from({ length: Math.min(1_000, N - i) }, () => js.publish(subject, body)));
  const o0 = ownCpu();
  const n0 = natsCpu();
  const msgs = await c.consume({ max_messages: 512 });
  let count = 0;
  for await (const m of msgs) {
    count++;
    if (policy === 'explicit' || count % ACK_EVERY === 0 || count === N) m.ack();
    if (count === N) break;
  }
  const own = ownCpu() - o0;
  const nats = natsCpu() - n0;
  line(`drain, ${policy === 'explicit' ? 'an ack per message' : `ack_policy all, 1 per ${ACK_EVERY}`}`, N, own, nats, await unacked(name));
  await jsm.consumers.delete(stream, name);
  return [own / N, nats / N];
}

/** Publishes RATE messages a second for SECONDS with core NATS (no publish ack) while consuming. */
async function paced(policy: Policy): Promise<[number, number]> {
  const { name, c } = await consumer(policy);
  const total = RATE * SECONDS;
  const msgs = await c.consume({ max_messages: 512 });
  let count = 0;
  // The messages of the current turn, acked together at its end: each (one socket write, one ack
  // message per message), or the last alone.
  let turnMsgs: JsMsg[] = [];
  const endTurn = () => {
    if (policy === 'explicit') for (const m of turnMsgs) m.ack();
    else turnMsgs.at(-1)?.ack();
    turnMsgs = [];
  };
  const turn = setInterval(endTurn, TURN_MS);
  const o0 = ownCpu();
  const n0 = natsCpu();
  const t0 = performance.now();
  let sent = 0;
  const pub = setInterval(() => {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1_000) * RATE));
    for (; sent < due; sent++) nc.publish(subject, body);
  }, 1);
  for await (const m of msgs) {
    count++;
    turnMsgs.push(m);
    if (count === total) break;
  }
  clearInterval(pub);
  clearInterval(turn);
  endTurn();
  const own = ownCpu() - o0;
  const nats = natsCpu() - n0;
  line(`${RATE} msg/s, ${policy === 'explicit' ? `an ack per message, per ${TURN_MS} ms` : `ack_policy all, 1 per ${TURN_MS} ms`}`, total, own, nats, await unacked(name));
  await jsm.consumers.delete(stream, name);
  return [own / total, nats / total];
}

console.log(`acks: ${N} messages drained and ${RATE} msg/s for ${SECONDS} s, per round; nats-server pids ${natsPids.join(', ') || 'none found'}`);
const sum = { drainExplicit: [0, 0], drainAll: [0, 0], pacedExplicit: [0, 0], pacedAll: [0, 0] };
const add = (k: keyof typeof sum, v: [number, number]) => {
  sum[k][0]! += v[0];
  sum[k][1]! += v[1];
};
const rounds = Number(argv.rounds);
for (let r = 0; r < rounds; r++) {
  add('drainExplicit', await drain('explicit'));
  add('drainAll', await drain('all'));
  add('pacedExplicit', await paced('explicit'));
  add('pacedAll', await paced('all'));
}
const us = (k: keyof typeof sum) => ((sum[k][0]! + sum[k][1]!) * 1e6) / rounds;
console.log(
  `mean, this process + NATS: drain ${us('drainExplicit').toFixed(1)} µs/msg with an ack each, ${us('drainAll').toFixed(1)} with one per batch; at ${RATE} msg/s ${us('pacedExplicit').toFixed(1)} against ${us('pacedAll').toFixed(1)}`,
);
await jsm.streams.delete(stream);
await nc.close();
