/**
 * Which contract events a token emits and what they mean to the engine: each configured event ABI
 * maps onto a kind (mint, burn, transfer, collateral) with a field mapping (which argument is
 * `from`, `to`, `amount`, `reference`), or annotates another event of the same transaction with
 * a reference (`reference` kind: DepositToken's `Minted(to, amount, ref)` beside its Transfer).
 * Pure: logs in, `ChainEvent`s out.
 */
import { decodeEventLog, parseAbiItem, toEventSelector, type AbiEvent, type Hex } from 'viem';
import type { TokenConfig } from '../../config/schema.js';
import type { ChainEvent, ChainEventKind } from '../../domain/types.js';
import { ConfigError } from '../../lib/errors.js';
import { chainEventId, classifyTransfer, decodeReference, ZERO_ADDRESS } from './tokenTransferEvent.js';

export type EventMappingKind = ChainEventKind | 'reference';
type Field = 'from' | 'to' | 'amount' | 'reference';

export interface EventMapping {
  event: AbiEvent;
  selector: Hex;
  kind: EventMappingKind;
  /** Argument name for each field the kind uses. */
  fields: Partial<Record<Field, string>>;
  /** ABI type of the `reference` argument (`bytes32`, `string`, `uint256`…): how its value reads as text. */
  referenceType?: string;
  /**
   * The mapped fields of a log (`from`, `to`, `amount`, `reference`), or null when the log does
   * not decode (strictly, as viem would refuse it). Static-word events read only the words they
   * need (checking the others that could fail); other events go through viem's `decodeEventLog`.
   */
  decodeFields: (topics: readonly Hex[], data: Hex) => MappedFields | null;
}

/** A log's arguments under the field names the engine uses (as decoded: ints as bigint; `from`/`to` strings lower-case). */
export interface MappedFields {
  from?: unknown;
  to?: unknown;
  amount?: unknown;
  reference?: unknown;
}

export type TokenEventsConfig = NonNullable<TokenConfig['events']>;

/** ERC-20 Transfer, plus DepositToken's Minted as the reference of the Transfer beside it. */
export const DEFAULT_TOKEN_EVENTS: TokenEventsConfig = [
  { abi: 'event Transfer(address indexed from, address indexed to, uint256 value)', kind: 'transfer', fields: {} },
  { abi: 'event Minted(address indexed to, uint256 amount, bytes32 indexed ref)', kind: 'reference', fields: {} },
];

const REQUIRED: Record<EventMappingKind, Field[]> = {
  transfer: ['from', 'to', 'amount'],
  mint: ['to', 'amount'],
  burn: ['from', 'amount'],
  collateral: ['amount'],
  reference: ['reference'],
};

const DEFAULT_NAMES: Record<Field, string[]> = {
  from: ['from'],
  to: ['to'],
  amount: ['amount', 'value'],
  reference: ['reference', 'ref'],
};

/** Parses and checks a token's event configuration; throws `ConfigError` naming what is wrong. */
export function compileEventMappings(config: TokenEventsConfig | undefined, token = '?'): EventMapping[] {
  const out: EventMapping[] = [];
  for (const c of config ?? DEFAULT_TOKEN_EVENTS) {
    let event: AbiEvent;
    try {
      const item = parseAbiItem(c.abi.trim());
      if (item.type !== 'event') throw new Error(`not an event: ${item.type}`);
      event = item as AbiEvent;
    } catch (cause) {
      throw new ConfigError(`token ${token}: cannot parse event ABI "${c.abi}"`, { cause });
    }
    const names = new Set(event.inputs.map((i) => i.name).filter((n): n is string => !!n));
    const fields: Partial<Record<Field, string>> = {};
    for (const f of ['from', 'to', 'amount', 'reference'] as Field[]) {
      const given = c.fields?.[f];
      if (given !== undefined) {
        if (!names.has(given)) throw new ConfigError(`token ${token}: event ${event.name} has no argument "${given}" (for ${f})`);
        fields[f] = given;
      } else {
        const d = DEFAULT_NAMES[f].find((n) => names.has(n));
        if (d) fields[f] = d;
      }
    }
    for (const f of REQUIRED[c.kind]) {
      if (!fields[f]) throw new ConfigError(`token ${token}: ${c.kind} event ${event.name} needs a "${f}" argument (fields.${f})`);
    }
    const decodeFields = staticFieldDecoder(event, fields) ?? viemFieldDecoder(event, fields);
    const referenceType = fields.reference ? event.inputs.find((i) => i.name === fields.reference)!.type : undefined;
    out.push({ event, selector: toEventSelector(event), kind: c.kind, fields, ...(referenceType && { referenceType }), decodeFields });
  }
  const selectors = out.map((m) => m.selector);
  if (new Set(selectors).size !== selectors.length) throw new ConfigError(`token ${token}: the same event is configured twice`);
  return out;
}

type WordDecoder = (word: string) => unknown;

/** How viem decodes one 32-byte word of a static type (lower-case addresses: every use lower-cases them). */
function wordDecoder(type: string): WordDecoder | undefined {
  if (type === 'address') return (w) => `0x${w.slice(24).toLowerCase()}`;
  const int = /^(u?)int(\d*)$/.exec(type);
  if (int) {
    const bits = int[2] ? Number(int[2]) : 256;
    const signed = int[1] === '';
    return (w) => {
      let v = BigInt(`0x${w}`);
      if (signed && v >= 1n << 255n) v -= 1n << 256n;
      if (bits > 48) return v;
      // viem refuses a small type whose word does not fit a safe integer.
      if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw new RangeError('not a safe integer');
      return Number(v);
    };
  }
  const bytes = /^bytes(\d+)$/.exec(type);
  if (bytes) {
    const n = Number(bytes[1]);
    if (n >= 1 && n <= 32) return (w) => `0x${w.slice(0, 2 * n).toLowerCase()}`;
  }
  return undefined;
}

const FIELDS: readonly Field[] = ['from', 'to', 'amount', 'reference'];

/**
 * `decodeFields` for a static-word event: each mapped field read straight from its topic or data
 * word; words of small ints that viem would refuse (beyond a safe integer) are checked even when
 * unmapped, so a log decodes exactly when viem's strict decoding would.
 */
function staticFieldDecoder(event: AbiEvent, fields: Partial<Record<Field, string>>): EventMapping['decodeFields'] | undefined {
  // Only named, static-word arguments; an address used as the reference goes through viem, which
  // checksums it (a reference taken from it would differ in case).
  if (event.anonymous || event.inputs.length === 0) return undefined;
  for (const input of event.inputs) {
    if (!input.name || !wordDecoder(input.type) || (input.type === 'address' && fields.reference === input.name)) return undefined;
  }
  type Slot = { field: Field | null; topic: boolean; index: number; decode: WordDecoder; mayFail: boolean };
  const slots: Slot[] = [];
  let topic = 0;
  let word = 0;
  for (const input of event.inputs) {
    const field = FIELDS.find((f) => fields[f] === input.name) ?? null;
    const int = /^(u?)int(\d*)$/.exec(input.type);
    const mayFail = !!int && (int[2] ? Number(int[2]) : 256) <= 48;
    const slot = { field, topic: !!input.indexed, index: input.indexed ? ++topic : word++, decode: wordDecoder(input.type)!, mayFail };
    if (field || mayFail) slots.push(slot);
  }
  const topicCount = topic + 1;
  const dataChars = 64 * word;
  return (topics, data) => {
    if (topics.length < topicCount) return null;
    if (dataChars > 0 && data.length - 2 < dataChars) return null;
    const out: MappedFields = {};
    try {
      for (const s of slots) {
        const w = s.topic ? topics[s.index]!.slice(2) : data.slice(2 + 64 * s.index, 66 + 64 * s.index);
        const v = s.decode(w);
        if (s.field) out[s.field] = v;
      }
    } catch {
      return null;
    }
    return out;
  };
}

/** `decodeFields` through viem's strict `decodeEventLog` (dynamic types, anonymous events). */
function viemFieldDecoder(event: AbiEvent, fields: Partial<Record<Field, string>>): EventMapping['decodeFields'] {
  return (topics, data) => {
    let args: Record<string, unknown>;
    try {
      args = decodeEventLog({ abi: [event], data, topics: topics as [Hex, ...Hex[]], strict: true }).args as Record<string, unknown>;
    } catch {
      return null;
    }
    const out: MappedFields = {};
    for (const f of FIELDS) if (fields[f]) out[f] = args[fields[f]!];
    if (typeof out.from === 'string') out.from = out.from.toLowerCase();
    if (typeof out.to === 'string') out.to = out.to.toLowerCase();
    return out;
  };
}

/** A log as eth_getLogs returns it (viem-formatted), before decoding. */
export interface RawLog {
  address: string;
  blockHash: string | null;
  blockNumber: bigint | null;
  logIndex: number | null;
  transactionHash: string | null;
  data: Hex;
  topics: readonly Hex[];
  removed?: boolean;
  /** Seconds; set by nodes that follow the newer eth_getLogs spec (anvil, reth, geth ≥ 1.16), absent elsewhere. */
  blockTimestamp?: bigint | null | undefined;
}

export interface TokenEvents {
  decimals: number;
  mappings: readonly EventMapping[];
}

interface Annotation {
  token: string;
  tx: string;
  from?: string | undefined;
  to?: string | undefined;
  amount?: bigint | undefined;
  reference: string;
  used: boolean;
}

/**
 * Decodes the logs of one or more blocks into chain events in chain order. Logs whose token or
 * selector is not configured, or whose topics do not fit the ABI (an ERC-721 Transfer), are skipped.
 * `blockTime(n)` gives the block's timestamp in epoch ms.
 */
export function decodeTokenLogs(chainId: number, logs: readonly RawLog[], tokens: ReadonlyMap<string, TokenEvents>, blockTime: (blockNumber: bigint) => number): ChainEvent[] {
  // Hot path of a backfill (one pass per log): no closures per log, and what repeats across the
  // logs of one block, transaction or token (lower-casing, lookups, block time) is done once.
  const events: ChainEvent[] = [];
  const annotations: Annotation[] = [];
  let rawAddress = '';
  let token = '';
  let t: TokenEvents | undefined;
  let selectors: ReadonlyMap<string, EventMapping> | undefined;
  let rawBlockHash = '';
  let blockHash = '';
  let timeOf = -1n;
  let time = 0;
  let rawTx = '';
  let tx = '';
  let sorted = true;
  let prev: ChainEvent | undefined;
  for (const log of logs) {
    if (log.address !== rawAddress) {
      rawAddress = log.address;
      token = rawAddress.toLowerCase();
      t = tokens.get(token);
      selectors = t && selectorIndex(t.mappings);
    }
    const m = selectors?.get(log.topics[0]!);
    if (!t || !m) continue;
    if (log.blockHash === null || log.blockNumber === null || log.logIndex === null || log.transactionHash === null) continue;
    const f = m.decodeFields(log.topics, log.data);
    if (!f) continue;
    const amount = f.amount;
    const reference = referenceOf(f.reference, m.referenceType);
    if (log.transactionHash !== rawTx) {
      rawTx = log.transactionHash;
      tx = rawTx.toLowerCase();
    }
    if (m.kind === 'reference') {
      if (reference) {
        annotations.push({ token, tx, from: stringOrUndefined(f.from), to: stringOrUndefined(f.to), amount: typeof amount === 'bigint' ? amount : undefined, reference, used: false });
      }
      continue;
    }
    if (typeof amount !== 'bigint') continue;
    let from = stringOrUndefined(f.from) ?? ZERO_ADDRESS;
    let to = stringOrUndefined(f.to) ?? ZERO_ADDRESS;
    let kind: ChainEventKind = m.kind;
    if (m.kind === 'transfer') kind = classifyTransfer(from, to);
    if (m.kind === 'mint') from = ZERO_ADDRESS;
    if (m.kind === 'burn') to = ZERO_ADDRESS;
    if (log.blockHash !== rawBlockHash) {
      rawBlockHash = log.blockHash;
      blockHash = rawBlockHash.toLowerCase();
    }
    if (log.blockNumber !== timeOf) {
      timeOf = log.blockNumber;
      time = blockTime(timeOf);
    }
    const e: ChainEvent = {
      eventId: chainEventId(chainId, blockHash, log.logIndex),
      chainId,
      token,
      blockNumber: log.blockNumber,
      blockHash,
      blockTime: time,
      txHash: tx,
      logIndex: log.logIndex,
      kind,
      from,
      to,
      value: amount,
      decimals: t.decimals,
      reference,
    };
    if (prev && compareEvents(prev, e) >= 0) sorted = false;
    prev = e;
    events.push(e);
  }
  if (annotations.length > 0) {
    // An annotation gives its reference to the first event of the same token and transaction that
    // has none and agrees on every field the annotation carries (indexed by token and transaction:
    // a range of many mints with references would be quadratic otherwise).
    const byTx = new Map<string, ChainEvent[]>();
    for (const e of events) {
      const k = `${e.token}:${e.txHash}`;
      const list = byTx.get(k);
      if (list) list.push(e);
      else byTx.set(k, [e]);
    }
    for (const a of annotations) {
      const e = byTx
        .get(`${a.token}:${a.tx}`)
        ?.find((x) => !x.reference && (a.to === undefined || x.to === a.to) && (a.from === undefined || x.from === a.from) && (a.amount === undefined || x.value === a.amount));
      if (e) {
        e.reference = a.reference;
        a.used = true;
      }
    }
  }
  if (!sorted) events.sort(compareEvents);
  return events;
}

function compareEvents(a: ChainEvent, b: ChainEvent): number {
  return a.blockNumber === b.blockNumber ? a.logIndex - b.logIndex : a.blockNumber < b.blockNumber ? -1 : 1;
}

function stringOrUndefined(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

const selectorIndexes = new WeakMap<readonly EventMapping[], ReadonlyMap<string, EventMapping>>();

/** A token's mappings by selector (topic 0), built once per mapping list. */
function selectorIndex(mappings: readonly EventMapping[]): ReadonlyMap<string, EventMapping> {
  let index = selectorIndexes.get(mappings);
  if (!index) {
    index = new Map(mappings.map((m) => [m.selector, m]));
    selectorIndexes.set(mappings, index);
  }
  return index;
}

/**
 * A decoded reference argument as the engine's reference text, exactly: bytes types (bytes32,
 * bytesN, bytes) by `decodeReference` (text when they hold text, else canonical hex), integers
 * in decimal (0 is none), strings as decoded. Never guessed from the value's shape: a `string`
 * that looks like hex stays that string.
 */
export function referenceOf(v: unknown, type: string | undefined): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') {
    if (type !== undefined && /^bytes\d*$/.test(type)) return decodeReference(v as Hex);
    return v.length > 0 ? v : null;
  }
  if (typeof v === 'bigint') return v === 0n ? null : v.toString();
  if (typeof v === 'number') return v === 0 ? null : String(v);
  return null;
}

/** Every event selector (topic 0) of a set of tokens, once each: the eth_getLogs topic filter. */
export function selectorsOf(tokens: Iterable<TokenEvents>): Hex[] {
  const out = new Set<Hex>();
  for (const t of tokens) for (const m of t.mappings) out.add(m.selector);
  return [...out];
}
