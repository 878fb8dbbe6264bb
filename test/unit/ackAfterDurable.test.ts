import { firstValueFrom, of, Subject, toArray } from 'rxjs';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { factKey, type Fact } from '../../src/domain/facts.js';
import { SinkRejected, SinkUnavailable } from '../../src/lib/errors.js';
import { ackAfterDurable, type PartitionMarks, type AckAfterDurableContext, type BatchReport } from '../../src/worker/ackAfterDurable.js';
import type { Processed } from '../../src/worker/messageStage.js';
import type { FactWriter } from '../../src/sinks/clickhouse/factWriter.js';
import type { DeadLetter } from '../../src/sinks/deadLetters.js';
import { fakeMsg, processed } from '../support/fakeMessages.js';
import { waitFor } from '../support/waitFor.js';

const log = pino({ level: 'silent' });

const entry = (id: string): Fact => ({ table: 'ledger_entries', row: { entry_id: id } as never });

/** A writer that stores facts by key, refuses for good any write holding an entry id starting with 'bad' while `refuse` is on, and can be made to fail transiently. */
function fakeWriter() {
  const stored = new Map<string, Fact>();
  const w = {
    stored,
    writes: 0,
    refuse: true,
    down: 0,
    hold: undefined as Promise<void> | undefined,
    async write(facts: readonly Fact[]) {
      w.writes++;
      if (w.hold !== undefined) await w.hold;
      if (w.down > 0) {
        w.down--;
        throw new SinkUnavailable('ClickHouse unavailable: insert failed after 6 attempts');
      }
      if (w.refuse && facts.some((f) => String((f.row as { entry_id?: string }).entry_id ?? '').startsWith('bad'))) {
        throw new SinkRejected('ClickHouse refused insert into ledger_entries', { serverCode: '25', details: 'Cannot parse escape sequence: missing second part of surrogate pair' });
      }
      let inserted = 0;
      for (const f of facts)
        if (!stored.has(factKey(f))) {
          stored.set(factKey(f), f);
          inserted++;
        }
      return { inserted, skippedDuplicates: facts.length - inserted };
    },
  };
  return w;
}

function context(writer: FactWriter, over: Partial<AckAfterDurableContext> = {}): AckAfterDurableContext & { deadLetters: DeadLetter[] } {
  const deadLetters: DeadLetter[] = [];
  return {
    writer,
    log,
    stopping: () => false,
    maxBackoffMs: 1,
    deadLetters,
    deadLetter: async (d) => {
      deadLetters.push(d);
      return { table: 'dead_letters', row: { dead_letter_id: `${d.msg.info.stream}:${d.msg.seq}`, reason_code: d.code, reason: d.reason } as never };
    },
    advanceWatermarks: async () => undefined,
    ...over,
  };
}

const run = (ctx: AckAfterDurableContext, batches: Processed[][]) => firstValueFrom(of(...batches).pipe(ackAfterDurable(ctx), toArray()));

describe('ackAfterDurable', () => {
  it('acks no message before its batch is durable, then every message once', async () => {
    const w = fakeWriter();
    let release!: () => void;
    w.hold = new Promise((r) => (release = r));
    const msgs = [fakeMsg(1), fakeMsg(2)];
    const input = new Subject<Processed[]>();
    const reports: BatchReport[] = [];
    input.pipe(ackAfterDurable(context(w))).subscribe((r) => reports.push(r));
    input.next(msgs.map((m, i) => processed(m, [entry(`e${i}`)])));
    await waitFor('the batch write started', () => w.writes === 1, 2_000, 1);
    expect(msgs.map((m) => m.events)).toEqual([[], []]);
    release();
    await waitFor('the batch reported', () => reports.length === 1, 2_000, 1);
    expect(msgs.map((m) => m.events)).toEqual([['ack'], ['ack']]);
    expect(reports[0]).toMatchObject({ messages: 2, inserted: 2 });
  });

  it('keeps messages alive with working() while the sink is down, and acks once it is back', async () => {
    const w = fakeWriter();
    w.down = 3;
    const m = fakeMsg(1);
    const [r] = await run(context(w), [[processed(m, [entry('e1')])]]);
    expect(m.events).toEqual(['working', 'working', 'working', 'ack']);
    expect(r).toMatchObject({ inserted: 1 });
  });

  it('leaves the batch unacked for redelivery when the sink fails during shutdown', async () => {
    const w = fakeWriter();
    w.down = 1;
    const m = fakeMsg(1);
    const [r] = await run(context(w, { stopping: () => true }), [[processed(m, [entry('e1')])]]);
    expect(m.events).toEqual([]);
    expect(r).toMatchObject({ messages: 0, inserted: 0 });
    expect(w.stored.size).toBe(0);
  });

  it('advances each stream partition its own watermarks, and none for a batch that carries none', async () => {
    const w = fakeWriter();
    const seen: Map<number, PartitionMarks>[] = [];
    const ctx = context(w, { advanceWatermarks: async (m) => void seen.push(m) });
    await run(ctx, [
      [
        processed(fakeMsg(1), [entry('e1')], { ledgerTime: 5, partition: 0 }),
        processed(fakeMsg(2), [entry('e2')], { ledgerTime: 9, partition: 1 }),
        processed(fakeMsg(3), [entry('e3')], { ledgerTime: 7, partition: 0 }),
        processed(fakeMsg(4), [], { source: 'chain', chainTime: 11, chainBlock: { chainId: 1, blockNumber: 4n }, partition: 1 }),
        processed(fakeMsg(5), [], { source: 'chain', chainTime: 10, chainBlock: { chainId: 1, blockNumber: 3n }, partition: 1 }),
      ],
      [processed(fakeMsg(6), [entry('e6')])],
    ]);
    expect(seen).toHaveLength(1);
    expect([...seen[0]!].sort(([a], [b]) => a - b)).toEqual([
      [0, { ledger: 7, chainBlocks: new Map() }],
      [1, { ledger: 9, chain: 11, chainBlocks: new Map([[1, 4n]]) }],
    ]);
  });

  it('does not advance watermarks or ack when the watermark write fails, and retries the batch', async () => {
    const w = fakeWriter();
    let fails = 1;
    const m = fakeMsg(1);
    await run(
      context(w, {
        advanceWatermarks: async () => {
          if (fails-- > 0) throw new Error('Connection is closed.');
        },
      }),
      [[processed(m, [entry('e1')], { ledgerTime: 5 })]],
    );
    expect(m.events).toEqual(['working', 'ack']);
    expect(w.stored.size).toBe(1);
  });

  it('bisects a batch the sink refuses for good: the offending message is dead-lettered with the server reason, the rest written once and acked', async () => {
    const w = fakeWriter();
    const msgs = Array.from({ length: 9 }, (_, i) => fakeMsg(i + 1));
    const ctx = context(w);
    const batch = msgs.map((m, i) => processed(m, [entry(i === 5 ? 'bad-5' : `e${i}`)]));
    const [r] = await run(ctx, [batch]);
    expect(msgs.every((m) => m.events.length === 1 && m.events[0] === 'ack')).toBe(true);
    expect([...w.stored.keys()].filter((k) => k.startsWith('ledger_entries')).length).toBe(8);
    expect(ctx.deadLetters.map((d) => [d.msg.seq, d.code])).toEqual([[6, 'SINK_REJECTED']]);
    expect(ctx.deadLetters[0]!.reason).toMatch(/server code 25.*surrogate/);
    expect(r).toMatchObject({ messages: 9, deadLetters: 1, inserted: 9 });
  });

  it('dead-letters each of several refused messages and nothing else', async () => {
    const w = fakeWriter();
    const msgs = Array.from({ length: 16 }, (_, i) => fakeMsg(i + 1));
    const ctx = context(w);
    await run(ctx, [msgs.map((m, i) => processed(m, [entry([2, 3, 11].includes(i) ? `bad-${i}` : `e${i}`)]))]);
    expect(ctx.deadLetters.map((d) => d.msg.seq).sort((a, b) => a - b)).toEqual([3, 4, 12]);
    expect(msgs.every((m) => m.events.join() === 'ack')).toBe(true);
  });

  it('treats a refusal of every part as the sink failing, not the messages: nothing is dead-lettered, the batch is retried', async () => {
    const w = fakeWriter();
    // Every write refused (a schema out of date), until the operator fixes it after three tries.
    let tries = 0;
    const writer: FactWriter = {
      write: async (facts) => {
        if (tries++ < 6) throw new SinkRejected('ClickHouse refused insert into ledger_entries', { serverCode: '16', details: 'No such column' });
        return w.write(facts);
      },
    };
    const msgs = [fakeMsg(1), fakeMsg(2)];
    const ctx = context(writer);
    await run(ctx, [msgs.map((m, i) => processed(m, [entry(`e${i}`)]))]);
    expect(ctx.deadLetters).toEqual([]);
    expect(msgs[0]!.events.filter((e) => e === 'working').length).toBeGreaterThan(0);
    expect(msgs.map((m) => m.events.at(-1))).toEqual(['ack', 'ack']);
    expect(w.stored.size).toBe(2);
  });

  it('dead-letters a lone refused message only when the sink wrote something lately', async () => {
    const w = fakeWriter();
    let clock = 1_000_000;
    const ctx = context(w, { now: () => clock, sinkEvidenceMs: 60_000 });
    const good = fakeMsg(1);
    const bad = fakeMsg(2);
    const input = new Subject<Processed[]>();
    const done = firstValueFrom(input.pipe(ackAfterDurable(ctx), toArray()));
    input.next([processed(good, [entry('e1')])]);
    await waitFor('the good message acked', () => good.events.length > 0, 2_000, 1);
    clock += 30_000;
    input.next([processed(bad, [entry('bad-1')])]);
    input.complete();
    await done;
    expect(good.events).toEqual(['ack']);
    expect(bad.events).toEqual(['ack']);
    expect(ctx.deadLetters.map((d) => d.msg.seq)).toEqual([2]);
  });
});
