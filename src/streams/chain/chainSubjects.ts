/**
 * The chain stream's subjects, in one place for the ingester that publishes them, the stream that
 * stores them and the worker that reads them: `<prefix>.<chainId>.<kind>`.
 *
 * - `events`: a block's confirmed token events (chainEventCodec.ts, batch format)
 * - `progress`: the chain's watermark, a confirmed block every event of which precedes it
 * - `retract`: the events of a block a deep reorg orphaned
 * - `stall`: the head stopped (or started again)
 */
export const CHAIN_SUBJECT_KINDS = ['events', 'progress', 'retract', 'stall'] as const;
export type ChainSubjectKind = (typeof CHAIN_SUBJECT_KINDS)[number];

/** The subject of `kind` messages of chain `chainId`. */
export function chainSubject(prefix: string, chainId: number, kind: ChainSubjectKind): string {
  return `${prefix}.${chainId}.${kind}`;
}

/** Every chain subject under `prefix`: the chain stream's subject filter. */
export function chainStreamSubjects(prefix: string): string[] {
  return [`${prefix}.>`];
}

/**
 * The chain and kind of a subject, or null when it is not `<prefix>.<chainId>.<kind>` with a
 * known kind (with `prefix` unknown to the caller, any prefix is accepted).
 */
export function parseChainSubject(subject: string, prefix?: string): { chainId: number; kind: ChainSubjectKind } | null {
  const last = subject.lastIndexOf('.');
  const mid = subject.lastIndexOf('.', last - 1);
  if (last < 0 || mid < 0) return null;
  if (prefix !== undefined && subject.slice(0, mid) !== prefix) return null;
  const kind = subject.slice(last + 1);
  const id = subject.slice(mid + 1, last);
  if (!(CHAIN_SUBJECT_KINDS as readonly string[]).includes(kind) || !/^[1-9][0-9]{0,15}$/.test(id)) return null;
  return { chainId: Number(id), kind: kind as ChainSubjectKind };
}
