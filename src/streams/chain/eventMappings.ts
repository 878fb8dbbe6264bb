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
  /**
   * Decodes a log's arguments by name as viem's strict `decodeEventLog` would (null where it
   * would throw), without its generic machinery, for events of named static words only
   * (address, uintN, intN, bytesN); undefined for any other event, which goes through viem.
   */
  decodeStatic?: (topics: readonly Hex[], data: Hex) => Record<string, unknown> | null;
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
    const decodeStatic = staticDecoder(event, fields);
    out.push({ event, selector: toEventSelector(event), kind: c.kind, fields, ...(decodeStatic && { decodeStatic }) });
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

function staticDecoder(event: AbiEvent, fields: Partial<Record<Field, string>>): EventMapping['decodeStatic'] {
  if (event.anonymous) return undefined;
  const topicInputs: { name: string; decode: WordDecoder }[] = [];
  const dataInputs: { name: string; decode: WordDecoder }[] = [];
  for (const input of event.inputs) {
    const decode = wordDecoder(input.type);
    // viem checksums addresses; a reference taken from an address would differ in case.
    if (!input.name || !decode || (input.type === 'address' && fields.reference === input.name)) return undefined;
    (input.indexed ? topicInputs : dataInputs).push({ name: input.name, decode });
  }
  if (topicInputs.length + dataInputs.length === 0) return undefined;
  return (topics, data) => {
    // Strict: a missing topic, or data shorter than the arguments it must hold, does not decode.
    if (topics.length < topicInputs.length + 1) return null;
    if (dataInputs.length > 0 && (data.length - 2) < 64 * dataInputs.length) return null;
    const args: Record<string, unknown> = {};
    try {
      topicInputs.forEach((p, i) => (args[p.name] = p.decode(topics[i + 1]!.slice(2))));
      dataInputs.forEach((p, i) => (args[p.name] = p.decode(data.slice(2 + 64 * i, 2 + 64 * (i + 1)))));
    } catch {
      return null;
    }
    return args;
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
  blockTimestamp?: bigint | null;
}

export interface TokenEvents {
  decimals: number;
  mappings: readonly EventMapping[];
}

interface Annotation {
  token: string;
  tx: string;
  from?: string;
  to?: string;
  amount?: bigint;
  reference: string;
  used: boolean;
}

/**
 * Decodes the logs of one or more blocks into chain events in chain order. Logs whose token or
 * selector is not configured, or whose topics do not fit the ABI (an ERC-721 Transfer), are skipped.
 * `blockTime(n)` gives the block's timestamp in epoch ms.
 */
export function decodeTokenLogs(
  chainId: number,
  logs: readonly RawLog[],
  tokens: ReadonlyMap<string, TokenEvents>,
  blockTime: (blockNumber: bigint) => number,
): ChainEvent[] {
  const events: ChainEvent[] = [];
  const annotations: Annotation[] = [];
  for (const log of logs) {
    const token = log.address.toLowerCase();
    const t = tokens.get(token);
    const m = t?.mappings.find((x) => x.selector === log.topics[0]);
    if (!t || !m) continue;
    if (log.blockHash === null || log.blockNumber === null || log.logIndex === null || log.transactionHash === null) continue;
    let args: Record<string, unknown>;
    if (m.decodeStatic) {
      const a = m.decodeStatic(log.topics, log.data);
      if (!a) continue;
      args = a;
    } else {
      try {
        args = decodeEventLog({ abi: [m.event], data: log.data, topics: log.topics as [Hex, ...Hex[]], strict: true }).args as Record<string, unknown>;
      } catch {
        continue;
      }
    }
    const get = (f: Field) => (m.fields[f] ? args[m.fields[f]!] : undefined);
    const addr = (f: Field) => {
      const v = get(f);
      return typeof v === 'string' ? v.toLowerCase() : undefined;
    };
    const amount = get('amount');
    const reference = referenceOf(get('reference'));
    const tx = log.transactionHash.toLowerCase();
    if (m.kind === 'reference') {
      if (reference) {
        annotations.push({ token, tx, from: addr('from'), to: addr('to'), amount: typeof amount === 'bigint' ? amount : undefined, reference, used: false });
      }
      continue;
    }
    if (typeof amount !== 'bigint') continue;
    let from = addr('from') ?? ZERO_ADDRESS;
    let to = addr('to') ?? ZERO_ADDRESS;
    let kind: ChainEventKind = m.kind;
    if (m.kind === 'transfer') kind = classifyTransfer(from, to);
    if (m.kind === 'mint') from = ZERO_ADDRESS;
    if (m.kind === 'burn') to = ZERO_ADDRESS;
    const blockHash = log.blockHash.toLowerCase();
    events.push({
      eventId: chainEventId(chainId, blockHash, log.logIndex),
      chainId,
      token,
      blockNumber: log.blockNumber,
      blockHash,
      blockTime: blockTime(log.blockNumber),
      txHash: tx,
      logIndex: log.logIndex,
      kind,
      from,
      to,
      value: amount,
      decimals: t.decimals,
      reference,
    });
  }
  // An annotation gives its reference to the first event of the same token and transaction that
  // has none and agrees on every field the annotation carries.
  for (const a of annotations) {
    const e = events.find(
      (x) =>
        !x.reference &&
        x.token === a.token &&
        x.txHash === a.tx &&
        (a.to === undefined || x.to === a.to) &&
        (a.from === undefined || x.from === a.from) &&
        (a.amount === undefined || x.value === a.amount),
    );
    if (e) {
      e.reference = a.reference;
      a.used = true;
    }
  }
  events.sort((a, b) => (a.blockNumber === b.blockNumber ? a.logIndex - b.logIndex : a.blockNumber < b.blockNumber ? -1 : 1));
  return events;
}

function referenceOf(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') {
    if (/^0x[0-9a-fA-F]{64}$/.test(v)) return decodeReference(v as Hex);
    return v.length > 0 ? v : null;
  }
  if (typeof v === 'bigint') return v === 0n ? null : v.toString();
  return null;
}

/** Every event selector (topic 0) of a set of tokens, once each: the eth_getLogs topic filter. */
export function selectorsOf(tokens: Iterable<TokenEvents>): Hex[] {
  const out = new Set<Hex>();
  for (const t of tokens) for (const m of t.mappings) out.add(m.selector);
  return [...out];
}

/** Every event ABI item of a set of tokens, one per selector (for eth_getLogs topic filters). */
export function eventsOf(tokens: Iterable<TokenEvents>): AbiEvent[] {
  const bySelector = new Map<string, AbiEvent>();
  for (const t of tokens) for (const m of t.mappings) bySelector.set(m.selector, m.event);
  return [...bySelector.values()];
}
