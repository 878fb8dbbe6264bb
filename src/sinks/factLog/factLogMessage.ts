import { createHash } from 'node:crypto';
import { factKey, type Fact, type FactTable } from '../../domain/facts.js';
import { encodeFact, type EncodedFact } from '../clickhouse/insertRow.js';
import { FACT_TABLES } from '../clickhouse/migrations.js';

/**
 * One message of the fact log: facts of one durable batch (or a slice of it), in their insert
 * form, and which of them may already be stored (they came from a redelivered input).
 *
 * Version 2 (written by default), text: a JSON header line, then one line per fact, its table,
 * its fact key as a JSON string and its row as the JSONCompactEachRow line ClickHouse takes,
 * separated by tabs (JSON never holds a raw tab or newline), so the loader inserts rows without
 * parsing them:
 *
 *   {"v":2,"suspects":["ledger_entries:E-1@2"]}
 *   ledger_entries<TAB>"ledger_entries:E-1@2"<TAB>["E-1","ACC-1","credit","10000",…]
 *
 * Version 1 (JSON, `{"v":1,"suspects":[…],"facts":[{"table":…,"row":{…}}]}`) is still read, and
 * written while `sink.log.messageVersion` is 1: during a rolling upgrade from a release whose
 * loader reads only version 1 (docs/runbook.md).
 */
export interface FactLogMessage {
  facts: EncodedFact[];
  /** `factKey`s among `facts` that the loader must look up before inserting. */
  suspects: string[];
}

export type FactLogVersion = 1 | 2;
const TABLES: ReadonlySet<string> = new Set(FACT_TABLES);

/** A refused fact log message: not readable, another version, or not facts. */
export class FactLogMessageError extends Error {
  override readonly name = 'FactLogMessageError';
}

/**
 * Splits facts into encoded messages of at most about `maxBytes` each (a fact larger than that
 * travels alone), each with the suspects among its own facts and an id hashed from its bytes
 * (JetStream's duplicate window drops a republished identical message).
 */
export function encodeFactLog(facts: readonly Fact[], suspects: ReadonlySet<string> | undefined, maxBytes: number, version: FactLogVersion = 2): { id: string; data: Uint8Array; facts: number }[] {
  const out: { id: string; data: Uint8Array; facts: number }[] = [];
  let part: string[] = [];
  let partSuspects: string[] = [];
  let bytes = 0;
  const flush = () => {
    if (part.length === 0) return;
    const text = version === 2 ? `{"v":2,"suspects":${JSON.stringify(partSuspects)}}\n${part.join('\n')}` : `{"v":1,"suspects":${JSON.stringify(partSuspects)},"facts":[${part.join(',')}]}`;
    const data = Buffer.from(text);
    out.push({ id: createHash('sha256').update(data).digest('base64url'), data, facts: part.length });
    part = [];
    partSuspects = [];
    bytes = 0;
  };
  for (const f of facts) {
    let key: string;
    let line: string;
    if (version === 2) {
      const e = encodeFact(f);
      key = e.key;
      line = `${e.table}\t${JSON.stringify(e.key)}\t${e.line}`;
    } else {
      key = factKey(f);
      line = JSON.stringify({ table: f.table, row: f.row });
    }
    if (bytes > 0 && bytes + line.length > maxBytes) flush();
    part.push(line);
    bytes += line.length + 1;
    if (suspects && suspects.size > 0 && suspects.has(key)) partSuspects.push(key);
  }
  flush();
  return out;
}

/** Decodes a fact log message of either version; throws FactLogMessageError naming what is wrong. */
export function decodeFactLog(data: Uint8Array): FactLogMessage {
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
  const nl = text.indexOf('\n');
  let head: unknown;
  try {
    head = JSON.parse(nl < 0 ? text : text.slice(0, nl));
  } catch (e) {
    throw new FactLogMessageError(`fact log message does not start with a JSON header: ${(e as Error).message}`);
  }
  const h = head as { v?: unknown; suspects?: unknown; facts?: unknown };
  if (typeof head !== 'object' || head === null || (h.v !== 1 && h.v !== 2)) throw new FactLogMessageError(`fact log message version ${String(h?.v)} is not 1 or 2`);
  if (!Array.isArray(h.suspects) || !h.suspects.every((s) => typeof s === 'string')) throw new FactLogMessageError('fact log message has no suspects array');
  const suspects = h.suspects as string[];
  return { facts: h.v === 2 ? decodeLines(text, nl) : decodeVersion1(h.facts), suspects };
}

function decodeLines(text: string, nl: number): EncodedFact[] {
  const facts: EncodedFact[] = [];
  let at = nl < 0 ? text.length : nl + 1;
  for (let i = 0; at < text.length; i++) {
    let end = text.indexOf('\n', at);
    if (end < 0) end = text.length;
    const t1 = text.indexOf('\t', at);
    const t2 = t1 < 0 || t1 > end ? -1 : text.indexOf('\t', t1 + 1);
    if (t2 < 0 || t2 > end) throw new FactLogMessageError(`facts[${i}] is not table, key and row separated by tabs`);
    const table = text.slice(at, t1);
    if (!TABLES.has(table)) throw new FactLogMessageError(`facts[${i}].table is not a fact table`);
    const quoted = text.slice(t1 + 1, t2);
    let key: unknown;
    // A key without escapes is its quoted text (the usual case); else JSON decodes it.
    if (quoted.length >= 2 && quoted.charCodeAt(0) === 34 && quoted.charCodeAt(quoted.length - 1) === 34 && !quoted.includes('\\')) key = quoted.slice(1, -1);
    else
      try {
        key = JSON.parse(quoted);
      } catch {
        key = undefined;
      }
    if (typeof key !== 'string' || !key.startsWith(`${table}:`)) throw new FactLogMessageError(`facts[${i}].key is not a fact key of ${table}`);
    const line = text.slice(t2 + 1, end);
    if (line.charCodeAt(0) !== 91 || line.charCodeAt(line.length - 1) !== 93) throw new FactLogMessageError(`facts[${i}].row is not a JSON array`);
    facts.push({ table: table as FactTable, key, line });
    at = end + 1;
  }
  return facts;
}

function decodeVersion1(raw: unknown): EncodedFact[] {
  if (!Array.isArray(raw)) throw new FactLogMessageError('fact log message has no facts array');
  return raw.map((f: unknown, i) => {
    const fact = f as { table?: unknown; row?: unknown };
    if (typeof f !== 'object' || f === null || typeof fact.table !== 'string' || !TABLES.has(fact.table)) throw new FactLogMessageError(`facts[${i}].table is not a fact table`);
    if (typeof fact.row !== 'object' || fact.row === null) throw new FactLogMessageError(`facts[${i}].row is not an object`);
    return encodeFact(f as Fact);
  });
}
