import fc from 'fast-check';
import { headers as natsHeaders } from '@nats-io/nats-core';
import { afterAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/sinks/clickhouse/queries.js';
import { backlog, expectedOf, verify } from '../support/drillTraffic.js';
import { settle, startDrill, steadyTraffic, waitFor, type Drill } from '../support/drill.js';
import { duplicateArbitrary, hostileArbitrary, type HostileMessage } from '../support/hostileTraffic.js';

const MAX_DELIVERIES = 3;

/**
 * Drill: hostile messages of every class (test/support/hostileTraffic.ts: undecodable bytes, absurd
 * times, amounts beyond any store, invalid UTF-8 and lone surrogates, overlong and control-character
 * identifiers, on the ledger, chain and mapping inputs) are fuzzed into steady good traffic in
 * bursts. Every good message is stored and matched as if they were not there; every hostile one is
 * dead-lettered once with a reason naming what was wrong; fees re-sent under their id with other
 * content yield one DUPLICATE each; none is delivered past the limit; the
 * good traffic's backlog drains within seconds of each burst. `FUZZ_SEED` replays a run.
 */
describe('drill: hostile input fuzzed into steady traffic', () => {
  let d: Drill | undefined;
  afterAll(async () => d?.cleanup());

  it('dead-letters every hostile message with its reason and stores and matches every good one', { timeout: 180_000 }, async () => {
    const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.info(`hostile fuzz drill: FUZZ_SEED=${seed}`);
    d = await startDrill({ traffic: { faultShare: 0.02 }, config: { nats: { maxDeliveries: MAX_DELIVERIES } } });
    const drill = d;
    const daemon = await drill.startDaemon();
    const tag = drill.names.namespace;
    const hostile: HostileMessage[] = fc
      .sample(hostileArbitrary({ ...drill.target, mappingSubject: drill.config.nats.mappingSubject }, tag, Date.now()), { numRuns: 90, seed })
      .map((make, n) => make(n));
    const classes = new Set(hostile.map((h) => h.cls));
    expect(classes.size, 'the sample covers most classes').toBeGreaterThanOrEqual(12);

    // Fees re-sent under their entry id with other content: one DUPLICATE each, the first content kept.
    const duplicates = fc.sample(duplicateArbitrary({ ...drill.target, mappingSubject: drill.config.nats.mappingSubject }, tag, Date.now()), { numRuns: 12, seed }).map((make, n) => make(n));

    const streamOf = { ledger: drill.config.nats.ledgerStream, chain: drill.config.nats.chainStream, mapping: drill.config.nats.mappingStream };
    const published: { h: HostileMessage; id: string }[] = [];
    const publish = async (h: HostileMessage) => {
      const hdrs = h.headers ? natsHeaders() : undefined;
      if (hdrs) for (const [k, v] of Object.entries(h.headers!)) hdrs.set(k, v);
      const ack = await drill.js.publish(h.subject, h.data, { msgID: h.msgID, ...(hdrs && { headers: hdrs }) });
      expect(ack.stream).toBe(streamOf[h.source]);
      published.push({ h, id: `${ack.stream}:${ack.seq}` });
    };

    const send = async (h: HostileMessage) => {
      const hdrs = natsHeaders();
      for (const [k, v] of Object.entries(h.headers!)) hdrs.set(k, v);
      await drill.js.publish(h.subject, h.data, { msgID: h.msgID, headers: hdrs });
    };
    for (const x of duplicates) await send(x.original);
    const traffic = steadyTraffic(drill, 250);
    const drainTimes: number[] = [];
    // Three bursts a second and a half apart; after each, the good backlog must drain within seconds.
    for (let burst = 0; burst < 3; burst++) {
      await new Promise((r) => setTimeout(r, 1_500));
      const part = hostile.filter((_, n) => n % 3 === burst);
      await Promise.all([...part.map(publish), ...duplicates.filter((_, n) => n % 3 === burst).map((x) => send(x.copy))]);
      const t0 = Date.now();
      await waitFor(`good traffic flows again after burst ${burst}`, async () => (await backlog(drill.jsm, [streamOf.ledger, streamOf.chain], drill.config.nats.consumerName)) < 250, 10_000, 50);
      drainTimes.push(Date.now() - t0);
    }
    const pairs = await traffic.stop();
    await settle(drill, {
      sweep: () => daemon.sweep(),
      parked: async () => {
        const p = await daemon.store.parkedCount();
        return p.bank + p.chain;
      },
    });

    // Every hostile message is a dead letter, once, with a reason naming what was wrong.
    const dl = await queryRows<{ dead_letter_id: string; source: string; reason_code: string; reason: string }>(
      drill.ch!.client,
      `SELECT dead_letter_id, source, reason_code, reason FROM ${drill.ch!.database}.dead_letters FINAL`,
    );
    const byId = new Map(dl.map((x) => [x.dead_letter_id, x]));
    const missing = published.filter((p) => !byId.has(p.id)).map((p) => `${p.h.cls} ${p.id}`);
    expect(missing, 'hostile messages without a dead letter').toEqual([]);
    const vague = published.filter((p) => !p.h.reasonMentions.test(byId.get(p.id)!.reason)).map((p) => `${p.h.cls}: ${byId.get(p.id)!.reason.slice(0, 200)}`);
    expect(vague, 'dead letters whose reason does not name the field').toEqual([]);
    expect(dl.length, 'only hostile messages are dead letters').toBe(published.length);

    // Every good message stored and matched; every injected discrepancy found, no false one.
    const e = expectedOf(pairs, 1 + duplicates.length);
    e.poison = published.length;
    for (const x of duplicates) e.discrepancies.add(x.discrepancyId);
    const verdict = await verify(drill.ch!.client, drill.ch!.database, e);
    expect(verdict.problems).toEqual([]);

    // Bad input is refused at the door: delivered once, far inside the limit.
    const redelivered = await daemon.metrics.redeliveries.get();
    const redeliveries = redelivered.values.reduce((s, v) => s + v.value, 0);
    expect(redeliveries).toBe(0);
    console.info(
      `hostile fuzz drill: ${pairs.length} pairs, ${published.length} hostile messages over ${classes.size} classes dead-lettered, ` +
        `${duplicates.length} duplicates with other content caught, ${verdict.discrepanciesFound} discrepancies found (injected and duplicates), good backlog drained ${drainTimes.join('/')} ms after each burst`,
    );
  });
});
