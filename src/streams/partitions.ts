/**
 * Partitioned streams (`nats.partitions`): the ledger and chain streams split into `count`
 * JetStream streams, one per partition, each a raft group of its own (so a clustered JetStream puts
 * their leaders on different servers), and each worker consumes the partitions it is bound to.
 *
 * - Ledger: a posting's partition is FNV-1a 32 of its account id, modulo `count`: exactly NATS's
 *   subject-mapping function `{{partition(count, k)}}`, so a core-banking publisher that puts the
 *   account in its subject can let the server partition (docs/deployment.md#partitioned-streams),
 *   while the engine's own publishers (camt ingest, generator) compute the same partition. The
 *   partition is the token after a subject's stem: `ledger.postings` of partition 1 is
 *   `ledger.1.postings`, stored by stream `LEDGER_P1` (subjects `ledger.1.>`).
 * - Chain: a block's events, and the retraction of that block, go to the partition of its block
 *   hash, so a block's events stay in chain order and its retraction follows them; a progress
 *   message goes to every partition, after each partition's events of the blocks it vouches for.
 *
 * Matching does not depend on the partition: the match state is shared (Redis, sharded by account),
 * so any worker pairs any two legs. What partitions change is the watermarks: each partition
 * advances its own, and a window closes on the slowest partition's (MatchStore.watermarks).
 * With `count` 1 (the default) names and subjects are those configured, unchanged.
 */

/** FNV-1a, 32 bits, over the UTF-8 bytes of `key`: the hash of NATS's `partition()` mapping. */
export function fnv1a32(key: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(key, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The partition of `key` among `count`: NATS's `{{partition(count, …)}}` of the same bytes. */
export function partitionOf(key: string, count: number): number {
  return count <= 1 ? 0 : fnv1a32(key) % count;
}

/** The partitioning settings (`nats.partitions`). */
export interface PartitionSettings {
  count: number;
  /** Partitions this worker consumes (default: all). */
  assigned?: readonly number[] | undefined;
}

/** What the layout needs of `config.nats`. */
export interface PartitionedNames {
  ledgerStream: string;
  ledgerSubjects: readonly string[];
  chainStream: string;
  chainSubjectPrefix: string;
  partitions: PartitionSettings;
}

/** One partition's streams and subjects. */
export interface StreamPartition {
  partition: number;
  ledgerStream: string;
  ledgerSubjects: string[];
  chainStream: string;
  chainSubjectPrefix: string;
}

const stemOf = (filter: string) => filter.slice(0, -2);

/** Partition `p`'s stream name of `base` (`base` itself with one partition). */
export function partitionStreamName(base: string, p: number, count: number): string {
  return count <= 1 ? base : `${base}_P${p}`;
}

/** Every partition's streams and subjects, in partition order (one entry with one partition). */
export function streamPartitions(n: PartitionedNames): StreamPartition[] {
  const count = n.partitions.count;
  return Array.from({ length: Math.max(1, count) }, (_, p) => ({
    partition: p,
    ledgerStream: partitionStreamName(n.ledgerStream, p, count),
    ledgerSubjects: count <= 1 ? [...n.ledgerSubjects] : n.ledgerSubjects.map((f) => `${stemOf(f)}.${p}.>`),
    chainStream: partitionStreamName(n.chainStream, p, count),
    chainSubjectPrefix: count <= 1 ? n.chainSubjectPrefix : `${n.chainSubjectPrefix}.${p}`,
  }));
}

/** The partitions this worker consumes. */
export function assignedPartitions(n: PartitionedNames): StreamPartition[] {
  const all = streamPartitions(n);
  const mine = n.partitions.assigned;
  return mine === undefined ? all : all.filter((s) => mine.includes(s.partition));
}

/**
 * The subject to publish a posting of `accountId` on, given the unpartitioned `subject` (say
 * `ledger.postings`): the same with one partition, else with the account's partition after the
 * stem of the ledger subject filter it falls under (`ledger.1.postings`). Throws when no ledger
 * subject covers `subject`.
 */
export function ledgerPublishSubject(n: PartitionedNames, subject: string, accountId: string): string {
  const count = n.partitions.count;
  if (count <= 1) return subject;
  const stem = n.ledgerSubjects.map(stemOf).find((s) => subject.startsWith(`${s}.`));
  if (stem === undefined) throw new RangeError(`subject ${subject} is under none of the ledger subjects ${n.ledgerSubjects.join(', ')}`);
  return `${stem}.${partitionOf(accountId, count)}${subject.slice(stem.length)}`;
}

/** The chain subject prefix of the partition a block's events (and its retraction) go to. */
export function chainBlockPrefix(prefix: string, blockHash: string, count: number): string {
  return count <= 1 ? prefix : `${prefix}.${partitionOf(blockHash, count)}`;
}

/** The chain subject prefixes of every partition (progress and stall notices go to each). */
export function chainPartitionPrefixes(prefix: string, count: number): string[] {
  return count <= 1 ? [prefix] : Array.from({ length: count }, (_, p) => `${prefix}.${p}`);
}

/**
 * The server-side subject mapping that partitions postings published on `<stem>.<token>.<key>`
 * (say `ledger.postings.ACC-1`) by their key token, for a nats-server configuration's `mappings`:
 * the same partitions the engine computes for that key.
 */
export function ledgerPartitionMapping(stem: string, token: string, count: number): { from: string; to: string } {
  return { from: `${stem}.${token}.*`, to: `${stem}.{{partition(${count},1)}}.${token}.{{wildcard(1)}}` };
}
