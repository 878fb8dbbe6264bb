/**
 * The benchmark's load generator, in a process of its own so publishing does not share the
 * daemon's event loop. Driven over IPC by bench/run.ts: each `publish` command publishes pairs
 * [from, to) at `pairsPerSecond` (or as fast as JetStream acks, when null) and answers with the
 * wall-clock time at which the second leg of every clean pair was handed to JetStream.
 */
import { connect } from '@nats-io/transport-node';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { headers as natsHeaders, type MsgHdrs } from '@nats-io/nats-core';
import { makePair, messagesOfPair, type TrafficOptions, type TrafficTarget } from '../test/support/drillTraffic.js';

export interface PublishCommand {
  cmd: 'publish';
  id: number;
  servers: string[];
  ledgerSubject: string;
  chainSubjectPrefix: string;
  traffic: TrafficOptions;
  from: number;
  to: number;
  /** Pairs per second (2 events each); null = as fast as possible. */
  pairsPerSecond: number | null;
  inflight: number;
  /**
   * false: core NATS publishes onto the stream's subjects (JetStream stores them as usual, msgID
   * dedup included) with a flush every 256 messages, instead of one JetStream publish awaiting
   * its ack per message: the generator then costs the shared cores a fraction. The caller checks
   * that the stream stored every message.
   */
  acked?: boolean;
}

export interface PublishResult {
  id: number;
  /** [matchId, epoch ms (fractional) when the second leg was published] for clean pairs. */
  samples: [string, number][];
  messages: number;
  seconds: number;
  /** CPU the generator spent publishing (encoding excluded: it happens before the clock starts). */
  cpuSeconds: number;
}

const nowMs = () => performance.timeOrigin + performance.now();

/** One message ready to hand to JetStream: encoded, headers built, with its publish options. */
interface Prepared {
  subject: string;
  data: Uint8Array;
  opts: { msgID: string; headers?: MsgHdrs };
  /** Set on the last message of a clean pair: its match id (the latency sample's key). */
  matchId?: string;
}

/** Publishes one prepared message, retrying for up to `retryMs` (as publishMessage does). */
async function publishPrepared(js: JetStreamClient, m: Prepared, retryMs = 30_000): Promise<void> {
  const deadline = Date.now() + retryMs;
  for (;;) {
    try {
      await js.publish(m.subject, m.data, m.opts);
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** The message's headers with JetStream's dedup id, as a JetStream publish would send them. */
function withMsgId(m: Prepared): MsgHdrs {
  const h = m.opts.headers ?? natsHeaders();
  h.set('Nats-Msg-Id', m.opts.msgID);
  return h;
}

async function run(c: PublishCommand): Promise<PublishResult> {
  const nc = await connect({ servers: c.servers });
  const t: TrafficTarget = { js: jetstream(nc), ledgerSubject: c.ledgerSubject, chainSubjectPrefix: c.chainSubjectPrefix };
  // Everything is encoded before the clock starts, so that during the measured phase the load
  // generator costs the shared cores only its publishes (event times are those of the encoding,
  // a second or two before their publish: well inside the bench's windows).
  const plan: { pairAt: number; messages: Prepared[] }[] = [];
  for (let i = c.from; i < c.to; i++) {
    const p = makePair(i, c.traffic, Date.now());
    const msgs = messagesOfPair(p, t);
    plan.push({
      pairAt: i - c.from,
      messages: msgs.map((m, k) => {
        const headers = m.headers ? natsHeaders() : undefined;
        if (headers) for (const [hk, hv] of Object.entries(m.headers!)) headers.set(hk, hv);
        return { subject: m.subject, data: m.data, opts: { msgID: m.msgID, ...(headers && { headers }) }, ...(k === msgs.length - 1 && p.matchId && { matchId: p.matchId }) };
      }),
    });
  }
  const samples: [string, number][] = [];
  const pending = new Set<Promise<void>>();
  let messages = 0;
  const cpu0 = process.cpuUsage();
  const start = nowMs();
  for (const { pairAt, messages: msgs } of plan) {
    if (c.pairsPerSecond) {
      const due = start + (pairAt * 1_000) / c.pairsPerSecond;
      const wait = due - nowMs();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    }
    for (const m of msgs) {
      if (m.matchId) samples.push([m.matchId, nowMs()]);
      messages++;
      if (c.acked === false) {
        nc.publish(m.subject, m.data, { headers: withMsgId(m) });
        if (messages % 256 === 0) await nc.flush();
        continue;
      }
      const pr = publishPrepared(t.js, m).finally(() => pending.delete(pr));
      pending.add(pr);
    }
    while (pending.size >= c.inflight) await Promise.race(pending);
  }
  await Promise.all(pending);
  await nc.flush();
  const seconds = (nowMs() - start) / 1_000;
  const cpu = process.cpuUsage(cpu0);
  await nc.drain();
  return { id: c.id, samples, messages, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

process.on('message', (c: PublishCommand) => {
  run(c).then(
    (r) => process.send!(r),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
});
