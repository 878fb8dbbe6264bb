/**
 * Deterministic bank + chain traffic for fault drills and the benchmark, published straight into
 * JetStream: bank postings Avro-encoded on the LEDGER subject (as core banking does), chain events
 * in the ingester's wire format (chainEventCodec: one message per block, here one event per block)
 * on `<prefix>.<chainId>.events`, with the ingester's message id (chainId:blockHash). No anvil: the chain side is synthetic, so a
 * drill or a benchmark can push tens of thousands of events a second.
 *
 * Pair i is a deposit of a unique amount (so attribute matching is unambiguous) on account
 * ACC-(i mod accounts). A share of pairs carries an injected fault whose discrepancy id is known in
 * advance, so a run can be checked exactly: every injected discrepancy found, no other one.
 */
import { headers as natsHeaders } from '@nats-io/nats-core';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { ClickHouseClient } from '@clickhouse/client';
import type { ConfigInput } from '../../src/config/schema.js';
import type { ChainEvent } from '../../src/domain/types.js';
import { countFacts, queryRows } from '../../src/sinks/clickhouse/queries.js';
import { chainEventMessages, encodeChainProgress } from '../../src/streams/chain/chainEventCodec.js';
import { createLedgerCodec, SCHEMA_HEADER, type LedgerPosting } from '../../src/streams/ledgerCodec.js';
import { chainSubject } from '../../src/streams/chain/chainSubjects.js';

export const DRILL_CHAIN_ID = 31337;
export const DRILL_TOKEN = '0x00000000000000000000000000000000000d0e11';
const DECIMALS = 18;
const SCALE = 10n ** 16n; // token base units per cent (18 decimals, USD exponent 2)

export type PairFault = 'none' | 'missing_mint' | 'missing_credit' | 'amount_mismatch' | 'poison';

export interface Pair {
  i: number;
  fault: PairFault;
  /** Discrepancy id the engine must open for this pair ('' for clean pairs). */
  expect: string[];
  posting: LedgerPosting | null;
  chain: ChainEvent | null;
  /** Which leg is published first. */
  chainFirst: boolean;
  /** Match id when the pair must match. */
  matchId: string | null;
}

export interface TrafficOptions {
  accounts: number;
  /** Share of pairs with an injected discrepancy (spread over missing mint, missing credit, amount mismatch). */
  faultShare?: number;
  /** Share of pairs replaced by a poison ledger message (undecodable bytes). */
  poisonShare?: number;
  /** Share of pairs whose chain leg is published before the bank leg. */
  chainFirstShare?: number;
  /** Event time of the chain leg relative to the bank leg's booking time, ms (clock skew between the sources). */
  chainSkewMs?: number;
  /** Distinct tag so two runs in one namespace never collide. */
  tag?: string;
  /** Every pair gets this fault (the memory benchmark parks legs with `missing_mint`). */
  only?: PairFault;
}

const hex64 = (n: number, salt: number) => `0x${salt.toString(16).padStart(8, '0')}${n.toString(16).padStart(56, '0')}`;
export const wallet = (a: number) => `0x${(0xa11ce000000n + BigInt(a)).toString(16).padStart(40, '0')}`;
export const accountId = (a: number) => `ACC-${a}`;

/** Configuration fragments every drill daemon shares: token, accounts, chain-less ingest. */
export function trafficConfig(accounts: number): Pick<ConfigInput, 'tokens' | 'accounts'> {
  return {
    tokens: [{ chainId: DRILL_CHAIN_ID, address: DRILL_TOKEN, currency: 'USD' }],
    accounts: Array.from({ length: accounts }, (_, a) => ({ accountId: accountId(a), wallets: [wallet(a)] })),
  };
}

/** 32-bit hash of a string (the fault choice must not depend on Math.random). */
function h32(s: string): number {
  let h = 2166136261;
  for (let k = 0; k < s.length; k++) h = Math.imul(h ^ s.charCodeAt(k), 16777619);
  return (h >>> 0) / 2 ** 32;
}

/** Pair `i` of a run: its legs, its fault and what the engine must report for it. */
export function makePair(i: number, o: TrafficOptions, eventTime: number): Pair {
  const tag = o.tag ?? 't';
  const salt = Number.parseInt(h32(tag).toString().slice(2, 9), 10);
  const a = i % o.accounts;
  const r = h32(`${tag}:${i}`);
  const faultShare = o.faultShare ?? 0;
  const poisonShare = o.poisonShare ?? 0;
  let fault: PairFault = 'none';
  // Poison at an exact share (every 1/poisonShare-th pair), so a short run still carries some.
  if (poisonShare > 0 && i % Math.round(1 / poisonShare) === 7) fault = 'poison';
  else if (r >= poisonShare && r < poisonShare + faultShare) fault = (['missing_mint', 'missing_credit', 'amount_mismatch'] as const)[i % 3]!;
  if (o.only) fault = o.only;
  const amount = 1_000n + BigInt(i);
  const entryId = `${tag}-E-${i}`;
  const blockHash = hex64(i, salt);
  const ref = fault === 'amount_mismatch' ? `${tag}-REF-${i}` : null;
  const posting: LedgerPosting = {
    entryId,
    accountId: accountId(a),
    direction: 'credit',
    amountMinor: amount,
    currency: 'USD',
    bookingTime: eventTime,
    valueTime: eventTime,
    status: 'booked',
    txType: 'deposit',
    endToEndId: null,
    remittance: null,
    tokenizationRef: ref,
  };
  const value = (fault === 'amount_mismatch' ? amount + 1n : amount) * SCALE;
  const chain: ChainEvent = {
    eventId: `${DRILL_CHAIN_ID}:${blockHash}:0`,
    chainId: DRILL_CHAIN_ID,
    token: DRILL_TOKEN,
    blockNumber: BigInt(i + 1),
    blockHash,
    blockTime: eventTime + (o.chainSkewMs ?? 0),
    txHash: blockHash,
    logIndex: 0,
    kind: 'mint',
    from: '0x0000000000000000000000000000000000000000',
    to: wallet(a),
    value,
    decimals: DECIMALS,
    reference: ref,
  };
  const bankLeg = `bank:${entryId}`;
  const chainLeg = `chain:${chain.eventId}`;
  const chainFirst = h32(`${tag}:order:${i}`) < (o.chainFirstShare ?? 0);
  switch (fault) {
    case 'none':
      return { i, fault, expect: [], posting, chain, chainFirst, matchId: `match:${bankLeg}|${chainLeg}` };
    case 'missing_mint':
      return { i, fault, expect: [`MISSING_MINT:${bankLeg}`], posting, chain: null, chainFirst, matchId: null };
    case 'missing_credit':
      return { i, fault, expect: [`MISSING_BANK_CREDIT:${chainLeg}`], posting: null, chain, chainFirst, matchId: null };
    case 'amount_mismatch':
      return { i, fault, expect: [`AMOUNT_MISMATCH:${bankLeg}|${chainLeg}`], posting, chain, chainFirst, matchId: null };
    case 'poison':
      return { i, fault, expect: [], posting: null, chain: null, chainFirst, matchId: null };
  }
}

export interface TrafficTarget {
  js: JetStreamClient;
  ledgerSubject: string;
  chainSubjectPrefix: string;
}

const codec = createLedgerCodec();

/** Encoded messages of a pair, in publish order. */
export function messagesOfPair(p: Pair, t: TrafficTarget): { subject: string; data: Uint8Array; headers?: Record<string, string>; msgID: string; leg: 'bank' | 'chain' | 'poison' }[] {
  if (p.fault === 'poison') {
    return [
      {
        subject: t.ledgerSubject,
        data: new TextEncoder().encode(`poison #${p.i}: not avro`),
        headers: { [SCHEMA_HEADER]: 'ledger-posting/2' },
        msgID: `poison-${p.i}-${t.ledgerSubject}`,
        leg: 'poison',
      },
    ];
  }
  const out: ReturnType<typeof messagesOfPair> = [];
  if (p.posting) {
    const { bytes, headers } = codec.encode(p.posting);
    out.push({ subject: t.ledgerSubject, data: bytes, headers, msgID: `${p.posting.entryId}:booked`, leg: 'bank' });
  }
  if (p.chain) {
    const [m] = chainEventMessages([p.chain]);
    out.push({ subject: chainSubject(t.chainSubjectPrefix, DRILL_CHAIN_ID, 'events'), data: m!.data, msgID: m!.msgID, leg: 'chain' });
  }
  if (p.chainFirst) out.reverse();
  return out;
}

/** Publishes one message, retrying while JetStream is unavailable (a drill may restart NATS under it). */
export async function publishMessage(t: TrafficTarget, m: ReturnType<typeof messagesOfPair>[number], retryMs = 30_000): Promise<void> {
  const h = m.headers ? natsHeaders() : undefined;
  if (h) for (const [k, v] of Object.entries(m.headers!)) h.set(k, v);
  const deadline = Date.now() + retryMs;
  for (;;) {
    try {
      await t.js.publish(m.subject, m.data, { msgID: m.msgID, ...(h && { headers: h }) });
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * Closes every window: a chain progress far ahead (bank legs) and a fee posting far ahead on the
 * ledger (chain legs; fees are recorded but never matched).
 */
export async function closeWindows(t: TrafficTarget, at: number, tag = 't'): Promise<void> {
  const hash = hex64(0xfffffff, 0xfe);
  await publishMessage(t, {
    subject: chainSubject(t.chainSubjectPrefix, DRILL_CHAIN_ID, 'progress'),
    msgID: `progress-${tag}-${at}`,
    leg: 'chain',
    data: encodeChainProgress({ chainId: DRILL_CHAIN_ID, blockNumber: 10_000_000n, blockHash: hash, blockTime: at }),
  });
  const { bytes, headers } = codec.encode({
    entryId: `${tag}-FEE-${at}`,
    accountId: accountId(0),
    direction: 'debit',
    amountMinor: 1n,
    currency: 'USD',
    bookingTime: at,
    valueTime: at,
    status: 'booked',
    txType: 'fee',
    endToEndId: null,
    remittance: null,
    tokenizationRef: null,
  });
  await publishMessage(t, { subject: t.ledgerSubject, data: bytes, headers, msgID: `${tag}-FEE-${at}`, leg: 'bank' });
}

export interface Expected {
  postings: number;
  chainEvents: number;
  poison: number;
  matches: Set<string>;
  discrepancies: Set<string>;
}

/** What the engine must have stored for these pairs (plus `extraPostings` such as closeWindows' fee). */
export function expectedOf(pairs: readonly Pair[], extraPostings = 0): Expected {
  const e: Expected = { postings: extraPostings, chainEvents: 0, poison: 0, matches: new Set(), discrepancies: new Set() };
  for (const p of pairs) {
    if (p.posting) e.postings++;
    if (p.chain) e.chainEvents++;
    if (p.fault === 'poison') e.poison++;
    if (p.matchId) e.matches.add(p.matchId);
    for (const d of p.expect) e.discrepancies.add(d);
  }
  return e;
}

export interface Verdict {
  ok: boolean;
  problems: string[];
  counts: Record<string, { raw: number; final: number; expected: number }>;
  discrepanciesFound: number;
  discrepanciesExpected: number;
  missingDiscrepancies: string[];
  falseDiscrepancies: string[];
  missingMatches: string[];
  falseMatches: string[];
}

/**
 * Checks ClickHouse against what was injected: each table holds every fact exactly once (raw
 * count = FINAL count = expected), every injected discrepancy is open, no other discrepancy or
 * match exists.
 */
export async function verify(ch: ClickHouseClient, db: string, e: Expected): Promise<Verdict> {
  const problems: string[] = [];
  const counts: Verdict['counts'] = {};
  const expected = { ledger_entries: e.postings, chain_events: e.chainEvents, matches: e.matches.size, discrepancy_events: e.discrepancies.size, dead_letters: e.poison } as const;
  for (const [table, n] of Object.entries(expected) as [keyof typeof expected, number][]) {
    const raw = await countFacts(ch, db, table, { final: false });
    const final = await countFacts(ch, db, table, { final: true });
    counts[table] = { raw, final, expected: n };
    if (raw !== n || final !== n) problems.push(`${table}: raw ${raw}, FINAL ${final}, expected ${n}`);
  }
  const d = await queryRows<{ discrepancy_id: string; status: string }>(ch, `SELECT discrepancy_id, status FROM ${db}.discrepancies_current`);
  const found = new Set(d.filter((x) => x.status === 'open').map((x) => x.discrepancy_id));
  const missingDiscrepancies = [...e.discrepancies].filter((x) => !found.has(x));
  const falseDiscrepancies = d.map((x) => x.discrepancy_id).filter((x) => !e.discrepancies.has(x));
  const m = await queryRows<{ match_id: string }>(ch, `SELECT match_id FROM ${db}.matches_current WHERE status = 'matched'`);
  const got = new Set(m.map((x) => x.match_id));
  const missingMatches = [...e.matches].filter((x) => !got.has(x));
  const falseMatches = [...got].filter((x) => !e.matches.has(x));
  if (missingDiscrepancies.length) problems.push(`${missingDiscrepancies.length} injected discrepancies not found, e.g. ${missingDiscrepancies.slice(0, 3).join(', ')}`);
  if (falseDiscrepancies.length) problems.push(`${falseDiscrepancies.length} false discrepancies, e.g. ${falseDiscrepancies.slice(0, 3).join(', ')}`);
  if (missingMatches.length) problems.push(`${missingMatches.length} matches missing, e.g. ${missingMatches.slice(0, 3).join(', ')}`);
  if (falseMatches.length) problems.push(`${falseMatches.length} false matches, e.g. ${falseMatches.slice(0, 3).join(', ')}`);
  return {
    ok: problems.length === 0,
    problems,
    counts,
    discrepanciesFound: found.size,
    discrepanciesExpected: e.discrepancies.size,
    missingDiscrepancies,
    falseDiscrepancies,
    missingMatches,
    falseMatches,
  };
}

/** Unacked plus undelivered messages of the durable consumer on both streams. */
export async function backlog(jsm: JetStreamManager, streams: string[], consumer: string): Promise<number> {
  let n = 0;
  for (const s of streams) {
    const ci = await jsm.consumers.info(s, consumer);
    n += ci.num_pending + ci.num_ack_pending;
  }
  return n;
}
