import { decodeEventLog, encodeAbiParameters, formatLog, type RpcLog, encodeEventTopics, keccak256 as keccak, parseAbiItem, stringToHex, type Hex } from 'viem';
import { describe, expect, it } from 'vitest';
import { ConfigError, DecodeError, SchemaViolation } from '../../src/lib/errors.js';
import { AdaptiveRange } from '../../src/streams/chain/blockRanges.js';
import { decodeChainRetraction, decodeChainStall, encodeChainRetraction, encodeChainStall } from '../../src/streams/chain/chainEventCodec.js';
import { compileEventMappings, decodeTokenLogs, type RawLog } from '../../src/streams/chain/eventMappings.js';
import { bloomMayContain, isEmptyBloom } from '../../src/streams/chain/logsBloom.js';
import { ChainAnchor } from '../../src/streams/chain/chainAnchor.js';
import { BlockHeaderCache, toRawLogs, type ReadContext } from '../../src/streams/chain/readConfirmedLogs.js';
import { backoffMs as backoff } from '../../src/lib/backoff.js';
import { isRetryableRpcError, withRetry } from '../../src/streams/chain/rpc.js';

const backoffMs = (n: number, initialMs: number, maxMs: number, random: () => number) => backoff(n, { initialMs, maxMs }, random);

const H = (n: number) => `0x${n.toString(16).padStart(64, '0')}`;
const TOKEN = '0x00000000000000000000000000000000000000aa';
const ALICE = '0x00000000000000000000000000000000000000a1';
const ZERO = '0x0000000000000000000000000000000000000000';

describe('chain retraction codec', () => {
  it('round-trips a retraction and rejects event ids of another block', () => {
    const r = { chainId: 1, blockNumber: 12n, blockHash: H(5), eventIds: [`1:${H(5)}:0`, `1:${H(5)}:3`] };
    expect(decodeChainRetraction(encodeChainRetraction(r))).toEqual(r);
    expect(JSON.parse(new TextDecoder().decode(encodeChainRetraction(r)))).toEqual({ v: 1, chainId: 1, blockNumber: '12', blockHash: H(5), eventIds: r.eventIds });
    expect(() => decodeChainRetraction(encodeChainRetraction({ ...r, eventIds: [`1:${H(6)}:0`] }))).toThrow(SchemaViolation);
    expect(() => decodeChainRetraction(new TextEncoder().encode('{"v":2}'))).toThrow(DecodeError);
  });

  it('round-trips a stall notice', () => {
    const s = { chainId: 7, stalled: true, headNumber: 99n, sinceMs: 1_000, observedAtMs: 61_000 };
    expect(decodeChainStall(encodeChainStall(s))).toEqual(s);
  });
});

describe('AdaptiveRange', () => {
  it('halves on "too large" and grows back to the maximum after successes', () => {
    const r = new AdaptiveRange(1_000, 2);
    expect(r.size).toBe(1_000);
    r.tooLarge(1_000);
    expect(r.size).toBe(500);
    r.tooLarge(300); // a smaller range was refused: below it
    expect(r.size).toBe(150);
    r.succeeded();
    expect(r.size).toBe(150);
    r.succeeded();
    expect(r.size).toBe(300);
    for (let i = 0; i < 10; i++) r.succeeded();
    expect(r.size).toBe(1_000);
    for (let i = 0; i < 20; i++) r.tooLarge(r.size);
    expect(r.size).toBe(1);
  });
});

describe('logsBloom', () => {
  it('finds what a real block bloom contains and proves absence of what it does not', () => {
    // Against real anvil blocks the integration tests check every log's address and topic in the bloom.
    const item = '0x5fbdb2315678afecb367f032d93f642f64180aa3' as Hex;
    const bloom = buildBloom([item]);
    expect(bloomMayContain(bloom, item)).toBe(true);
    expect(bloomMayContain(bloom, '0x00000000000000000000000000000000000000bb')).toBe(false);
    expect(isEmptyBloom(`0x${'0'.repeat(512)}`)).toBe(true);
    expect(isEmptyBloom(bloom)).toBe(false);
  });
});

/** Reference bloom construction (independent of the module's bit reading). */
function buildBloom(items: Hex[]): Hex {
  const bits = new Uint8Array(256);
  for (const it of items) {
    const h = Buffer.from(keccak(it).slice(2), 'hex');
    for (let i = 0; i < 6; i += 2) {
      const bit = ((h[i]! << 8) | h[i + 1]!) & 2047;
      bits[256 - 1 - Math.floor(bit / 8)]! |= 1 << (bit % 8);
    }
  }
  return `0x${Buffer.from(bits).toString('hex')}`;
}

describe('event mappings', () => {
  const transfer = parseAbiItem('event Transfer(address indexed from, address indexed to, uint256 value)');
  const minted = parseAbiItem('event Minted(address indexed to, uint256 amount, bytes32 indexed ref)');
  const log = (event: typeof transfer | typeof minted, args: Record<string, unknown>, data: Hex, logIndex: number, tx = H(9)): RawLog => ({
    address: TOKEN,
    blockHash: H(1),
    blockNumber: 10n,
    logIndex,
    transactionHash: tx,
    data,
    topics: encodeEventTopics({ abi: [event], args } as never) as Hex[],
  });
  const amount = (v: bigint) => encodeAbiParameters([{ type: 'uint256' }], [v]);
  const ref = stringToHex('DEP-7', { size: 32 });

  it('attaches a Minted reference to the Transfer of the same transaction by default', () => {
    const tokens = new Map([[TOKEN, { decimals: 6, mappings: compileEventMappings(undefined) }]]);
    const logs = [log(transfer, { from: ZERO, to: ALICE }, amount(5n), 0), log(minted, { to: ALICE, ref }, amount(5n), 1)];
    const [e, ...rest] = decodeTokenLogs(1, logs, tokens, () => 1_000);
    expect(rest).toEqual([]);
    expect(e).toMatchObject({ kind: 'mint', to: ALICE, value: 5n, reference: 'DEP-7', eventId: `1:${H(1)}:0`, blockTime: 1_000 });
  });

  it('does not attach a reference that disagrees on amount or transaction', () => {
    const tokens = new Map([[TOKEN, { decimals: 6, mappings: compileEventMappings(undefined) }]]);
    const logs = [log(transfer, { from: ZERO, to: ALICE }, amount(5n), 0), log(minted, { to: ALICE, ref }, amount(6n), 1), log(minted, { to: ALICE, ref }, amount(5n), 2, H(8))];
    expect(decodeTokenLogs(1, logs, tokens, () => 0)[0]!.reference).toBeNull();
  });

  it('returns events in chain order and pairs each reference with its own mint among many of one transaction', () => {
    const tokens = new Map([[TOKEN, { decimals: 6, mappings: compileEventMappings(undefined) }]]);
    const BOB = '0x00000000000000000000000000000000000000b2';
    const refB = stringToHex('DEP-8', { size: 32 });
    const logs = [
      { ...log(transfer, { from: ZERO, to: BOB }, amount(7n), 0, H(7)), blockNumber: 11n, blockHash: H(2) },
      log(transfer, { from: ZERO, to: ALICE }, amount(5n), 2),
      log(transfer, { from: ZERO, to: BOB }, amount(7n), 0),
      log(minted, { to: BOB, ref: refB }, amount(7n), 1),
      log(minted, { to: ALICE, ref }, amount(5n), 3),
    ];
    const times = new Map([
      [10n, 1_000],
      [11n, 2_000],
    ]);
    expect(decodeTokenLogs(1, logs, tokens, (n) => times.get(n)!).map((e) => [e.blockNumber, e.logIndex, e.to, e.reference, e.blockTime])).toEqual([
      [10n, 0, BOB, 'DEP-8', 1_000],
      [10n, 2, ALICE, 'DEP-7', 1_000],
      [11n, 0, BOB, null, 2_000],
    ]);
  });

  it('maps a custom event onto a kind with its field mapping', () => {
    const mappings = compileEventMappings([{ abi: 'event Minted(address indexed to, uint256 amount, bytes32 indexed ref)', kind: 'mint', fields: { reference: 'ref' } }]);
    const tokens = new Map([[TOKEN, { decimals: 18, mappings }]]);
    const logs = [log(transfer, { from: ZERO, to: ALICE }, amount(5n), 0), log(minted, { to: ALICE, ref }, amount(5n), 1)];
    expect(decodeTokenLogs(1, logs, tokens, () => 0).map((e) => [e.kind, e.from, e.to, e.value, e.reference, e.logIndex])).toEqual([['mint', ZERO, ALICE, 5n, 'DEP-7', 1]]);
  });

  it('decodes static-word events exactly as viem does, and refuses what viem refuses', () => {
    const abis = [
      'event Transfer(address indexed from, address indexed to, uint256 value)',
      'event Minted(address indexed to, uint256 amount, bytes32 indexed ref)',
      'event Odd(int256 indexed delta, uint8 small, int32 signedSmall, bytes4 tag, address to, uint64 amount)',
    ];
    const words = [0n, 1n, 255n, 2n ** 48n - 1n, 2n ** 160n - 1n, 2n ** 255n, 2n ** 256n - 1n, 123_456_789_012_345_678_901_234_567_890n];
    const word = (i: number) => `0x${words[i % words.length]!.toString(16).padStart(64, '0')}` as Hex;
    const lower = (v: unknown) => (typeof v === 'string' ? v.toLowerCase() : v);
    for (const abi of abis) {
      const [m] = compileEventMappings([{ abi, kind: 'collateral', fields: { amount: abi.includes('Odd') ? 'amount' : abi.includes('Minted') ? 'amount' : 'value' } }]);
      const indexed = m!.event.inputs.filter((x) => x.indexed).length;
      const data = m!.event.inputs.length - indexed;
      for (let k = 0; k < 40; k++) {
        const topics = [m!.selector, ...Array.from({ length: indexed }, (_, i) => word(k + i))];
        const body = `0x${Array.from({ length: data }, (_, i) => word(k * 3 + i).slice(2)).join('')}` as Hex;
        const fields = m!.decodeFields(topics, body);
        let viem: Record<string, unknown>;
        try {
          viem = decodeEventLog({ abi: [m!.event], topics: topics as [Hex, ...Hex[]], data: body, strict: true }).args as Record<string, unknown>;
        } catch {
          expect(fields).toBeNull(); // e.g. a uint8 word beyond a safe integer, even when that word is not a mapped field
          continue;
        }
        expect(fields).not.toBeNull();
        // The mapped fields alone (the ingester's hot path) are viem's arguments under the field names.
        expect(Object.fromEntries(Object.entries(fields!).map(([n, v]) => [n, lower(v)]))).toEqual(Object.fromEntries(Object.entries(m!.fields).map(([f, arg]) => [f, lower(viem[arg])])));
      }
      // A missing topic or short data: viem throws in strict mode, we skip.
      const short = [m!.selector, ...Array.from({ length: indexed - 1 }, (_, i) => word(i))];
      expect(m!.decodeFields(short, `0x${'00'.repeat(32 * data)}`)).toBeNull();
      if (data > 0) expect(m!.decodeFields([m!.selector, ...Array.from({ length: indexed }, (_, i) => word(i))], '0x')).toBeNull();
    }
    // Dynamic arguments go through viem: the mapped fields are still viem's arguments.
    const [memo] = compileEventMappings([{ abi: 'event Memo(address indexed to, uint256 amount, string memo)', kind: 'mint', fields: { reference: 'memo' } }]);
    const memoArgs = { to: '0x00000000000000000000000000000000000000ab' as Hex, amount: 42n, memo: 'REF-7' };
    const memoLog = {
      topics: encodeEventTopics({ abi: [memo!.event], args: { to: memoArgs.to } }),
      data: encodeAbiParameters(
        memo!.event.inputs.filter((x) => !x.indexed),
        [memoArgs.amount, memoArgs.memo],
      ),
    };
    expect(memo!.decodeFields(memoLog.topics as Hex[], memoLog.data)).toEqual({ to: memoArgs.to.toLowerCase(), amount: 42n, reference: 'REF-7' });
    expect(memo!.decodeFields(memoLog.topics.slice(0, 1) as Hex[], memoLog.data)).toBeNull();
  });

  it('rejects configurations that cannot work, naming the token and the field', () => {
    expect(() => compileEventMappings([{ abi: 'event Foo(uint256 x)', kind: 'mint', fields: {} }], '0xabc')).toThrow(/0xabc.*needs a "to"/);
    expect(() => compileEventMappings([{ abi: 'event Foo(address to, uint256 x)', kind: 'mint', fields: { amount: 'y' } }])).toThrow(/no argument "y"/);
    expect(() => compileEventMappings([{ abi: 'event (', kind: 'mint', fields: {} }])).toThrow(ConfigError);
  });
});

describe('RPC retries', () => {
  it('retries timeouts, 429 and dropped connections with jittered backoff, but not "range too large" or bad requests', async () => {
    expect(isRetryableRpcError({ name: 'HttpRequestError', status: 429, message: 'HTTP request failed.' })).toBe(true);
    expect(isRetryableRpcError({ name: 'TimeoutError', message: 'The request took too long' })).toBe(true);
    expect(isRetryableRpcError(new Error('fetch failed', { cause: { code: 'ECONNRESET' } }))).toBe(true);
    expect(isRetryableRpcError({ code: -32005, message: 'query returned more than 10000 results' })).toBe(false);
    expect(isRetryableRpcError({ code: -32602, message: 'invalid params' })).toBe(false);
    expect(backoffMs(3, 100, 10_000, () => 1)).toBe(800);
    expect(backoffMs(30, 100, 10_000, () => 1)).toBe(10_000);
    expect(backoffMs(3, 100, 10_000, () => 0)).toBe(0);

    let calls = 0;
    const waits: number[] = [];
    const v = await withRetry(
      async () => {
        if (++calls < 3) throw { status: 429 };
        return 'ok';
      },
      { retries: 5, initialMs: 1, maxMs: 4, random: () => 0.5, onRetry: (_e, _a, w) => waits.push(w) },
    );
    expect(v).toBe('ok');
    expect(waits).toEqual([0, 1]); // full jitter: half of 1 ms, then half of 2 ms, rounded down
    await expect(
      withRetry(
        async () => {
          throw { status: 503 };
        },
        { retries: 2, initialMs: 1, maxMs: 1 },
      ),
    ).rejects.toEqual({ status: 503 });
  });
});

describe('toRawLogs', () => {
  it('converts what the ingester uses exactly as viem formatLog does, per log even when blocks alternate', () => {
    const rpc = (block: number, index: number, time: string | null | undefined, extra: Partial<RpcLog> = {}): RpcLog =>
      ({
        address: TOKEN,
        blockHash: H(block),
        blockNumber: `0x${block.toString(16)}`,
        logIndex: `0x${index.toString(16)}`,
        transactionHash: H(100 + index),
        transactionIndex: '0x0',
        data: '0x',
        topics: [H(7)],
        removed: false,
        ...(time !== undefined && { blockTimestamp: time }),
        ...extra,
      }) as RpcLog;
    const logs = [
      rpc(10, 0, '0x10'),
      rpc(10, 1, '0x10'),
      rpc(11, 0, '0x20'),
      rpc(10, 2, '0x10'),
      rpc(12, 0, undefined),
      rpc(13, 0, null),
      rpc(14, 0, '0x30', { blockNumber: null, logIndex: null, blockHash: null, transactionHash: null } as never),
    ];
    const pick = (l: Record<string, unknown>) => ({
      address: l.address,
      blockHash: l.blockHash,
      blockNumber: l.blockNumber,
      logIndex: l.logIndex,
      transactionHash: l.transactionHash,
      data: l.data,
      topics: l.topics,
      removed: l.removed,
      blockTimestamp: l.blockTimestamp,
    });
    expect(toRawLogs(logs).map((l) => pick(l as never))).toEqual(logs.map((l) => pick(formatLog(l) as never)));
  });
});

describe('ChainAnchor', () => {
  /** A read context whose node answers eth_getBlockByNumber when told, with the hash of the moment. */
  function node() {
    const pending: { resolve: () => void; answeredWith: () => string }[] = [];
    let hash = H(1);
    const client = {
      getBlock: () =>
        new Promise((resolve) => {
          pending.push({
            resolve: () => resolve({ number: 9n, hash, parentHash: H(0), timestamp: 1n, logsBloom: '0x' }),
            answeredWith: () => hash,
          });
        }),
    };
    const ctx = { client, chainId: 1, headers: new BlockHeaderCache(), rpc: <T>(fn: () => Promise<T>) => fn(), adaptive: new AdaptiveRange(10) } as unknown as ReadContext;
    const answer = async () => {
      await new Promise((r) => setImmediate(r));
      pending.shift()!.resolve();
      await new Promise((r) => setImmediate(r));
    };
    return { ctx, answer, sent: () => pending.length, setHash: (h: string) => (hash = h) };
  }

  it('answers each confirm with a read started after it, shares one read among the calls that wait for it, and rejects when the hash changed', async () => {
    const n = node();
    const anchor = new ChainAnchor(n.ctx, 9n);
    const ready = anchor.ready();
    await n.answer();
    expect((await ready).hash).toBe(H(1));

    const settled: string[] = [];
    const a = anchor.confirm().then(() => settled.push('a'));
    await new Promise((r) => setImmediate(r));
    expect(n.sent()).toBe(1); // a's check is in flight
    // b and c arrive while a's check is in flight: it started before them, so they wait for the next.
    const b = anchor.confirm().then(() => settled.push('b'));
    const c = anchor.confirm().then(() => settled.push('c'));
    await new Promise((r) => setImmediate(r));
    expect(n.sent()).toBe(1);
    await n.answer();
    await a;
    expect(settled).toEqual(['a']);
    expect(n.sent()).toBe(1); // one read for both b and c, sent after a's settled
    await n.answer();
    await Promise.all([b, c]);
    expect(settled).toEqual(['a', 'b', 'c']);

    n.setHash(H(2));
    const d = expect(anchor.confirm()).rejects.toThrow(/block 9 changed hash while ranges below it were read/);
    await n.answer();
    await d;
  });
});
