import { createHash } from 'node:crypto';
import { factKey, type Fact } from '../../domain/facts.js';
import { FACT_TABLES } from '../clickhouse/migrations.js';

/**
 * One message of the fact log: facts of one durable batch (or a slice of it) and which of them
 * may already be stored (they came from a redelivered input), as JSON. Rows are the facts' rows
 * as the ClickHouse writer takes them (strings for big integers, epoch milliseconds).
 */
export interface FactLogMessage {
  facts: Fact[];
  /** `factKey`s among `facts` that the loader must look up before inserting. */
  suspects: string[];
}

const VERSION = 1;
const TABLES: ReadonlySet<string> = new Set(FACT_TABLES);

/** A refused fact log message: not JSON, another version, or not facts. */
export class FactLogMessageError extends Error {
  override readonly name = 'FactLogMessageError';
}

/**
 * Splits facts into encoded messages of at most about `maxBytes` each (a fact larger than that
 * travels alone), each with the suspects among its own facts and an id hashed from its bytes
 * (JetStream's duplicate window drops a republished identical message).
 */
export function encodeFactLog(facts: readonly Fact[], suspects: ReadonlySet<string> | undefined, maxBytes: number): { id: string; data: Uint8Array; facts: number }[] {
  const out: { id: string; data: Uint8Array; facts: number }[] = [];
  let part: string[] = [];
  let partSuspects: string[] = [];
  let bytes = 0;
  const flush = () => {
    if (part.length === 0) return;
    const json = `{"v":${VERSION},"suspects":${JSON.stringify(partSuspects)},"facts":[${part.join(',')}]}`;
    const data = Buffer.from(json);
    out.push({ id: createHash('sha256').update(data).digest('base64url'), data, facts: part.length });
    part = [];
    partSuspects = [];
    bytes = 0;
  };
  for (const f of facts) {
    const json = JSON.stringify({ table: f.table, row: f.row });
    if (bytes > 0 && bytes + json.length > maxBytes) flush();
    part.push(json);
    bytes += json.length + 1;
    if (suspects && suspects.size > 0) {
      const key = factKey(f);
      if (suspects.has(key)) partSuspects.push(key);
    }
  }
  flush();
  return out;
}

/** Decodes a fact log message; throws FactLogMessageError naming what is wrong. */
export function decodeFactLog(data: Uint8Array): FactLogMessage {
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
  } catch (e) {
    throw new FactLogMessageError(`fact log message is not JSON: ${(e as Error).message}`);
  }
  const b = body as { v?: unknown; suspects?: unknown; facts?: unknown };
  if (typeof body !== 'object' || body === null || b.v !== VERSION) throw new FactLogMessageError(`fact log message version ${String(b?.v)} is not ${VERSION}`);
  if (!Array.isArray(b.facts) || !Array.isArray(b.suspects) || !b.suspects.every((s) => typeof s === 'string')) throw new FactLogMessageError('fact log message has no facts or suspects array');
  for (const [i, f] of (b.facts as unknown[]).entries()) {
    const fact = f as { table?: unknown; row?: unknown };
    if (typeof f !== 'object' || f === null || typeof fact.table !== 'string' || !TABLES.has(fact.table)) throw new FactLogMessageError(`facts[${i}].table is not a fact table`);
    if (typeof fact.row !== 'object' || fact.row === null) throw new FactLogMessageError(`facts[${i}].row is not an object`);
  }
  return { facts: b.facts as Fact[], suspects: b.suspects as string[] };
}
