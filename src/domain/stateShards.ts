/**
 * Which shard of the match state a leg lives in (issue 18, sharded state). The match state is split
 * into N shards, each under a Redis Cluster hash tag of its own, so a cluster spreads the work over
 * its masters. Two legs can only be paired when they are in the same shard (a script touches one
 * slot), so the shard is derived from what both legs of a pair share, and from nothing that changes
 * over a leg's life. Pure: no I/O (docs/architecture.md, "Sharded state").
 */
import type { Leg } from './types.js';

/**
 * What a leg's shard is derived from.
 * - `account`: the account both legs resolve to (a chain wallet through the identity map). Every
 *   account-scoped pairing stays in one shard (attributes, fees, rounding, expiry proposals and
 *   mismatches, split search); a reference pair across two accounts (an omnibus batch mint meeting
 *   its customers' credits) cannot be found.
 * - `reference`: a leg carrying a reference (tokenization reference, batch id) by that reference,
 *   any other by its account. Reference pairs across accounts are found (omnibus batches); an
 *   account-scoped pair of a leg with a reference and a leg without one cannot be.
 */
export type ShardKeyMode = 'account' | 'reference';

/** What the shard of a leg is computed from: a leg, or a stored leg's account (`a`) and reference (`r`). */
export interface ShardedLeg {
  accountId: string;
  reference: string | null;
}

/** The key of a leg's shard under `mode` (see ShardKeyMode). */
export function shardKeyOf(leg: ShardedLeg, mode: ShardKeyMode): string {
  if (mode === 'reference' && leg.reference) return `ref:${leg.reference}`;
  return `acct:${leg.accountId}`;
}

/** 32-bit FNV-1a of the UTF-8 bytes of `s`: stable across processes, versions and platforms. */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(s)) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The shard 0..shards-1 of a leg: FNV-1a of its shard key modulo the number of shards. */
export function shardOf(leg: ShardedLeg, shards: number, mode: ShardKeyMode): number {
  if (shards <= 1) return 0;
  return fnv1a32(shardKeyOf(leg, mode)) % shards;
}

/** The fields of a leg the shard depends on (Leg or StoredLeg). */
export function shardedLeg(l: Pick<Leg, 'accountId' | 'reference'> | { a: string; r: string }): ShardedLeg {
  return 'a' in l ? { accountId: l.a, reference: l.r || null } : { accountId: l.accountId, reference: l.reference ?? null };
}

/** CRC16-CCITT (XMODEM), the hash Redis Cluster maps keys to its 16,384 slots with. */
export function crc16(s: string): number {
  let crc = 0;
  for (const b of new TextEncoder().encode(s)) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The Redis Cluster slot of a hash tag. */
export const slotOfTag = (tag: string) => crc16(tag) % 16_384;

/**
 * The hash tags of `shards` shards of the state named `base` (`m`: matching; `aml`: the AML
 * windows). One shard: `base`, today's tag, so a deployment that does not shard keeps every key
 * name. More: shard i gets `<base><i>`, or `<base><i>.<k>` with the smallest k whose slot falls in
 * the i-th of `shards` equal ranges of the slot space, so that a cluster whose masters hold
 * contiguous equal ranges (what `redis-cli --cluster create` makes) gets an equal share of the
 * shards on each master, and shard i of every state lands on the same master.
 */
export function shardTags(shards: number, base = 'm'): string[] {
  if (shards <= 1) return [base];
  return Array.from({ length: shards }, (_, i) => {
    const lo = Math.floor((i * 16_384) / shards);
    const hi = Math.floor(((i + 1) * 16_384) / shards);
    const fits = (tag: string) => {
      const slot = slotOfTag(tag);
      return slot >= lo && slot < hi;
    };
    if (fits(`${base}${i}`)) return `${base}${i}`;
    for (let k = 1; ; k++) if (fits(`${base}${i}.${k}`)) return `${base}${i}.${k}`;
  });
}

/** The key prefix of each shard of `namespace`'s match state: `<namespace>:{<tag>}:`. */
export const shardPrefixes = (namespace: string, shards: number) => shardTags(shards).map((t) => `${namespace}:{${t}}:`);

/** The subject of a subject key `${scope}:${subject}:${currency}` (an account id may hold colons). */
const subjectOf = (subjectKey: string) => subjectKey.slice(subjectKey.indexOf(':') + 1, subjectKey.lastIndexOf(':'));

/**
 * The key prefixes of the AML windows of `namespace` laid out in `shards` shards: one shard,
 * `<namespace>:{aml}:` (the rest of the AML state's prefix, so today's key names); more, one hash
 * tag per shard (`{aml0}`, `{aml1.3}`…, balanced over the slot ranges like the match state's).
 */
export const amlWindowPrefixes = (namespace: string, shards: number) => shardTags(shards, 'aml').map((t) => `${namespace}:{${t}}:`);

/** The shard of a subject's windows: the shard function of the match state, on the subject as an account (so a customer's windows and its match state share a shard index). */
export const amlShardOf = (subjectKey: string, shards: number) => shardOf({ accountId: subjectOf(subjectKey), reference: null }, shards, 'account');
