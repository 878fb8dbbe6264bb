/**
 * `npm run bench:leg [-- --pairs N --batch B --lag L --rounds R --gap-ms G --flush-scripts]`: Redis CPU per matched leg of the
 * match-or-park script (issue 18: at most 10 µs), against a minimal match-or-park in the same run.
 * Legs are the drill traffic's (test/support/drillTraffic.ts makePair: a deposit credit and its
 * mint, 1,000 accounts) made legs by the engine's own normalisation (src/domain/legs.ts), sent
 * straight through MatchStore into a fresh namespace of the local Redis (no NATS, no ClickHouse),
 * B legs per script call, each mint `L` legs after its credit (so every pair parks one leg and
 * matches the other). The ceiling is the least a match-or-park by exact reference can do: per leg
 * one HGET of the other side's waiting leg, then HDEL (matched) or HSET (parked), in one script
 * call per batch. Redis's own figures: `INFO commandstats` (µs inside EVALSHA, per leg, and the
 * commands the script ran, per leg) and `INFO cpu` (used_cpu_user + used_cpu_sys deltas: the
 * whole server, network and parsing included). Rounds alternate so that drift on a shared
 * machine shows. A third line, `flat`, runs a prototype that issues the engine script's commands
 * for this traffic with as little Lua as they allow (FLAT below): the floor of the engine's index
 * set, between the minimal and the engine. A fourth, `owned`, prices another design: a worker that
 * owns its shard (a lease) matches in its own memory and writes the same state with plain commands,
 * one MULTI/EXEC per call fenced by a WATCH and GET of the lease (two round trips a call), no Lua
 * at all (`owned` below), through ioredis and as hand-built RESP (`owned raw`); and fenced in one
 * round trip by a small script that checks the lease and applies the call's commands (`owned scr`):
 * Redis's side of it, and the client's cost of issuing those commands.
 * `--baseline REF`: also the match script of git REF (its lib.lua and matchOrPark.lua, sent the
 * 15 values per leg it takes), for before/after figures in one run.
 * `--gap-ms G`: waits G ms after each call, as a worker at a modest rate does between turns (at
 * 1,000 ev/s about 150 calls a second of ~7 legs): the same work then runs on cold caches, and costs
 * Redis and the client about twice what it costs back to back (docs/performance.md).
 * `--flush-scripts`: SCRIPT FLUSH first, so the run starts on a fresh Lua VM (bench/redisLua.ts).
 * `--engine-only`: the engine's script alone (no minimal or flat line), for a profiler attached to
 * Redis (docs/performance.md: callgrind on a redis-server of its own).
 * Where the script's time goes is best seen from outside: callgrind on a redis-server built with
 * symbols, fed `--url … --engine-only` (docs/performance.md, "Profiled with symbols").
 */
import { randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { chainEventToLeg, ledgerEntryToLeg, type IdentityView } from '../src/domain/legs.js';
import type { Leg } from '../src/domain/types.js';
import { legHandle, MatchStore } from '../src/state/matchStore.js';
import { describeLuaVm, luaVm } from './redisLua.js';
import { accountId, DRILL_CHAIN_ID, DRILL_TOKEN, makePair, wallet } from '../test/support/drillTraffic.js';

const { values: argv } = parseArgs({
  options: {
    pairs: { type: 'string', default: '20000' },
    batch: { type: 'string', default: '128' },
    lag: { type: 'string', default: '40' },
    rounds: { type: 'string', default: '2' },
    accounts: { type: 'string', default: '1000' },
    url: { type: 'string', default: 'redis://127.0.0.1:6379' },
    baseline: { type: 'string' },
    'gap-ms': { type: 'string', default: '0' },
    'flush-scripts': { type: 'boolean', default: false },
    'engine-only': { type: 'boolean', default: false },
  },
});
const PAIRS = Number(argv.pairs);
const BATCH = Number(argv.batch);
const LAG = Number(argv.lag);
const GAP_MS = Number(argv['gap-ms']);
/** The pause after each call (--gap-ms). */
const pause = () => (GAP_MS > 0 ? new Promise((r) => setTimeout(r, GAP_MS)) : undefined);
const ACCOUNTS = Number(argv.accounts);
const redis = new Redis(argv.url, { maxRetriesPerRequest: 1 });

const WALLETS = new Map(Array.from({ length: ACCOUNTS }, (_, a) => [wallet(a), accountId(a)]));
const ids: IdentityView = {
  accountOfWallet: (w) => WALLETS.get(w),
  walletsOfAccount: (a) => [wallet(Number(a.slice(4)))],
  currencyOfToken: (k) => (k === `${DRILL_CHAIN_ID}:${DRILL_TOKEN}` ? 'USD' : undefined),
  exponentOf: () => 2,
};

/** Both legs of every pair, in arrival order: each mint LAG legs after its credit. */
function traffic(tag: string): Leg[] {
  const t0 = Date.now() - 600_000;
  const bank: Leg[] = [];
  const chain: Leg[] = [];
  for (let i = 0; i < PAIRS; i++) {
    const p = makePair(i, { accounts: ACCOUNTS, tag }, t0 + i * 5);
    const b = ledgerEntryToLeg({ ...p.posting!, exponent: 2, schemaVersion: 2 }, ids);
    const c = chainEventToLeg(p.chain!, ids);
    if (b.kind !== 'leg' || c.kind !== 'leg') throw new Error(`pair ${i} is not two legs`);
    bank.push(b.leg);
    chain.push(c.leg);
  }
  const out: Leg[] = [];
  for (let i = 0; i < PAIRS + LAG; i++) {
    if (i < PAIRS) out.push(bank[i]!);
    if (i >= LAG) out.push(chain[i - LAG]!);
  }
  return out;
}

/** The minimal match-or-park: exact reference, one hash per side. ARGV: prefix, then per leg side, reference, leg id. */
const MINIMAL = `
local P, out = ARGV[1], {}
for o = 2, #ARGV, 3 do
  local mine, other = P .. ARGV[o], P .. (ARGV[o] == 'bank' and 'chain' or 'bank')
  local c = redis.call('HGET', other, ARGV[o + 1])
  if c then
    redis.call('HDEL', other, ARGV[o + 1])
    out[#out + 1] = c
  else
    redis.call('HSET', mine, ARGV[o + 1], ARGV[o + 2])
    out[#out + 1] = ''
  end
end
return out`;
redis.defineCommand('benchMinimalMatch', { numberOfKeys: 0, lua: MINIMAL });

/**
 * A flat match-or-park (the `flat` line): the Redis commands the engine's script runs for a leg of this
 * traffic, with as little Lua around them as they allow. Not the engine: no rule cascade, tuple
 * interning, references, tranches, rejected pairs or outcome JSON. It prices the floor of this
 * index set (record hash by handle, pool zsets by amount and time with an overflow shard, deadline
 * and gc buckets, parked counters) when records are the client's bytes with a state byte in front,
 * read and written whole, and the reply hands the counterpart's record to the client. ARGV:
 * prefix, window ms, retention ms, the legs packed as 7 length-prefixed values each (side, own
 * pool, other side's pool, amount, 13-digit event time, handle, record).
 */
const FLAT = `
local P, WIN, RET = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local legs, pos, out = ARGV[4], 1, {}
local LEG = '>' .. string.rep('I4c0', 7)
local BUCKETS, ORDER, parked = {}, {}, { b = 0, c = 0 }
local function bucket(idx, ms, h)
  local key = idx .. ':' .. math.floor(ms / 1000)
  local q = BUCKETS[key]
  if not q then
    q = { idx, math.floor(ms / 1000) }
    BUCKETS[key] = q
    ORDER[#ORDER + 1] = key
  end
  q[#q + 1] = h
end
while pos <= #legs do
  local side, mine, other, m, t, h, rec, nxt = struct.unpack(LEG, legs, pos)
  pos = nxt
  local rk = P .. 'L:' .. h:sub(1, 2)
  local cur = redis.call('HGET', rk, h)
  if cur then
    out[#out + 1] = 'R' .. cur:sub(1, 1)
  else
    local tn = tonumber(t)
    local min, max = '[' .. m .. '|' .. string.format('%013d', tn - WIN), '[' .. m .. '|' .. string.format('%013d', tn + WIN) .. '|~'
    local okey = P .. 'p:' .. other
    local best, bestKey, bestMember, bestRec, bestDist
    for _, k in ipairs({ okey, okey .. ':x' }) do
      for _, member in ipairs(redis.call('ZRANGEBYLEX', k, min, max, 'LIMIT', 0, 64)) do
        local d = math.abs(tonumber(member:sub(#m + 2, #m + 14)) - tn)
        if not best or d < bestDist then
          local ch = member:sub(-16)
          local r = redis.call('HGET', P .. 'L:' .. ch:sub(1, 2), ch)
          if r and r:byte(1) == 80 then best, bestKey, bestMember, bestRec, bestDist = ch, k, member, r, d end
        end
      end
    end
    if best then
      redis.call('ZREM', bestKey, bestMember)
      redis.call('HSET', P .. 'L:' .. best:sub(1, 2), best, 'M' .. h .. bestRec:sub(2))
      redis.call('HSET', rk, h, 'M' .. best .. rec)
      bucket(P .. 'gc', tn + RET, h)
      parked[side == 'b' and 'c' or 'b'] = parked[side == 'b' and 'c' or 'b'] - 1
      out[#out + 1] = bestRec
    else
      redis.call('HSET', rk, h, 'P' .. rec)
      local pk = P .. 'p:' .. mine
      if redis.call('ZCARD', pk) < 100 then redis.call('ZADD', pk, 0, m .. '|' .. t .. '|' .. h)
      else redis.call('ZADD', pk .. ':x', 0, m .. '|' .. t .. '|' .. h) end
      bucket(P .. 'dl:' .. side, tn + WIN, h)
      bucket(P .. 'gc', tn + RET, h)
      parked[side] = parked[side] + 1
      out[#out + 1] = 'P'
    end
  end
end
for _, key in ipairs(ORDER) do
  local q = BUCKETS[key]
  redis.call('RPUSH', key, unpack(q, 3))
  redis.call('ZADD', q[1], q[2], q[2])
end
for s, d in pairs(parked) do if d ~= 0 then redis.call('HINCRBY', P .. 'n', s, d) end end
return out`;
redis.defineCommand('benchFlatMatch', { numberOfKeys: 0, lua: FLAT });

/** The `owned script` line's fence in one round trip: the lease checked, then the call's plain commands applied (each a count, then its words). */
const FENCED_APPLY = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('FENCED the shard lease is not ours') end
local i, n = 2, #ARGV
while i <= n do
  local k = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + k))
  i = i + k + 1
end
return 1`;
redis.defineCommand('benchFencedApply', { numberOfKeys: 1, lua: FENCED_APPLY });

type Stats = { cpu: number; cmds: Map<string, { calls: number; usec: number }> };
async function stats(): Promise<Stats> {
  const cpu = await redis.info('cpu');
  const num = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(cpu)![1]);
  const cmds = new Map<string, { calls: number; usec: number }>();
  for (const m of (await redis.info('commandstats')).matchAll(/cmdstat_([\w|]+):calls=(\d+),usec=(\d+)/g)) cmds.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) });
  return { cpu: num('used_cpu_user') + num('used_cpu_sys'), cmds };
}
function delta(a: Stats, b: Stats) {
  const cmds = new Map<string, { calls: number; usec: number }>();
  for (const [k, v] of b.cmds) {
    const w = a.cmds.get(k) ?? { calls: 0, usec: 0 };
    if (v.calls > w.calls) cmds.set(k, { calls: v.calls - w.calls, usec: v.usec - w.usec });
  }
  return { cpu: b.cpu - a.cpu, cmds };
}

interface Result {
  /** This process's CPU per leg: building the calls and reading the replies (MatchStore, ioredis). */
  clientUs: number;
  scriptUs: number;
  serverUs: number;
  perLeg: Map<string, { calls: number; usec: number }>;
  outcomes: Record<string, number>;
}

/** The values of packed legs (matchStore.ts packLegs), one after the other. */
function unpackLegs(b: Buffer): (string | Buffer)[] {
  const out: (string | Buffer)[] = [];
  for (let at = 0; at < b.length; ) {
    const n = b.readUInt32BE(at);
    const v = b.subarray(at + 4, at + 4 + n);
    // The packed chain id is binary (it starts with byte 1); everything else is text.
    out.push(v[0] === 1 ? Buffer.from(v) : v.toString('utf8'));
    at += 4 + n;
  }
  return out;
}

/** The match script of git `ref` with its reply in today's form (two strings per leg), or null. */
function baselineScript(ref: string | undefined): ((...a: (string | number | Buffer)[]) => Promise<unknown>) | null {
  if (!ref) return null;
  const script = olderScript(ref);
  // Before 2026-12-06 the script answered one JSON array; MatchStore now reads two strings per leg.
  return async (...a) => {
    const raw = await script(...a);
    if (typeof raw !== 'string') return raw;
    return (JSON.parse(raw) as ({ replayed: number; outcome: unknown } | { error: string })[]).flatMap((r) => ('error' in r ? ['e', r.error] : [String(r.replayed), JSON.stringify(r.outcome)]));
  };
}

/** The match script of git `ref`, called with the arguments of the protocol it takes (earlier, 15 or 18 values per leg). */
function olderScript(ref: string): (...a: (string | number | Buffer)[]) => Promise<unknown> {
  const show = (name: string) => execFileSync('git', ['show', `${ref}:src/state/lua/${name}.lua`], { encoding: 'utf8' });
  const src = `${show('lib')}\n${show('matchOrPark')}`;
  // A script that reads the legs packed in one argument takes the arguments as they are.
  if (src.includes('struct.unpack')) return (...a) => redis.eval(src, 1, a[0]!, ...a);
  // Before that, each leg's 18 values were arguments of their own.
  if (src.includes('then 18 per leg')) return (...a) => redis.eval(src, 1, a[0]!, ...a.slice(0, 5), ...unpackLegs(a[5] as Buffer));
  return (...a) => {
    const args = a.slice(0, 5);
    // Earlier still, 15 values per leg.
    const flat = unpackLegs(a[5] as Buffer);
    for (let i = 0; i < flat.length; i += 18) {
      const leg = flat.slice(i, i + 15);
      // Its probes carried every amount written out.
      leg[14] = String(leg[14]).replaceAll('\x1f=\x1f=\x1f', `\x1f${String(leg[7])}\x1f${String(leg[7])}\x1f`);
      args.push(...leg);
    }
    return redis.eval(src, 1, args[0]!, ...args);
  };
}
const baseline = baselineScript(argv.baseline);

async function current(legs: Leg[], script?: (...a: (string | number | Buffer)[]) => Promise<unknown>): Promise<Result> {
  const store = new MatchStore(redis, { namespace: `bl-${randomUUID().slice(0, 8)}`, toleranceMs: 120_000, windowMs: 60_000, retentionMs: 3_600_000 });
  if (script) (store as unknown as { cmd: { reconMatchOrPark: typeof script } }).cmd.reconMatchOrPark = script;
  // Load the script outside the measurement.
  await store.matchOrPark({ ...legs[0]!, legId: 'bank:warm', fingerprint: 'w' }, 'booked');
  const outcomes: Record<string, number> = {};
  const s0 = await stats();
  const c0 = process.cpuUsage();
  for (let i = 0; i < legs.length; i += BATCH) {
    const rs = await Promise.all(legs.slice(i, i + BATCH).map((l) => store.matchOrPark(l, 'booked')));
    for (const r of rs) outcomes[r.outcome.t] = (outcomes[r.outcome.t] ?? 0) + 1;
    await pause();
  }
  const c = process.cpuUsage(c0);
  const d = delta(s0, await stats());
  await store.clear();
  return summarise(d, legs.length, outcomes, c.user + c.system);
}

async function minimal(legs: Leg[]): Promise<Result> {
  const prefix = `bm-${randomUUID().slice(0, 8)}:{m}:`;
  const call = (redis as unknown as { benchMinimalMatch(...a: string[]): Promise<string[]> }).benchMinimalMatch.bind(redis);
  await call(prefix, 'bank', 'warm', 'warm');
  const outcomes: Record<string, number> = {};
  const s0 = await stats();
  const c0 = process.cpuUsage();
  for (let i = 0; i < legs.length; i += BATCH) {
    const args = [prefix];
    // The pair's key: both legs of a drill pair share account and amount (the reference a real
    // minimal matcher would get from the bank's tokenisation reference).
    for (const l of legs.slice(i, i + BATCH)) args.push(l.side, `${l.accountId}|${l.amountKey}`, l.legId);
    for (const r of await call(...args)) outcomes[r ? 'match' : 'parked'] = (outcomes[r ? 'match' : 'parked'] ?? 0) + 1;
    await pause();
  }
  const c = process.cpuUsage(c0);
  const d = delta(s0, await stats());
  await redis.del(`${prefix}bank`, `${prefix}chain`);
  return summarise(d, legs.length, outcomes, c.user + c.system);
}

/** The legs of `legs` in the flat prototype's packing (FLAT). */
function packFlat(legs: Leg[]): Buffer {
  const parts: Buffer[] = [];
  const put = (v: string) => {
    const b = Buffer.from(v, 'utf8');
    const n = Buffer.alloc(4);
    n.writeUInt32BE(b.length);
    parts.push(n, b);
  };
  for (const l of legs) {
    const other = l.side === 'bank' ? 'chain' : 'bank';
    put(l.side === 'bank' ? 'b' : 'c');
    put(`${l.flow}:${l.side}:${l.accountId}:${l.currency}`);
    put(`${l.flow}:${other}:${l.accountId}:${l.currency}`);
    put(l.amountKey);
    put(String(l.eventTime).padStart(13, '0'));
    put(legHandle(l.legId));
    // About the engine's record: the leg's id and what the pool key does not say.
    put([l.legId, l.wallet, l.tokenKey, l.amountNative, l.reference ?? '', l.fingerprint].join('\x1f'));
  }
  return Buffer.concat(parts);
}

async function flat(legs: Leg[]): Promise<Result> {
  const prefix = `bf-${randomUUID().slice(0, 8)}:{m}:`;
  const call = (redis as unknown as { benchFlatMatch(...a: (string | Buffer)[]): Promise<string[]> }).benchFlatMatch.bind(redis);
  await call(prefix, '120000', '3600000', packFlat([{ ...legs[0]!, legId: 'bank:warm' }]));
  const outcomes: Record<string, number> = {};
  const s0 = await stats();
  const c0 = process.cpuUsage();
  for (let i = 0; i < legs.length; i += BATCH) {
    for (const r of await call(prefix, '120000', '3600000', packFlat(legs.slice(i, i + BATCH)))) {
      const k = r === 'P' ? 'parked' : r.startsWith('R') ? 'replayed' : 'match';
      outcomes[k] = (outcomes[k] ?? 0) + 1;
    }
    await pause();
  }
  const c = process.cpuUsage(c0);
  const d = delta(s0, await stats());
  const keys = await redis.keys(`${prefix}*`);
  for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
  return summarise(d, legs.length, outcomes, c.user + c.system);
}

/** Writes one RESP command (an array of bulk strings) into `out`. */
function resp(out: string[], args: readonly string[]): void {
  out.push(`*${args.length}\r\n`);
  for (const a of args) out.push(`$${Buffer.byteLength(a)}\r\n${a}\r\n`);
}

/** The end of the RESP reply starting at `at` in `b`, or -1 when it is not all there yet. */
function replyEnd(b: Buffer, at: number): number {
  const eol = b.indexOf('\r\n', at);
  if (eol < 0) return -1;
  const type = b[at];
  if (type === 0x2b || type === 0x2d || type === 0x3a) return eol + 2;
  const n = Number(b.toString('latin1', at + 1, eol));
  if (type === 0x24) return n < 0 ? eol + 2 : eol + 2 + n + 2 <= b.length ? eol + 2 + n + 2 : -1;
  let next = eol + 2;
  for (let i = 0; i < n; i++) {
    if (next >= b.length) return -1;
    next = replyEnd(b, next);
    if (next < 0) return -1;
  }
  return next;
}

/**
 * A connection that sends a batch as one write of hand-built RESP and waits for its replies: what a
 * worker could do instead of building a command object per command (ioredis). Resolves with the
 * last reply as RESP text ('*-1' for an EXEC that did not apply).
 */
async function rawConnection(url: string): Promise<{ send(commands: readonly (readonly string[])[]): Promise<string>; close(): void }> {
  const { hostname, port } = new URL(url);
  const { connect } = await import('node:net');
  const socket = connect(Number(port || 6379), hostname);
  await new Promise<void>((r, j) => socket.once('connect', r).once('error', j));
  let buf: Buffer = Buffer.alloc(0);
  let want = 0;
  let at = 0;
  let last = 0;
  let done: ((r: string) => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    while (want > 0) {
      const end = replyEnd(buf, at);
      if (end < 0) return;
      last = at;
      at = end;
      want--;
    }
    const r = buf.toString('latin1', last, at);
    buf = Buffer.alloc(0);
    at = 0;
    done?.(r);
  });
  return {
    send(commands) {
      const out: string[] = [];
      for (const c of commands) resp(out, c);
      want = commands.length;
      return new Promise((r) => {
        done = r;
        socket.write(out.join(''));
      });
    },
    close: () => socket.destroy(),
  };
}

/**
 * The `owned` lines: what Redis would spend if a worker owned its shard (a lease) and matched in
 * memory, writing the same state as the flat prototype with plain commands. Per call, the fence:
 * WATCH the lease and GET it (still ours?), then one MULTI/EXEC (not applied if the lease moved
 * since the WATCH) of the records (HSET), pool entries (ZADD,
 * ZREM), deadline and gc buckets (RPUSH, ZADD) and parked counters (HINCRBY). No Lua at all. The
 * matching here is the flat prototype's (nearest open leg of the other side's pool with the same
 * amount within the window), not the engine's cascade; this prices the Redis side of the design
 * and the client's cost of issuing plain commands, through ioredis (a command object each) or as
 * hand-built RESP in one write (`raw`), not the design's takeover and recovery.
 */
async function owned(legs: Leg[], how: 'ioredis' | 'raw' | 'script'): Promise<Result> {
  const raw = how === 'raw';
  const prefix = `bo-${randomUUID().slice(0, 8)}:{m}:`;
  const lease = `${prefix}lease`;
  await redis.set(lease, 'worker-1');
  const conn = raw ? await rawConnection(argv.url) : null;
  const WIN = 120_000;
  const RET = 3_600_000;
  // The shard's open legs in memory: pool key -> amount -> entries (what Redis also holds).
  const pools = new Map<string, Map<string, { h: string; t: number; rec: string; member: string; open: boolean }[]>>();
  const outcomes: Record<string, number> = {};
  const s0 = await stats();
  const c0 = process.cpuUsage();
  for (let i = 0; i < legs.length; i += BATCH) {
    const cmds: string[][] = [];
    const buckets = new Map<string, { idx: string; b: string; hs: string[] }>();
    const bucket = (idx: string, ms: number, h: string) => {
      const b = String(Math.floor(ms / 1000));
      const key = `${idx}:${b}`;
      let q = buckets.get(key);
      if (!q) buckets.set(key, (q = { idx, b, hs: [] }));
      q.hs.push(h);
    };
    const parked = { bank: 0, chain: 0 };
    for (const l of legs.slice(i, i + BATCH)) {
      const h = legHandle(l.legId);
      const rk = `${prefix}L:${h.slice(0, 2)}`;
      const other = l.side === 'bank' ? 'chain' : 'bank';
      const own = `${prefix}p:${l.flow}:${l.side}:${l.accountId}:${l.currency}`;
      const theirs = `${prefix}p:${l.flow}:${other}:${l.accountId}:${l.currency}`;
      const rec = [l.legId, l.wallet, l.tokenKey, l.amountNative, l.reference ?? '', l.fingerprint].join('\x1f');
      let best: { h: string; t: number; rec: string; member: string; open: boolean } | undefined;
      for (const c of pools.get(theirs)?.get(l.amountKey) ?? []) {
        if (c.open && Math.abs(c.t - l.eventTime) <= WIN && (!best || Math.abs(c.t - l.eventTime) < Math.abs(best.t - l.eventTime))) best = c;
      }
      if (best) {
        best.open = false;
        cmds.push(['ZREM', theirs, best.member], ['HSET', `${prefix}L:${best.h.slice(0, 2)}`, best.h, `M${h}${best.rec}`], ['HSET', rk, h, `M${best.h}${rec}`]);
        bucket(`${prefix}gc`, l.eventTime + RET, h);
        parked[other]--;
        outcomes.match = (outcomes.match ?? 0) + 1;
      } else {
        const member = `${l.amountKey}|${String(l.eventTime).padStart(13, '0')}|${h}`;
        cmds.push(['HSET', rk, h, `P${rec}`], ['ZADD', own, '0', member]);
        let byAmount = pools.get(own);
        if (!byAmount) pools.set(own, (byAmount = new Map()));
        let list = byAmount.get(l.amountKey);
        if (!list) byAmount.set(l.amountKey, (list = []));
        list.push({ h, t: l.eventTime, rec, member, open: true });
        bucket(`${prefix}dl:${l.side}`, l.eventTime + WIN, h);
        bucket(`${prefix}gc`, l.eventTime + RET, h);
        parked[l.side]++;
        outcomes.parked = (outcomes.parked ?? 0) + 1;
      }
    }
    for (const [key, q] of buckets) cmds.push(['RPUSH', key, ...q.hs], ['ZADD', q.idx, q.b, q.b]);
    for (const [side, d] of Object.entries(parked)) if (d !== 0) cmds.push(['HINCRBY', `${prefix}n`, side, String(d)]);
    // A nil EXEC: the lease moved since the WATCH (another worker took the shard); nothing was written.
    if (how === 'script') {
      const args: string[] = ['worker-1'];
      for (const c of cmds) args.push(String(c.length), ...c);
      await (redis as unknown as { benchFencedApply(key: string, ...a: string[]): Promise<number> }).benchFencedApply(lease, ...args);
    } else if (conn) {
      // The fence: the lease is still ours (and watched), then the writes, in a second write.
      if (
        (await conn.send([
          ['WATCH', lease],
          ['GET', lease],
        ])) !== '$8\r\nworker-1\r\n'
      )
        throw new Error('the shard lease is not ours');
      const r = await conn.send([['MULTI'], ...cmds, ['EXEC']]);
      if (r.startsWith('*-1')) throw new Error('the shard lease moved during the batch');
      if (r[0] !== '*') throw new Error(`the batch's EXEC answered ${r.slice(0, 200)}`);
    } else {
      await redis.watch(lease);
      if ((await redis.get(lease)) !== 'worker-1') throw new Error('the shard lease is not ours');
      const m = redis.multi();
      for (const [name, ...args] of cmds) m.call(name!, ...args);
      if ((await m.exec()) === null) throw new Error('the shard lease moved during the batch');
    }
    await pause();
  }
  const c = process.cpuUsage(c0);
  const d = delta(s0, await stats());
  conn?.close();
  const keys = await redis.keys(`${prefix}*`);
  // Every leg's record was written (the batches applied).
  let records = 0;
  for (const k of keys) if (k.startsWith(`${prefix}L:`)) records += await redis.hlen(k);
  if (records !== legs.length) throw new Error(`owned (${how}): ${records} records written for ${legs.length} legs`);
  for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
  return summarise(d, legs.length, outcomes, c.user + c.system);
}

function summarise(d: ReturnType<typeof delta>, legs: number, outcomes: Record<string, number>, clientMicros: number): Result {
  const ev = { calls: 0, usec: 0 };
  for (const k of ['evalsha', 'eval', 'exec']) {
    ev.calls += d.cmds.get(k)?.calls ?? 0;
    ev.usec += d.cmds.get(k)?.usec ?? 0;
  }
  const perLeg = new Map([...d.cmds].filter(([k]) => k !== 'evalsha' && k !== 'eval' && k !== 'exec' && k !== 'info').map(([k, v]) => [k, { calls: v.calls / legs, usec: v.usec / legs }]));
  return { clientUs: clientMicros / legs, scriptUs: ev.usec / legs, serverUs: (d.cpu * 1e6) / legs, perLeg, outcomes };
}

const f1 = (x: number) => x.toFixed(1);
function line(name: string, r: Result) {
  const top = [...r.perLeg]
    .sort((a, b) => b[1].usec - a[1].usec)
    .map(([k, v]) => `${k} ${v.calls.toFixed(2)}×/${f1(v.usec)}`)
    .join(', ');
  console.log(
    `${name.padEnd(12)} script ${f1(r.scriptUs).padStart(6)} µs/leg  server CPU ${f1(r.serverUs).padStart(6)} µs/leg  client CPU ${f1(r.clientUs).padStart(6)} µs/leg  outcomes ${JSON.stringify(r.outcomes)}`,
  );
  console.log(`${''.padEnd(12)} commands per leg (calls×/µs): ${top}`);
}

const legs = traffic(`bl${randomUUID().slice(0, 6)}`);
console.log(describeLuaVm(await luaVm(redis, argv['flush-scripts']), argv['flush-scripts']));
console.log(
  `match-or-park Redis CPU per leg: ${legs.length} legs (${PAIRS} pairs), ${BATCH} legs per script call, mints ${LAG} legs after their credit${GAP_MS > 0 ? `, ${GAP_MS} ms pause after each call` : ''}`,
);
const acc = { cur: [0, 0], min: [0, 0], base: [0, 0], flat: [0, 0], owned: [0, 0, 0], ownedRaw: [0, 0, 0], ownedScript: [0, 0, 0] };
for (let r = 0; r < Number(argv.rounds); r++) {
  if (baseline) {
    const b = await current(legs, baseline);
    line(`${argv.baseline} #${r + 1}`, b);
    acc.base[0]! += b.scriptUs;
    acc.base[1]! += b.serverUs;
  }
  const c = await current(legs);
  line(`current #${r + 1}`, c);
  acc.cur[0]! += c.scriptUs;
  acc.cur[1]! += c.serverUs;
  if (argv['engine-only']) continue;
  const m = await minimal(legs);
  line(`minimal #${r + 1}`, m);
  const f = await flat(legs);
  line(`flat #${r + 1}`, f);
  const o = await owned(legs, 'ioredis');
  line(`owned #${r + 1}`, o);
  acc.owned[0]! += o.scriptUs;
  acc.owned[1]! += o.serverUs;
  acc.owned[2]! += o.clientUs;
  const w = await owned(legs, 'raw');
  line(`owned raw #${r + 1}`, w);
  acc.ownedRaw[0]! += w.scriptUs;
  acc.ownedRaw[1]! += w.serverUs;
  acc.ownedRaw[2]! += w.clientUs;
  const x = await owned(legs, 'script');
  line(`owned scr #${r + 1}`, x);
  acc.ownedScript[0]! += x.scriptUs;
  acc.ownedScript[1]! += x.serverUs;
  acc.ownedScript[2]! += x.clientUs;
  acc.flat[0]! += f.scriptUs;
  acc.flat[1]! += f.serverUs;
  acc.min[0]! += m.scriptUs;
  acc.min[1]! += m.serverUs;
}
const n = Number(argv.rounds);
if (argv['engine-only']) console.log(`mean: current ${f1(acc.cur[0]! / n)} µs/leg in the script (${f1(acc.cur[1]! / n)} server)`);
else {
  if (baseline)
    console.log(
      `mean: ${argv.baseline} ${f1(acc.base[0]! / n)} µs/leg in the script (${f1(acc.base[1]! / n)} server): ${(acc.base[0]! / acc.min[0]!).toFixed(2)}× the minimal in the script, ${(acc.base[1]! / acc.min[1]!).toFixed(2)}× server`,
    );
  console.log(
    `mean: current ${f1(acc.cur[0]! / n)} µs/leg in the script (${f1(acc.cur[1]! / n)} server), minimal ${f1(acc.min[0]! / n)} (${f1(acc.min[1]! / n)}); ratio ${(acc.cur[0]! / acc.min[0]!).toFixed(2)}× in the script, ${(acc.cur[1]! / acc.min[1]!).toFixed(2)}× server [target ≤ 10 µs/leg server]`,
  );
  console.log(
    `mean: flat prototype (the same commands, records read and written whole, no rule cascade or outcome JSON) ${f1(acc.flat[0]! / n)} µs/leg in the script (${f1(acc.flat[1]! / n)} server): ${(acc.flat[0]! / acc.min[0]!).toFixed(2)}× the minimal`,
  );
  console.log(
    `mean: owned shard (matched in the client's memory, plain commands in one MULTI/EXEC per call, no Lua) ${f1(acc.owned[0]! / n)} µs/leg in EXEC (${f1(acc.owned[1]! / n)} server, ${f1(acc.owned[2]! / n)} client); the same as one write of hand-built RESP ${f1(acc.ownedRaw[0]! / n)} µs/leg in EXEC (${f1(acc.ownedRaw[1]! / n)} server, ${f1(acc.ownedRaw[2]! / n)} client); fenced in one round trip by a script that applies them ${f1(acc.ownedScript[0]! / n)} µs/leg in it (${f1(acc.ownedScript[1]! / n)} server, ${f1(acc.ownedScript[2]! / n)} client)`,
  );
}
redis.disconnect();
