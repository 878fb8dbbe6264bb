import { jetstreamManager } from '@nats-io/jetstream';
import type { JsMsg } from '@nats-io/jetstream';
import { Redis } from 'ioredis';
import pino from 'pino';
import { firstValueFrom, of, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { factKey } from '../../src/domain/facts.js';
import type { ChainEvent } from '../../src/domain/types.js';
import { messageStage, type Processed } from '../../src/worker/messageStage.js';
import { createFactWriter } from '../../src/sinks/clickhouse/factWriter.js';
import { queryRows } from '../../src/sinks/clickhouse/queries.js';
import { EntryFingerprints } from '../../src/state/entryFingerprints.js';
import { MatchStore } from '../../src/state/matchStore.js';
import { encodeChainEventBatch } from '../../src/streams/chain/chainEventCodec.js';
import { createLedgerCodec, type LedgerPosting } from '../../src/streams/ledgerCodec.js';
import { randomWallet, startHarness, type Harness } from '../support/harness.js';

/**
 * An entry id names one content for good, whatever the entry: a fee, a transfer, an orphan (ledger
 * or chain) re-sent with other content opens exactly one DUPLICATE and changes nothing else; re-sent
 * identically it changes nothing; a conflicting copy redelivered after a crash adds no second
 * DUPLICATE.
 */
describe('duplicates with different content, every entry type', () => {
  let h: Harness;
  const w = randomWallet();

  beforeAll(async () => {
    h = await startHarness({ accounts: [{ accountId: 'ACC-DUP', wallets: [w] }] });
  }, 60_000);
  afterAll(async () => {
    await h?.stop();
  });

  const rawDiscrepancyRows = async (id: string) =>
    Number((await queryRows<{ n: string }>(h.ch.client, `SELECT count() AS n FROM ${h.ch.database}.discrepancy_events WHERE discrepancy_id = {id:String}`, { id }))[0]!.n);
  const ledgerAmount = async (entryId: string) =>
    (await queryRows<{ a: string }>(h.ch.client, `SELECT toString(amount_minor) AS a FROM ${h.ch.database}.ledger_entries_current WHERE entry_id = {id:String}`, { id: entryId })).map((r) => r.a);
  /** Every message of both streams processed and acked: the positive signal that nothing more is coming. */
  const drained = async () => {
    const jsm = await jetstreamManager(h.nc);
    for (const stream of [h.config.nats.ledgerStream, h.config.nats.chainStream]) {
      const c = await jsm.consumers.info(stream, h.config.nats.consumerName);
      if (c.num_pending !== 0 || c.num_ack_pending !== 0) return false;
    }
    return true;
  };

  it('opens one DUPLICATE for a fee, a transfer, an orphan posting and an orphan chain event re-sent with other content; identical copies add nothing', async () => {
    const fee = { entryId: 'fee-1', accountId: 'ACC-DUP', direction: 'debit' as const, txType: 'fee' as const, amountMinor: 150n };
    const transfer = { entryId: 'tr-1', accountId: 'ACC-DUP', direction: 'credit' as const, txType: 'transfer' as const, amountMinor: 5_000n };
    const orphan = { entryId: 'orph-1', accountId: 'ACC-UNMAPPED', amountMinor: 7_000n };
    for (const p of [fee, transfer, orphan]) {
      await h.posting(p);
      await h.posting(p, { msgId: `${p.entryId}:identical` });
    }
    // The chain event: a transfer of the deposit token between two wallets no account knows.
    const ev: ChainEvent = {
      eventId: `${h.anvil.chainId}:0x${'ab'.repeat(32)}:0`,
      chainId: h.anvil.chainId,
      token: h.token.toLowerCase(),
      blockNumber: 1n,
      blockHash: `0x${'ab'.repeat(32)}`,
      blockTime: Date.now(),
      txHash: `0x${'cd'.repeat(32)}`,
      logIndex: 0,
      kind: 'transfer',
      from: randomWallet(),
      to: randomWallet(),
      value: h.usd(900n),
      decimals: h.decimals,
      reference: null,
    };
    const chainSubject = `${h.config.nats.chainSubjectPrefix}.${h.anvil.chainId}.events`;
    await h.js.publish(chainSubject, encodeChainEventBatch([ev]), { msgID: 'dup-ev:first' });
    await h.js.publish(chainSubject, encodeChainEventBatch([ev]), { msgID: 'dup-ev:identical' });
    await h.waitFor('first copies processed', drained);
    const before = await h.discrepancies();
    expect(before.filter((d) => d.kind === 'DUPLICATE')).toEqual([]);
    expect(
      before
        .filter((d) => d.kind.startsWith('ORPHAN'))
        .map((d) => d.discrepancy_id)
        .sort(),
    ).toEqual([`ORPHAN_CHAIN_EVENT:chain:${ev.eventId}`, 'ORPHAN_LEDGER_ENTRY:bank:orph-1']);

    // Other content under the same ids, each sent twice (the second copy is the same conflict again).
    for (const p of [
      { ...fee, amountMinor: 175n },
      { ...transfer, accountId: 'ACC-OTHER' },
      { ...orphan, amountMinor: 7_001n },
    ]) {
      await h.posting(p, { msgId: `${p.entryId}:other` });
      await h.posting(p, { msgId: `${p.entryId}:other-again` });
    }
    const changed = { ...ev, value: ev.value + 1n };
    await h.js.publish(chainSubject, encodeChainEventBatch([changed]), { msgID: 'dup-ev:other' });
    await h.js.publish(chainSubject, encodeChainEventBatch([changed]), { msgID: 'dup-ev:other-again' });
    await h.waitFor('four DUPLICATEs', async () => (await h.discrepancies()).filter((d) => d.kind === 'DUPLICATE').length === 4);
    await h.waitFor('conflicting copies processed', drained);

    const dups = (await h.discrepancies()).filter((d) => d.kind === 'DUPLICATE');
    expect(dups.map((d) => d.discrepancy_id.split(':').slice(0, -1).join(':')).sort()).toEqual(
      ['DUPLICATE:bank:fee-1', 'DUPLICATE:bank:orph-1', 'DUPLICATE:bank:tr-1', `DUPLICATE:chain:${ev.eventId}`].sort(),
    );
    for (const d of dups) {
      expect(d.status).toBe('open');
      expect(d.reason).toMatch(/first seen: [0-9a-f]{16}/);
      // Raw rows, not FINAL: the second conflicting copy wrote nothing.
      expect(await rawDiscrepancyRows(d.discrepancy_id), d.discrepancy_id).toBe(1);
    }
    // The first content stands.
    expect(await ledgerAmount('fee-1')).toEqual(['150']);
    expect(await ledgerAmount('orph-1')).toEqual(['7000']);
    const [tr] = await queryRows<{ account_id: string }>(h.ch.client, `SELECT account_id FROM ${h.ch.database}.ledger_entries_current WHERE entry_id = 'tr-1'`);
    expect(tr?.account_id).toBe('ACC-DUP');
    const [chainValue] = await queryRows<{ v: string }>(h.ch.client, `SELECT toString(value) AS v FROM ${h.ch.database}.chain_events FINAL WHERE event_id = {id:String}`, { id: ev.eventId });
    expect(chainValue?.v).toBe(ev.value.toString());
    expect((await h.discrepancies()).filter((d) => d.kind.startsWith('ORPHAN'))).toHaveLength(2);
  }, 90_000);

  it('keeps status updates of one entry working: pending, booked, reversed are not duplicates', async () => {
    const p = { entryId: 'st-1', accountId: 'ACC-DUP', direction: 'debit' as const, txType: 'fee' as const, amountMinor: 300n };
    for (const status of ['pending', 'booked', 'reversed'] as const) await h.posting({ ...p, status });
    await h.waitFor(
      'reversed',
      async () => (await queryRows<{ s: string }>(h.ch.client, `SELECT status AS s FROM ${h.ch.database}.ledger_entries_current WHERE entry_id = 'st-1'`))[0]?.s === 'reversed',
    );
    expect((await h.discrepancies()).filter((d) => d.discrepancy_id.includes('st-1'))).toEqual([]);
  }, 60_000);

  it('a conflicting copy redelivered after a crash adds no second DUPLICATE', async () => {
    const redis = new Redis('redis://127.0.0.1:6379');
    const other = new Redis('redis://127.0.0.1:6379');
    try {
      const namespace = `${h.names.namespace}crash`;
      const ctx = {
        ledgerCodec: createLedgerCodec(),
        identities: h.daemon.identities,
        unmappedPolicy: 'discrepancy' as const,
        log: pino({ level: 'silent' }),
        store: new MatchStore(redis, { namespace, toleranceMs: 4_000, windowMs: 3_000, retentionMs: 3_600_000 }),
        // A worker on another stream partition: a client of its own, the same records.
        fingerprints: new EntryFingerprints(other, { namespace, ttlMs: 3_600_000 }),
      };
      const codec = createLedgerCodec();
      const now = Date.now();
      const posting = (amountMinor: bigint): LedgerPosting => ({
        entryId: 'crash-fee',
        accountId: 'ACC-DUP',
        direction: 'debit',
        amountMinor,
        currency: 'USD',
        bookingTime: now,
        valueTime: now,
        status: 'booked',
        txType: 'fee',
        endToEndId: 'E2E-crash',
        remittance: null,
        tokenizationRef: null,
      });
      let seq = 0;
      const msg = (amountMinor: bigint, redelivered: boolean): JsMsg => {
        const { bytes, headers } = codec.encode(posting(amountMinor));
        return { data: bytes, headers: { get: (k: string) => (headers as Record<string, string>)[k] }, seq: ++seq, subject: 'ledger.postings', redelivered, nak: () => undefined } as unknown as JsMsg;
      };
      const run = async (m: JsMsg): Promise<Processed> => (await firstValueFrom(of({ msg: m, source: 'ledger' as const }).pipe(messageStage(ctx), toArray())))[0]!;
      const writer = createFactWriter(h.ch.client, h.ch.database);
      const write = (p: Processed) => writer.write(p.facts, { suspects: new Set(p.suspects) });

      const first = await run(msg(400n, false));
      await write(first);
      // Second worker: the conflicting copy. Its facts are written, then the worker dies before the ack.
      const conflict = await run(msg(450n, false));
      expect(conflict.outcome).toBe('conflict');
      expect(conflict.facts.map((f) => f.table)).toEqual(['discrepancy_events']);
      await write(conflict);
      // Redelivered after the crash: the same DUPLICATE, flagged as possibly durable, written once.
      const again = await run(msg(450n, true));
      expect(again.facts.map(factKey)).toEqual(conflict.facts.map(factKey));
      expect(again.suspects).toEqual(again.facts.map(factKey));
      await write(again);
      const id = (conflict.facts[0]!.row as { discrepancy_id: string }).discrepancy_id;
      expect(await rawDiscrepancyRows(id)).toBe(1);
      // An identical copy of the first content is no conflict.
      expect((await run(msg(400n, true))).outcome).not.toBe('conflict');
      // Keyed by the entry id itself, its own hash tag: found whichever shard or worker takes the copy.
      expect(ctx.fingerprints.keyOf('bank:crash-fee')).toBe(`${namespace}:fp:{bank:crash-fee}`);
      expect(await redis.pttl(ctx.fingerprints.keyOf('bank:crash-fee'))).toBeGreaterThan(3_500_000);
      await ctx.fingerprints.clear();
      await ctx.store.clear();
    } finally {
      await redis.quit();
      await other.quit();
    }
  });
});
