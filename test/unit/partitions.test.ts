import { describe, expect, it } from 'vitest';
import { aggregateChainBlock, aggregateWatermarks, partitionedLedgerWatermark, watermarkField } from '../../src/domain/partitionWatermarks.js';
import { assignedPartitions, chainBlockPrefix, chainPartitionPrefixes, fnv1a32, ledgerPartitionMapping, ledgerPublishSubject, partitionOf, streamPartitions } from '../../src/streams/partitions.js';
import { effectiveWatermarks } from '../../src/jobs/sweeper.js';
import { parseConfig } from '../../src/config/load.js';

const names = (count: number, assigned?: number[]) => ({
  ledgerStream: 'LEDGER',
  ledgerSubjects: ['ledger.>', 'bank.ledger.>'],
  chainStream: 'CHAIN',
  chainSubjectPrefix: 'chain',
  partitions: { count, ...(assigned && { assigned }) },
});

describe('stream partitions', () => {
  it('hashes with FNV-1a 32 (the published test vectors)', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });

  it('keeps every name and subject with one partition', () => {
    expect(streamPartitions(names(1))).toEqual([{ partition: 0, ledgerStream: 'LEDGER', ledgerSubjects: ['ledger.>', 'bank.ledger.>'], chainStream: 'CHAIN', chainSubjectPrefix: 'chain' }]);
    expect(ledgerPublishSubject(names(1), 'ledger.postings', 'ACC-1')).toBe('ledger.postings');
    expect(chainBlockPrefix('chain', '0xab', 1)).toBe('chain');
    expect(chainPartitionPrefixes('chain', 1)).toEqual(['chain']);
    expect(partitionOf('anything', 1)).toBe(0);
  });

  it('names a stream per partition with the partition after each subject stem', () => {
    const ps = streamPartitions(names(3));
    expect(ps.map((p) => p.ledgerStream)).toEqual(['LEDGER_P0', 'LEDGER_P1', 'LEDGER_P2']);
    expect(ps[2]).toEqual({ partition: 2, ledgerStream: 'LEDGER_P2', ledgerSubjects: ['ledger.2.>', 'bank.ledger.2.>'], chainStream: 'CHAIN_P2', chainSubjectPrefix: 'chain.2' });
    expect(assignedPartitions(names(3, [1])).map((p) => p.chainStream)).toEqual(['CHAIN_P1']);
    expect(assignedPartitions(names(3)).length).toBe(3);
  });

  it("publishes a posting on its account's partition, under the stem its subject falls in", () => {
    const p = partitionOf('ACC-42', 4);
    expect(ledgerPublishSubject(names(4), 'ledger.postings', 'ACC-42')).toBe(`ledger.${p}.postings`);
    expect(ledgerPublishSubject(names(4), 'bank.ledger.camt.statement', 'ACC-42')).toBe(`bank.ledger.${p}.camt.statement`);
    expect(() => ledgerPublishSubject(names(4), 'other.postings', 'ACC-42')).toThrow(/under none of the ledger subjects/);
    // The same account always goes to the same partition, and keys spread over all of them.
    const spread = new Set(Array.from({ length: 200 }, (_, i) => partitionOf(`ACC-${i}`, 4)));
    expect([...spread].sort()).toEqual([0, 1, 2, 3]);
  });

  it('sends a block and its retraction to the block hash partition, progress to every partition', () => {
    const hash = `0x${'ab'.repeat(32)}`;
    expect(chainBlockPrefix('chain', hash, 2)).toBe(`chain.${partitionOf(hash, 2)}`);
    expect(chainPartitionPrefixes('chain', 3)).toEqual(['chain.0', 'chain.1', 'chain.2']);
  });

  it('writes the server-side mapping that partitions by the key token', () => {
    expect(ledgerPartitionMapping('ledger', 'postings', 2)).toEqual({ from: 'ledger.postings.*', to: 'ledger.{{partition(2,1)}}.postings.{{wildcard(1)}}' });
  });

  it('refuses an assigned partition out of range and a ledger subject without a stem', () => {
    expect(() => parseConfig({ nats: { partitions: { count: 2, assigned: [2] } } })).toThrow(/nats\.partitions\.assigned: every assigned partition must be below count/);
    expect(() => parseConfig({ nats: { ledgerSubjects: ['ledger.postings'], partitions: { count: 2 } } })).toThrow(/nats\.ledgerSubjects: with partitions/);
    expect(parseConfig({ nats: { ledgerSubjects: ['ledger.postings'] } }).nats.partitions).toEqual({ count: 1 });
  });
});

describe('partitioned watermarks', () => {
  it('names fields per partition, and keeps the bare names with one', () => {
    expect(watermarkField('ledger', 0, 1)).toBe('ledger');
    expect(watermarkField('chain:1:block', 1, 2)).toBe('chain:1:block@p1');
  });

  it('closes windows on the slowest partition and reports the latest sighting', () => {
    const h = { 'ledger@p0': '5000', 'ledger@p0:seen': '900', 'ledger@p1': '3000', 'ledger@p1:seen': '800', 'chain@p0': '7000', 'chain@p1': '6000', 'chain@p0:seen': '10', 'chain@p1:seen': '20' };
    const w = aggregateWatermarks(h, 2);
    expect(w).toMatchObject({ ledger: 3000, ledgerSeenAt: 900, chain: 6000, chainSeenAt: 20 });
    // A partition that has not reported yet holds the chain watermark back entirely.
    expect(aggregateWatermarks({ 'chain@p0': '7000' }, 2).chain).toBe(-1);
    expect(aggregateChainBlock({ 'chain:1:block@p0': '12', 'chain:1:block@p1': '10' }, 1, 2)).toBe(10n);
    expect(aggregateChainBlock({ 'chain:1:block@p0': '12' }, 1, 2)).toBeNull();
  });

  it('lets a silent partition follow the wall clock only while a worker finds it drained', () => {
    const o = { allowedLatenessMs: 100, ledgerIdleMs: 1_000 };
    const now = 100_000;
    const busy = { ledger: 99_500, seenAt: 99_900, drainedAt: -1 };
    // Silent and recently drained: idle, so the wall clock counts.
    const idle = { ledger: 50_000, seenAt: 90_000, drainedAt: 99_800 };
    expect(partitionedLedgerWatermark([busy, idle], o, now)).toBe(99_400);
    // Silent but nobody found it drained lately (its worker is down or behind): held at its own mark.
    const stuck = { ledger: 50_000, seenAt: 90_000, drainedAt: 90_000 };
    expect(partitionedLedgerWatermark([busy, stuck], o, now)).toBe(49_900);
    // Never a posting and never drained: nothing closes.
    expect(partitionedLedgerWatermark([busy, { ledger: -1, seenAt: -1, drainedAt: -1 }], o, now)).toBe(-Infinity);
    // The sweeper uses it when the store reports partitions.
    const w = { ...aggregateWatermarks({}, 2), chain: 77, ledgerPartitions: [busy, idle] };
    expect(effectiveWatermarks(w, o, now)).toEqual({ forBankLegs: 77, forChainLegs: 99_400 });
  });
});
