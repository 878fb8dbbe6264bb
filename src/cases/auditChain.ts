import { createHash } from 'node:crypto';

/**
 * The tamper-evident audit trail: every case action and status change is a record whose hash
 * covers its content and the previous record's hash, so editing, deleting, inserting or
 * reordering any record breaks every link after it. Anyone holding a later head hash (exported on
 * a schedule, optionally anchored on chain) can prove that history was not rewritten since.
 */
export interface AuditRecord {
  /** 1, 2, 3, … without gaps, in the order the records were chained. */
  seq: number;
  /** Epoch ms. */
  at: number;
  actor: string;
  /** What was done: `case.acknowledge`, `case.status`, `api.call`, … */
  action: string;
  /** What it was done to: a case id, an endpoint. */
  subject: string;
  /** The action's details, as canonical JSON (see `canonicalJson`). */
  content: string;
  /** Hash of the previous record (GENESIS for seq 1). */
  prevHash: string;
  hash: string;
}

/** The previous hash of the first record. */
export const GENESIS = '0'.repeat(64);

/**
 * JSON with object keys sorted at every depth and bigints as decimal strings: the same content
 * always serialises to the same bytes, whoever wrote it.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}

/** sha256 over the record's fields and the previous hash, each length-prefixed (no field can bleed into the next). */
export function hashOf(r: Omit<AuditRecord, 'hash'>): string {
  const h = createHash('sha256');
  for (const f of [String(r.seq), String(r.at), r.actor, r.action, r.subject, r.content, r.prevHash]) {
    h.update(`${Buffer.byteLength(f)}:`);
    h.update(f);
  }
  return h.digest('hex');
}

/** The record that follows `prev` (null for the first). */
export function chainRecord(prev: Pick<AuditRecord, 'seq' | 'hash'> | null, r: Pick<AuditRecord, 'at' | 'actor' | 'action' | 'subject'> & { content: unknown }): AuditRecord {
  const base = {
    seq: (prev?.seq ?? 0) + 1,
    at: r.at,
    actor: r.actor,
    action: r.action,
    subject: r.subject,
    content: canonicalJson(r.content),
    prevHash: prev?.hash ?? GENESIS,
  };
  return { ...base, hash: hashOf(base) };
}

export type ChainVerdict =
  | { ok: true; records: number; head: { seq: number; hash: string } | null }
  | { ok: false; seq: number; problem: 'edited' | 'missing' | 'out_of_order' | 'broken_link' | 'rewritten'; detail: string };

/**
 * Checks records in stored order from `after` (the record just before the period: its seq and
 * hash, or null from the start). Names the first broken link: a record whose hash does not match
 * its content (edited), a gap in the sequence (missing, deleted), a sequence going back (out of
 * order), a record that does not point at its predecessor (broken link: inserted or replaced),
 * or, when head hashes exported earlier are given, a chain consistently re-hashed after an edit.
 */
export function verifyChain(
  records: Iterable<AuditRecord>,
  after: Pick<AuditRecord, 'seq' | 'hash'> | null = null,
  /** Head hashes exported earlier: a chain re-hashed from an edit onwards still differs from them ('rewritten'). */
  exportedHeads: readonly Pick<AuditRecord, 'seq' | 'hash'>[] = [],
): ChainVerdict {
  const heads = new Map(exportedHeads.map((h) => [h.seq, h.hash]));
  let prev = after;
  let n = 0;
  for (const r of records) {
    const expectedSeq = (prev?.seq ?? 0) + 1;
    if (r.seq < expectedSeq) return { ok: false, seq: r.seq, problem: 'out_of_order', detail: `record ${r.seq} comes after record ${expectedSeq - 1}` };
    if (r.seq > expectedSeq) return { ok: false, seq: expectedSeq, problem: 'missing', detail: `records ${expectedSeq}..${r.seq - 1} are missing before record ${r.seq}` };
    if (hashOf(r) !== r.hash) return { ok: false, seq: r.seq, problem: 'edited', detail: `record ${r.seq}'s content does not match its hash` };
    if (r.prevHash !== (prev?.hash ?? GENESIS)) return { ok: false, seq: r.seq, problem: 'broken_link', detail: `record ${r.seq} does not point at record ${expectedSeq - 1}` };
    const exported = heads.get(r.seq);
    if (exported !== undefined && exported !== r.hash)
      return { ok: false, seq: r.seq, problem: 'rewritten', detail: `record ${r.seq}'s hash differs from the head exported for it: history up to it was rewritten` };
    prev = r;
    n++;
  }
  return { ok: true, records: n, head: prev && { seq: prev.seq, hash: prev.hash } };
}
