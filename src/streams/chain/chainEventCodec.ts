/**
 * JSON wire format of the CHAIN stream. Big integers travel as decimal strings so no JSON parser
 * rounds them; every message carries a format version `v`. Decoding never trusts the bytes:
 * unreadable input is a `DecodeError`, readable input that breaks the contract a `SchemaViolation`.
 *
 * `.events` messages: format 2 (`ChainEventBatch`) carries the events of one block (or one chunk
 * of at most `MAX_EVENTS_PER_MESSAGE` of them) in chain order, the block's fields once; message id
 * `chainEventBatchMsgId`. Format 1 (one event per message, id = eventId) is still decoded, for
 * messages already in a stream. Progress, retraction and stall messages are format 1.
 *
 * Validation at the door (src/domain/inputBounds.ts), on both the fast path and the schema: a
 * value fits uint256 (ClickHouse `value UInt256`), a block number uint64, a log index uint32,
 * decimals 0..77 (10^78 > 2^256), a reference is null or an identifier (text, or the canonical
 * hex of an opaque bytes32; no control character, no lone surrogate, at most 128 code units), and
 * a block time lies between 2015-07-30 and a day after the decoder's clock.
 */
import { z } from 'zod';
import { EARLIEST_BLOCK_MS, identifierProblem, MAX_TOKEN_DECIMALS, MAX_UINT256, preview as previewText, timestampProblem } from '../../domain/inputBounds.js';
import type { ChainEvent, ChainProgress, ChainRetraction } from '../../domain/types.js';
import { DecodeError, SchemaViolation } from '../../lib/errors.js';

export const CHAIN_CODEC_VERSION = 1;
/** Format of an `.events` message carrying a block's events (`ChainEventBatch`). */
export const CHAIN_BATCH_CODEC_VERSION = 2;
/**
 * Most events one `.events` message carries (~350 bytes each: well under NATS' default 1 MiB
 * max_payload); a block with more is split into chunks of this many, in log order.
 */
export const MAX_EVENTS_PER_MESSAGE = 1_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

const uint = z.string().regex(/^(0|[1-9][0-9]*)$/, 'must be a non-negative decimal integer string');
const MAX_UINT64 = 2n ** 64n - 1n;
const MAX_UINT32 = 2 ** 32 - 1;
const uintUpTo = (max: bigint, name: string) => uint.refine((v) => !/^[0-9]+$/.test(v) || (v.length <= 78 && BigInt(v) <= max), `must fit ${name}`);
const uint256 = uintUpTo(MAX_UINT256, 'uint256');
const uint64 = uintUpTo(MAX_UINT64, 'uint64 (ClickHouse block_number)');
const reference = z
  .string()
  .superRefine((v, ctx) => {
    const p = identifierProblem(v);
    if (p) ctx.addIssue({ code: 'custom', message: `${p} (${previewText(v)})` });
  })
  .nullable();
const hash32 = z.string().regex(/^0x[0-9a-f]{64}$/, 'must be a lower-case 0x-prefixed 32-byte hex');
const lowerAddress = z.string().regex(/^0x[0-9a-f]{40}$/, 'must be a lower-case 0x-prefixed address');
const epochMs = z.number().int().nonnegative();

/** An event inside a batch: the block's fields (number, hash, time, chain) are the batch's. */
const batchedEventWire = z.object({
  token: lowerAddress,
  txHash: hash32,
  logIndex: z.number().int().nonnegative().max(MAX_UINT32),
  kind: z.enum(['mint', 'burn', 'transfer', 'collateral']),
  from: lowerAddress,
  to: lowerAddress,
  value: uint256,
  decimals: z.number().int().min(0).max(MAX_TOKEN_DECIMALS),
  reference,
});

/** A single event with its block's fields (the v1 format, still read). */
const chainEventWire = batchedEventWire
  .extend({
    v: z.literal(CHAIN_CODEC_VERSION),
    eventId: z.string(),
    chainId: z.number().int().positive(),
    blockNumber: uint64,
    blockHash: hash32,
    blockTime: epochMs,
  })
  .superRefine((e, ctx) => {
    if (e.eventId !== `${e.chainId}:${e.blockHash}:${e.logIndex}`) {
      ctx.addIssue({ code: 'custom', path: ['eventId'], message: 'must be chainId:blockHash:logIndex' });
    }
  });

const chainEventBatchWire = z
  .object({
    v: z.literal(CHAIN_BATCH_CODEC_VERSION),
    chainId: z.number().int().positive(),
    blockNumber: uint64,
    blockHash: hash32,
    blockTime: epochMs,
    /** Index of this chunk of the block's events (0 when the block fits in one message). */
    chunk: z.number().int().nonnegative(),
    events: z.array(batchedEventWire).min(1).max(MAX_EVENTS_PER_MESSAGE),
  })
  .superRefine((b, ctx) => {
    for (let i = 1; i < b.events.length; i++) {
      if (b.events[i]!.logIndex <= b.events[i - 1]!.logIndex) {
        ctx.addIssue({ code: 'custom', path: ['events', i, 'logIndex'], message: 'must be strictly increasing (chain order)' });
      }
    }
  });

const chainProgressWire = z.object({
  v: z.literal(CHAIN_CODEC_VERSION),
  chainId: z.number().int().positive(),
  blockNumber: uint64,
  blockHash: hash32,
  blockTime: epochMs,
});

const eventIdPattern = /^[1-9][0-9]*:0x[0-9a-f]{64}:(0|[1-9][0-9]*)$/;

const chainRetractionWire = z
  .object({
    v: z.literal(CHAIN_CODEC_VERSION),
    chainId: z.number().int().positive(),
    blockNumber: uint,
    blockHash: hash32,
    eventIds: z.array(z.string().regex(eventIdPattern, 'must be chainId:blockHash:logIndex')),
  })
  .superRefine((r, ctx) => {
    r.eventIds.forEach((id, i) => {
      if (!id.startsWith(`${r.chainId}:${r.blockHash}:`)) {
        ctx.addIssue({ code: 'custom', path: ['eventIds', i], message: 'must be an event of the retracted block' });
      }
    });
  });

/**
 * The chain's head stopped moving (`stalled: true`) or moved again (`stalled: false`). Published
 * on `<prefix>.<chainId>.stall`, message id `stall:<chainId>:<headNumber>:<on|off>`.
 */
export interface ChainStall {
  chainId: number;
  stalled: boolean;
  /** Last head seen. */
  headNumber: bigint;
  /** Epoch ms at which the head last moved. */
  sinceMs: number;
  /** Epoch ms when this was observed. */
  observedAtMs: number;
}

const chainStallWire = z.object({
  v: z.literal(CHAIN_CODEC_VERSION),
  chainId: z.number().int().positive(),
  stalled: z.boolean(),
  headNumber: uint,
  sinceMs: epochMs,
  observedAtMs: epochMs,
});

/** Serialises a retraction for the `<prefix>.<chainId>.retract` subject. */
export function encodeChainRetraction(r: ChainRetraction): Uint8Array {
  return encoder.encode(JSON.stringify({ v: CHAIN_CODEC_VERSION, chainId: r.chainId, blockNumber: r.blockNumber.toString(), blockHash: r.blockHash, eventIds: r.eventIds }));
}

/** Parses a retraction; throws `DecodeError` or `SchemaViolation`. */
export function decodeChainRetraction(bytes: Uint8Array): ChainRetraction {
  const w = validate(chainRetractionWire, parseJson(bytes, 'chain retraction'), 'chain retraction');
  return { chainId: w.chainId, blockNumber: BigInt(w.blockNumber), blockHash: w.blockHash, eventIds: w.eventIds };
}

/** Serialises a stall notice for the `<prefix>.<chainId>.stall` subject. */
export function encodeChainStall(s: ChainStall): Uint8Array {
  return encoder.encode(JSON.stringify({ v: CHAIN_CODEC_VERSION, chainId: s.chainId, stalled: s.stalled, headNumber: s.headNumber.toString(), sinceMs: s.sinceMs, observedAtMs: s.observedAtMs }));
}

/** Parses a stall notice; throws `DecodeError` or `SchemaViolation`. */
export function decodeChainStall(bytes: Uint8Array): ChainStall {
  const w = validate(chainStallWire, parseJson(bytes, 'chain stall'), 'chain stall');
  return { chainId: w.chainId, stalled: w.stalled, headNumber: BigInt(w.headNumber), sinceMs: w.sinceMs, observedAtMs: w.observedAtMs };
}

/** Serialises a chain event for the `<prefix>.<chainId>.events` subject. */
export function encodeChainEvent(e: ChainEvent): Uint8Array {
  return encoder.encode(
    JSON.stringify({
      v: CHAIN_CODEC_VERSION,
      eventId: e.eventId,
      chainId: e.chainId,
      token: e.token,
      blockNumber: e.blockNumber.toString(),
      blockHash: e.blockHash,
      blockTime: e.blockTime,
      txHash: e.txHash,
      logIndex: e.logIndex,
      kind: e.kind,
      from: e.from,
      to: e.to,
      value: e.value.toString(),
      decimals: e.decimals,
      reference: e.reference,
    }),
  );
}

/**
 * The `.events` messages of a step's events (in chain order): one per block, or per chunk of at
 * most `maxPerMessage` events of a block, each with its deterministic message id. `scope`, when
 * given, is appended to the ids (the ingester's token subset; see `chainEventBatchMsgId`).
 */
export function chainEventMessages(events: readonly ChainEvent[], options: { maxPerMessage?: number; scope?: string } = {}): { data: Uint8Array; msgID: string; events: number; blockHash: string }[] {
  const max = options.maxPerMessage ?? MAX_EVENTS_PER_MESSAGE;
  if (!(max >= 1 && max <= MAX_EVENTS_PER_MESSAGE)) throw new RangeError(`maxPerMessage must be 1..${MAX_EVENTS_PER_MESSAGE}`);
  const out: { data: Uint8Array; msgID: string; events: number; blockHash: string }[] = [];
  let i = 0;
  while (i < events.length) {
    const first = events[i]!;
    let end = i + 1;
    while (end < events.length && events[end]!.blockHash === first.blockHash) end++;
    const block = events.slice(i, end);
    const chunked = block.length > max;
    for (let c = 0; c * max < block.length; c++) {
      const part = block.slice(c * max, (c + 1) * max);
      out.push({
        data: encodeChainEventBatch(part, c),
        msgID: chainEventBatchMsgId(first.chainId, first.blockHash, { ...(chunked && { chunk: c }), ...(options.scope && { scope: options.scope }) }),
        events: part.length,
        blockHash: first.blockHash,
      });
    }
    i = end;
  }
  return out;
}

/**
 * Message id of a batch: `${chainId}:${blockHash}`, then `:${scope}` when only some of the
 * chain's tokens were read for it, then `:c${chunk}` when the block is split. Re-publishing the
 * same batch is dropped by JetStream; never equal to an event id (`chainId:blockHash:logIndex`),
 * so batches and format-1 messages of the same block cannot shadow each other.
 */
export function chainEventBatchMsgId(chainId: number, blockHash: string, o: { chunk?: number; scope?: string } = {}): string {
  return `${chainId}:${blockHash}${o.scope ? `:${o.scope}` : ''}${o.chunk !== undefined ? `:c${o.chunk}` : ''}`;
}

/**
 * Serialises events of ONE block, in chain order (at most `MAX_EVENTS_PER_MESSAGE`), as a format-2
 * `.events` message; `chunk` is the chunk's index when the block is split.
 */
export function encodeChainEventBatch(events: readonly ChainEvent[], chunk = 0): Uint8Array {
  const first = events[0];
  if (!first) throw new RangeError('a chain event batch needs at least one event');
  if (events.length > MAX_EVENTS_PER_MESSAGE) throw new RangeError(`a chain event batch holds at most ${MAX_EVENTS_PER_MESSAGE} events`);
  const items = events.map((e) => {
    if (e.blockHash !== first.blockHash || e.chainId !== first.chainId) throw new RangeError(`event ${e.eventId} is not of block ${first.blockHash}`);
    return { token: e.token, txHash: e.txHash, logIndex: e.logIndex, kind: e.kind, from: e.from, to: e.to, value: e.value.toString(), decimals: e.decimals, reference: e.reference };
  });
  return encoder.encode(
    JSON.stringify({
      v: CHAIN_BATCH_CODEC_VERSION,
      chainId: first.chainId,
      blockNumber: first.blockNumber.toString(),
      blockHash: first.blockHash,
      blockTime: first.blockTime,
      chunk,
      events: items,
    }),
  );
}

/**
 * Parses an `.events` message of either format into its events, in chain order: a batch (format
 * 2) or a single event (format 1). Throws `DecodeError` or `SchemaViolation`.
 */
export function decodeChainEvents(bytes: Uint8Array, nowMs: number = Date.now()): ChainEvent[] {
  const o = parseJson(bytes, 'chain events', [CHAIN_CODEC_VERSION, CHAIN_BATCH_CODEC_VERSION]);
  if (o.v === CHAIN_CODEC_VERSION) return [fromEventWire(checkBlockTime(validate(chainEventWire, o, 'chain event'), 'chain event', nowMs))];
  // The hot path of the matcher: a batch that passes the hand-written check (as strict as the
  // schema) is read as it is; anything else goes through the schema, for its verdict and reasons.
  const b = checkBlockTime(isValidBatch(o) ? o : validate(chainEventBatchWire, o, 'chain event batch'), 'chain event batch', nowMs);
  const blockNumber = BigInt(b.blockNumber);
  return b.events.map((e) => ({
    eventId: `${b.chainId}:${b.blockHash}:${e.logIndex}`,
    chainId: b.chainId,
    token: e.token,
    blockNumber,
    blockHash: b.blockHash,
    blockTime: b.blockTime,
    txHash: e.txHash,
    logIndex: e.logIndex,
    kind: e.kind,
    from: e.from,
    to: e.to,
    value: BigInt(e.value),
    decimals: e.decimals,
    reference: e.reference,
  }));
}

/**
 * `w` when its block time is plausible (2015-07-30 .. now + a day), else `SchemaViolation` naming
 * blockTime. Kept out of the schemas, which have no clock.
 */
function checkBlockTime<T extends { blockTime: number; blockNumber: string }>(w: T, what: string, nowMs: number): T {
  const p = timestampProblem(w.blockTime, { earliestMs: EARLIEST_BLOCK_MS, nowMs });
  if (p) throw new SchemaViolation(`${what} breaks the contract: blockTime ${p} (block ${w.blockNumber})`);
  return w;
}

const UINT = /^(0|[1-9][0-9]*)$/;
const HASH32 = /^0x[0-9a-f]{64}$/;
const LOWER_ADDRESS = /^0x[0-9a-f]{40}$/;
const KINDS = new Set(['mint', 'burn', 'transfer', 'collateral']);
/** A canonical decimal string (`UINT`) is at most `max`: shorter than `digits` digits, or compared exactly. */
const fits = (v: string, digits: number, max: bigint): boolean => v.length < digits || (v.length === digits && BigInt(v) <= max);
const isUint = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

/**
 * `chainEventBatchWire` without zod: true only for what the schema accepts (a false may still
 * pass the schema; the caller then asks it). Field by field the same rules, about 30x faster,
 * which matters at one call per chain message.
 */
function isValidBatch(o: Record<string, unknown>): o is Record<string, unknown> & z.infer<typeof chainEventBatchWire> {
  if (o.v !== CHAIN_BATCH_CODEC_VERSION || !isUint(o.chainId) || o.chainId === 0 || !isUint(o.blockTime) || !isUint(o.chunk)) return false;
  const { blockNumber, blockHash, events } = o;
  if (typeof blockNumber !== 'string' || !UINT.test(blockNumber) || !fits(blockNumber, 20, MAX_UINT64) || typeof blockHash !== 'string' || !HASH32.test(blockHash)) return false;
  if (!Array.isArray(events) || events.length < 1 || events.length > MAX_EVENTS_PER_MESSAGE) return false;
  let last = -1;
  for (const e of events as unknown[]) {
    if (typeof e !== 'object' || e === null || Array.isArray(e)) return false;
    const w = e as Record<string, unknown>;
    const { token, txHash, logIndex, kind, from, to, value, decimals, reference } = w;
    if (typeof token !== 'string' || !LOWER_ADDRESS.test(token) || typeof txHash !== 'string' || !HASH32.test(txHash)) return false;
    if (!isUint(logIndex) || logIndex <= last || logIndex > MAX_UINT32 || typeof kind !== 'string' || !KINDS.has(kind)) return false;
    if (typeof from !== 'string' || !LOWER_ADDRESS.test(from) || typeof to !== 'string' || !LOWER_ADDRESS.test(to)) return false;
    if (typeof value !== 'string' || !UINT.test(value) || !fits(value, 78, MAX_UINT256) || !isUint(decimals) || decimals > MAX_TOKEN_DECIMALS) return false;
    if (reference !== null && (typeof reference !== 'string' || identifierProblem(reference) !== undefined)) return false;
    last = logIndex;
  }
  return true;
}

/** Serialises a progress (watermark) message for the `<prefix>.<chainId>.progress` subject. */
export function encodeChainProgress(p: ChainProgress): Uint8Array {
  return encoder.encode(
    JSON.stringify({
      v: CHAIN_CODEC_VERSION,
      chainId: p.chainId,
      blockNumber: p.blockNumber.toString(),
      blockHash: p.blockHash,
      blockTime: p.blockTime,
    }),
  );
}

/** Parses a format-1 chain event; throws `DecodeError` (not JSON, unknown version) or `SchemaViolation`. */
export function decodeChainEvent(bytes: Uint8Array, nowMs: number = Date.now()): ChainEvent {
  return fromEventWire(checkBlockTime(validate(chainEventWire, parseJson(bytes, 'chain event'), 'chain event'), 'chain event', nowMs));
}

function fromEventWire(w: z.infer<typeof chainEventWire>): ChainEvent {
  return {
    eventId: w.eventId,
    chainId: w.chainId,
    token: w.token,
    blockNumber: BigInt(w.blockNumber),
    blockHash: w.blockHash,
    blockTime: w.blockTime,
    txHash: w.txHash,
    logIndex: w.logIndex,
    kind: w.kind,
    from: w.from,
    to: w.to,
    value: BigInt(w.value),
    decimals: w.decimals,
    reference: w.reference,
  };
}

/** Parses a chain progress message; throws `DecodeError` or `SchemaViolation`. */
export function decodeChainProgress(bytes: Uint8Array, nowMs: number = Date.now()): ChainProgress {
  const w = checkBlockTime(validate(chainProgressWire, parseJson(bytes, 'chain progress'), 'chain progress'), 'chain progress', nowMs);
  return { chainId: w.chainId, blockNumber: BigInt(w.blockNumber), blockHash: w.blockHash, blockTime: w.blockTime };
}

function parseJson(bytes: Uint8Array, what: string, versions: readonly number[] = [CHAIN_CODEC_VERSION]): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch (cause) {
    throw new DecodeError(`${what} is not UTF-8 JSON`, { details: preview(bytes), cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new DecodeError(`${what} is not a JSON object`, { details: preview(bytes) });
  }
  const v = (value as Record<string, unknown>).v;
  if (typeof v !== 'number' || !versions.includes(v)) {
    throw new DecodeError(`${what} has unknown format version ${JSON.stringify(v)}`, { details: preview(bytes) });
  }
  return value as Record<string, unknown>;
}

function validate<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const reasons = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
  throw new SchemaViolation(`${what} breaks the contract: ${reasons}`, { cause: r.error });
}

function preview(bytes: Uint8Array): string {
  const text = Buffer.from(bytes.subarray(0, 200)).toString('utf8');
  return bytes.length > 200 ? `${text}…` : text;
}
