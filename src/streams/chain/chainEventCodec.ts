/**
 * JSON wire format of the CHAIN stream. Big integers travel as decimal strings so no JSON parser
 * rounds them; every message carries a format version `v`. Decoding never trusts the bytes:
 * unreadable input is a `DecodeError`, readable input that breaks the contract a `SchemaViolation`.
 */
import { z } from 'zod';
import type { ChainEvent, ChainProgress, ChainRetraction } from '../../domain/types.js';
import { DecodeError, SchemaViolation } from '../../lib/errors.js';

export const CHAIN_CODEC_VERSION = 1;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

const uint = z.string().regex(/^(0|[1-9][0-9]*)$/, 'must be a non-negative decimal integer string');
const hash32 = z.string().regex(/^0x[0-9a-f]{64}$/, 'must be a lower-case 0x-prefixed 32-byte hex');
const lowerAddress = z.string().regex(/^0x[0-9a-f]{40}$/, 'must be a lower-case 0x-prefixed address');
const epochMs = z.number().int().nonnegative();

const chainEventWire = z
  .object({
    v: z.literal(CHAIN_CODEC_VERSION),
    eventId: z.string(),
    chainId: z.number().int().positive(),
    token: lowerAddress,
    blockNumber: uint,
    blockHash: hash32,
    blockTime: epochMs,
    txHash: hash32,
    logIndex: z.number().int().nonnegative(),
    kind: z.enum(['mint', 'burn', 'transfer', 'collateral']),
    from: lowerAddress,
    to: lowerAddress,
    value: uint,
    decimals: z.number().int().min(0).max(255),
    reference: z.string().nullable(),
  })
  .superRefine((e, ctx) => {
    if (e.eventId !== `${e.chainId}:${e.blockHash}:${e.logIndex}`) {
      ctx.addIssue({ code: 'custom', path: ['eventId'], message: 'must be chainId:blockHash:logIndex' });
    }
  });

const chainProgressWire = z.object({
  v: z.literal(CHAIN_CODEC_VERSION),
  chainId: z.number().int().positive(),
  blockNumber: uint,
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
  return encoder.encode(
    JSON.stringify({ v: CHAIN_CODEC_VERSION, chainId: r.chainId, blockNumber: r.blockNumber.toString(), blockHash: r.blockHash, eventIds: r.eventIds }),
  );
}

/** Parses a retraction; throws `DecodeError` or `SchemaViolation`. */
export function decodeChainRetraction(bytes: Uint8Array): ChainRetraction {
  const w = validate(chainRetractionWire, parseJson(bytes, 'chain retraction'), 'chain retraction');
  return { chainId: w.chainId, blockNumber: BigInt(w.blockNumber), blockHash: w.blockHash, eventIds: w.eventIds };
}

/** Serialises a stall notice for the `<prefix>.<chainId>.stall` subject. */
export function encodeChainStall(s: ChainStall): Uint8Array {
  return encoder.encode(
    JSON.stringify({ v: CHAIN_CODEC_VERSION, chainId: s.chainId, stalled: s.stalled, headNumber: s.headNumber.toString(), sinceMs: s.sinceMs, observedAtMs: s.observedAtMs }),
  );
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

/** Parses a chain event; throws `DecodeError` (not JSON, unknown version) or `SchemaViolation`. */
export function decodeChainEvent(bytes: Uint8Array): ChainEvent {
  const w = validate(chainEventWire, parseJson(bytes, 'chain event'), 'chain event');
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
export function decodeChainProgress(bytes: Uint8Array): ChainProgress {
  const w = validate(chainProgressWire, parseJson(bytes, 'chain progress'), 'chain progress');
  return { chainId: w.chainId, blockNumber: BigInt(w.blockNumber), blockHash: w.blockHash, blockTime: w.blockTime };
}

function parseJson(bytes: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch (cause) {
    throw new DecodeError(`${what} is not UTF-8 JSON`, { details: preview(bytes), cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new DecodeError(`${what} is not a JSON object`, { details: preview(bytes) });
  }
  const v = (value as Record<string, unknown>)['v'];
  if (v !== CHAIN_CODEC_VERSION) {
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
