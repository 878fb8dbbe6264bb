import { firstValueFrom, from, toArray } from 'rxjs';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { currencyExponent } from '../../src/domain/currencies.js';
import { IdentityMap } from '../../src/domain/identityMap.js';
import type { ChainEvent } from '../../src/domain/types.js';
import type { RetractionOutcome } from '../../src/domain/outcomes.js';
import { messageStage, type MessageStageContext, type Processed } from '../../src/worker/messageStage.js';
import type { MatchStore } from '../../src/state/matchStore.js';
import { createLedgerCodec } from '../../src/streams/ledgerCodec.js';
import { encodeChainEventBatch, encodeChainProgress, encodeChainRetraction, encodeChainStall } from '../../src/streams/chain/chainEventCodec.js';
import { fakeMsg, memoryFingerprints, type FakeMsg } from '../support/fakeMessages.js';

const TOKEN = '0x00000000000000000000000000000000000000d1';
const MAPPED = '0x00000000000000000000000000000000000a11ce';
const UNMAPPED = '0x00000000000000000000000000000000000b0b00';
const ZERO = '0x0000000000000000000000000000000000000000';
const BLOCK = `0x${'ab'.repeat(32)}`;
const T0 = 1_760_000_000_000;

const mint = (logIndex: number, to = MAPPED, value = 10n ** 18n): ChainEvent => ({
  eventId: `1:${BLOCK}:${logIndex}`,
  chainId: 1,
  token: TOKEN,
  blockNumber: 100n,
  blockHash: BLOCK,
  blockTime: T0,
  txHash: `0x${'cd'.repeat(32)}`,
  logIndex,
  kind: 'mint',
  from: ZERO,
  to,
  value,
  decimals: 18,
  reference: null,
});

const chainMsg = (seq: number, subject: string, data: Uint8Array, deliveryCount = 1): FakeMsg => fakeMsg(seq, { stream: 'CHAIN', subject, data, deliveryCount });

/**
 * The chain message stage with an in-memory match store (parks every leg, remembers it, and can
 * retract it) and content record, as the Redis ones would answer.
 */
function stage(o: { unmappedPolicy?: 'discrepancy' | 'reject'; fail?: (legId: string) => Error | undefined } = {}) {
  const parked = new Map<string, number>();
  const store = {
    async matchOrPark(leg: { legId: string }) {
      const err = o.fail?.(leg.legId);
      if (err) throw err;
      const replayed = parked.has(leg.legId);
      parked.set(leg.legId, parked.size);
      return { replayed, outcome: { t: 'parked', legId: leg.legId } };
    },
    async retract(legId: string): Promise<{ replayed: boolean; outcome: RetractionOutcome }> {
      const known = parked.delete(legId);
      return { replayed: false, outcome: known ? { t: 'unknown', legId } : { t: 'unknown' } };
    },
  } as unknown as MatchStore;
  const fingerprints = memoryFingerprints(true);
  const identities = new IdentityMap(currencyExponent, {
    accounts: [{ accountId: 'ACC-1', wallets: [MAPPED] }],
    tokens: [{ chainId: 1, address: TOKEN, currency: 'USD', startBlock: 0n, events: [] } as never],
  });
  const ctx: MessageStageContext = {
    ledgerCodec: createLedgerCodec(),
    identities,
    store,
    fingerprints,
    unmappedPolicy: o.unmappedPolicy ?? 'discrepancy',
    log: pino({ level: 'silent' }),
    now: () => T0 + 60_000,
  };
  const run = (msgs: FakeMsg[]): Promise<Processed[]> => firstValueFrom(from(msgs.map((msg) => ({ msg, source: 'chain' as const }))).pipe(messageStage(ctx), toArray()));
  return { run, parked };
}

describe('message stage, chain source', () => {
  it('turns a block of events into one chain_events fact and one parked leg per event, in chain order', async () => {
    const s = stage();
    const [p] = await s.run([chainMsg(1, 'chain.1.events', encodeChainEventBatch([mint(0), mint(1)]))]);
    expect(p!.deadLetter).toBeUndefined();
    expect(p!.facts.filter((f) => f.table === 'chain_events').map((f) => f.row.event_id)).toEqual([`1:${BLOCK}:0`, `1:${BLOCK}:1`]);
    expect([...s.parked.keys()]).toEqual([`chain:1:${BLOCK}:0`, `chain:1:${BLOCK}:1`]);
    expect(p!.outcome).toBe('parked');
    expect(p!.suspects).toEqual([]);
  });

  it('reads a progress message as the chain watermark and the durable block, with no facts', async () => {
    const [p] = await stage().run([chainMsg(2, 'chain.1.progress', encodeChainProgress({ chainId: 1, blockNumber: 100n, blockHash: BLOCK, blockTime: T0 }))]);
    expect(p).toMatchObject({ facts: [], outcome: 'progress', chainTime: T0, chainBlock: { chainId: 1, blockNumber: 100n } });
  });

  it('retracts every event of an orphaned block: a retraction fact each, and their legs leave the store', async () => {
    const s = stage();
    await s.run([chainMsg(1, 'chain.1.events', encodeChainEventBatch([mint(0), mint(1)]))]);
    const [p] = await s.run([chainMsg(3, 'chain.1.retract', encodeChainRetraction({ chainId: 1, blockNumber: 100n, blockHash: BLOCK, eventIds: [`1:${BLOCK}:0`, `1:${BLOCK}:1`] }))]);
    expect(p!.outcome).toBe('retraction');
    expect(p!.facts.map((f) => f.table)).toEqual(['chain_event_retractions', 'chain_event_retractions']);
    expect(s.parked.size).toBe(0);
  });

  it('logs a stall notice and writes nothing', async () => {
    const [p] = await stage().run([chainMsg(4, 'chain.1.stall', encodeChainStall({ chainId: 1, stalled: true, headNumber: 100n, sinceMs: T0, observedAtMs: T0 + 1 }))]);
    expect(p).toMatchObject({ facts: [], outcome: 'stall' });
    expect(p!.deadLetter).toBeUndefined();
  });

  it('dead-letters a message on an unknown subject and a message that is not a chain batch', async () => {
    const [a, b] = await stage().run([chainMsg(5, 'chain.1.gossip', new TextEncoder().encode('{}')), chainMsg(6, 'chain.1.events', new TextEncoder().encode('not json'))]);
    expect(a!.deadLetter).toMatchObject({ code: 'DECODE_ERROR' });
    expect(a!.deadLetter!.reason).toMatch(/chain\.1\.gossip/);
    expect(b!.deadLetter).toMatchObject({ code: 'DECODE_ERROR' });
    expect(a!.facts).toEqual([]);
  });

  it("under unmappedPolicy reject keeps the facts of a block's mapped events and dead-letters the message with the rejected ones", async () => {
    const s = stage({ unmappedPolicy: 'reject' });
    const [p] = await s.run([chainMsg(7, 'chain.1.events', encodeChainEventBatch([mint(0), mint(1, UNMAPPED), mint(2)]))]);
    expect(p!.facts.filter((f) => f.table === 'chain_events').map((f) => f.row.event_id)).toEqual([`1:${BLOCK}:0`, `1:${BLOCK}:2`]);
    expect(p!.deadLetter).toMatchObject({ code: 'UNMAPPED_IDENTITY' });
    expect(p!.deadLetter!.reason).toMatch(/^1 of 3 events rejected/);
  });

  it('opens ORPHAN_CHAIN_EVENT in minor units for an unmapped wallet under the default policy', async () => {
    const [p] = await stage().run([chainMsg(8, 'chain.1.events', encodeChainEventBatch([mint(0, UNMAPPED, 1_234_500_000_000_000_000n)]))]);
    const orphan = p!.facts.find((f) => f.table === 'discrepancy_events');
    expect(orphan?.row).toMatchObject({ kind: 'ORPHAN_CHAIN_EVENT', status: 'open', actual_amount: '123.45', currency: 'USD' });
  });

  it('marks the facts of a redelivered block as suspects, and a re-used event id with other content as a DUPLICATE only', async () => {
    const s = stage();
    await s.run([chainMsg(1, 'chain.1.events', encodeChainEventBatch([mint(0)]))]);
    const [again] = await s.run([chainMsg(1, 'chain.1.events', encodeChainEventBatch([mint(0)]), 2)]);
    expect(again!.suspects.length).toBe(again!.facts.length);
    expect(again!.suspects.length).toBeGreaterThan(0);
    const [other] = await s.run([chainMsg(9, 'chain.1.events', encodeChainEventBatch([mint(0, MAPPED, 5n)]))]);
    expect(other!.outcome).toBe('conflict');
    expect(other!.facts.map((f) => f.table)).toEqual(['discrepancy_events']);
    expect(other!.facts[0]!.row).toMatchObject({ kind: 'DUPLICATE' });
  });

  it('naks a block whose store call fails and emits nothing for it', async () => {
    const s = stage({ fail: () => Object.assign(new Error('Connection is closed.'), { code: 'ECONNRESET' }) });
    const m = chainMsg(10, 'chain.1.events', encodeChainEventBatch([mint(0)]));
    const out = await s.run([m]);
    expect(out).toEqual([]);
    expect(m.events).toHaveLength(1);
    expect(m.events[0]).toMatch(/^nak:\d+$/);
  });
});
