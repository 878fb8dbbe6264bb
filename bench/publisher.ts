/**
 * The benchmark's load generator, in a process of its own so publishing does not share the
 * daemon's event loop. Driven over IPC by bench/run.ts: each `publish` command publishes pairs
 * [from, to) at `pairsPerSecond` (or as fast as JetStream acks, when null) and answers with the
 * wall-clock time at which the second leg of every clean pair was handed to JetStream.
 */
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { makePair, messagesOfPair, publishMessage, type TrafficOptions, type TrafficTarget } from '../test/support/drillTraffic.js';

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
}

export interface PublishResult {
  id: number;
  /** [matchId, epoch ms (fractional) when the second leg was published] for clean pairs. */
  samples: [string, number][];
  messages: number;
  seconds: number;
}

const nowMs = () => performance.timeOrigin + performance.now();

async function run(c: PublishCommand): Promise<PublishResult> {
  const nc = await connect({ servers: c.servers });
  const t: TrafficTarget = { js: jetstream(nc), ledgerSubject: c.ledgerSubject, chainSubjectPrefix: c.chainSubjectPrefix };
  const samples: [string, number][] = [];
  const pending = new Set<Promise<void>>();
  let messages = 0;
  const start = nowMs();
  for (let i = c.from; i < c.to; i++) {
    if (c.pairsPerSecond) {
      const due = start + ((i - c.from) * 1_000) / c.pairsPerSecond;
      const wait = due - nowMs();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    }
    const p = makePair(i, c.traffic, Date.now());
    const msgs = messagesOfPair(p, t);
    msgs.forEach((m, k) => {
      if (k === msgs.length - 1 && p.matchId) samples.push([p.matchId, nowMs()]);
      const pr = publishMessage(t, m).finally(() => pending.delete(pr));
      pending.add(pr);
      messages++;
    });
    while (pending.size >= c.inflight) await Promise.race(pending);
  }
  await Promise.all(pending);
  const seconds = (nowMs() - start) / 1_000;
  await nc.drain();
  return { id: c.id, samples, messages, seconds };
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
