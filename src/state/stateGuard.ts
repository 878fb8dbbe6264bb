/**
 * Guards the match state in Redis against a Redis that lost its memory (a restart without
 * persistence, a failover to an empty replica). The state carries an epoch key; matchOrPark
 * refuses to run without it (STATE_LOST: the message is nak'd and redelivered), so nothing is ever
 * matched or parked against a forgotten state. When the key is missing, one worker (lock in Redis)
 * waits for batches already in flight to land, rebuilds the state from the facts in ClickHouse —
 * which hold every leg whose message was acked — and sets the epoch again; then matching resumes.
 *
 * What the facts say about a leg decides its rebuilt state: matched / reversed (matches),
 * mismatched (AMOUNT_/CURRENCY_MISMATCH), duplicate, expired (an open MISSING_*), pending /
 * reversed (the posting's status), otherwise parked with its window deadline. Rebuilt parked legs
 * are flagged so that a redelivery of their message matches them again rather than replaying a
 * stored outcome the rebuild could not know.
 *
 * A sharded state (src/domain/stateShards.ts) has an epoch per shard: a Redis Cluster master that
 * restarts empty loses the shards in its slots only, and only those are rebuilt (the legs the
 * facts put in them); matching in the other shards goes on.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { chainEventToLeg, ledgerEntryToLeg, type IdentityView } from '../domain/legs.js';
import type { PostingStatus } from '../domain/types.js';
import { queryRows } from '../sinks/clickhouse/queries.js';
import type { MatchStore, RestoredLeg } from './matchStore.js';

export interface StateGuardOptions {
  redis: Redis;
  store: MatchStore;
  clickhouse: ClickHouseClient;
  database: string;
  identities: IdentityView;
  windowMs: number;
  retentionMs: number;
  log: Logger;
  workerId: string;
  /** After a loss is detected, wait this long for batches in flight to become durable before reading the facts. */
  settleMs?: number;
  checkIntervalMs?: number;
  /** Resolves once every fact made durable so far is in ClickHouse (the fact log loaded, `sink.mode: log`). */
  factsLoaded?: () => Promise<void>;
}

export interface StateGuard {
  /** Resolves once the state carries its epoch (rebuilt first if it was missing). */
  ready: Promise<void>;
  rebuilds(): number;
  stop(): Promise<void>;
}

/** Starts watching the epoch; rebuilds the state whenever it disappears. */
export function startStateGuard(o: StateGuardOptions): StateGuard {
  const epochKeys = o.store.shardPrefixes.map((p) => `${p}epoch`);
  const lockKey = `${o.store.prefix}rebuild-lock`;
  /** The shards whose epoch is missing. */
  const missing = async () => {
    const exists = await Promise.all(epochKeys.map((k) => o.redis.exists(k)));
    return exists.flatMap((e, i) => (e === 1 ? [] : [i]));
  };
  let rebuilds = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  async function ensure(firstStart: boolean): Promise<void> {
    const lost = await missing();
    if (lost.length === 0) return;
    if ((await o.redis.set(lockKey, o.workerId, 'PX', 120_000, 'NX')) !== 'OK') return; // another worker rebuilds
    try {
      // One shard: the one epoch key, as before; more: the epochs that are missing.
      const epochKey = epochKeys.length === 1 ? epochKeys[0]! : lost.map((i) => epochKeys[i]!).join(' ');
      if (firstStart) o.log.info({ epochKey }, 'match state has no epoch (new namespace, or Redis lost it): deriving it from the facts');
      else o.log.error({ epochKey }, 'match state lost (Redis restarted empty?): matching paused, rebuilding it from the facts');
      // Batches matched before the loss may still be on their way to ClickHouse: let them land.
      if (!firstStart) await new Promise((r) => setTimeout(r, o.settleMs ?? 3_000));
      // Facts durable in the fact log but not yet loaded would be missing from the rebuild.
      await o.factsLoaded?.();
      const t0 = Date.now();
      const shards = await missing();
      const legs = await rebuildFromFacts(o, shards.length === epochKeys.length ? undefined : new Set(shards));
      for (const s of shards) await o.redis.set(epochKeys[s]!, `${o.workerId}:${Date.now()}`);
      rebuilds++;
      o.log[firstStart && legs === 0 ? 'info' : 'warn']({ legs, shards, ms: Date.now() - t0 }, 'match state rebuilt from the facts; matching resumes');
    } finally {
      await o.redis.del(lockKey).catch(() => undefined);
    }
  }

  const ready = (async () => {
    for (;;) {
      await ensure(true);
      if ((await missing()).length === 0 || stopped) break;
      await new Promise((r) => setTimeout(r, 250));
    }
  })();

  const tick = () => {
    if (stopped) return;
    running = ensure(false)
      .catch((e) => o.log.error({ err: e }, 'match state check failed; retrying'))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, o.checkIntervalMs ?? 500);
      });
  };
  void ready.then(
    () => {
      if (!stopped) timer = setTimeout(tick, o.checkIntervalMs ?? 500);
    },
    () => undefined,
  );

  return {
    ready,
    rebuilds: () => rebuilds,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}

type RebuiltLeg = RestoredLeg;

/**
 * Writes the state the facts in ClickHouse imply into Redis; returns the number of legs. With
 * `onlyShards`, only the legs of those shards (the others kept their state).
 */
export async function rebuildFromFacts(
  o: Pick<StateGuardOptions, 'redis' | 'store' | 'clickhouse' | 'database' | 'identities' | 'windowMs' | 'retentionMs'>,
  onlyShards?: ReadonlySet<number>,
): Promise<number> {
  const db = o.database;
  const since = Date.now() - o.retentionMs;
  const legs = new Map<string, RebuiltLeg>();
  let ledgerWatermark = -1;

  const bank = await queryRows<{
    entry_id: string;
    status: PostingStatus;
    account_id: string;
    direction: 'credit' | 'debit';
    amount_minor: string;
    currency: string;
    exponent: number | string;
    bt: string;
    vt: string;
    tx_type: string;
    end_to_end_id: string;
    remittance: string;
    tokenization_ref: string;
  }>(
    o.clickhouse,
    `SELECT entry_id, status, account_id, direction, toString(amount_minor) AS amount_minor, currency, exponent,
      toString(toUnixTimestamp64Milli(booking_time)) AS bt, toString(toUnixTimestamp64Milli(value_time)) AS vt, tx_type,
      end_to_end_id, remittance, tokenization_ref
    FROM ${db}.ledger_entries_current WHERE booking_time >= fromUnixTimestamp64Milli({since:Int64})`,
    { since },
  );
  for (const r of bank) {
    const bookingTime = Number(r.bt);
    ledgerWatermark = Math.max(ledgerWatermark, bookingTime);
    const d = ledgerEntryToLeg(
      {
        entryId: r.entry_id,
        accountId: r.account_id,
        direction: r.direction,
        amountMinor: BigInt(r.amount_minor),
        currency: r.currency,
        exponent: Number(r.exponent),
        bookingTime,
        valueTime: Number(r.vt),
        status: r.status,
        txType: r.tx_type as never,
        endToEndId: r.end_to_end_id || null,
        remittance: r.remittance || null,
        tokenizationRef: r.tokenization_ref || null,
        schemaVersion: 0,
      },
      o.identities,
    );
    if (d.kind !== 'leg') continue;
    const state = r.status === 'booked' ? 'parked' : r.status;
    legs.set(d.leg.legId, { leg: d.leg, status: r.status, state, extra: {} });
  }

  const chainSql = (table: string) => `SELECT event_id, chain_id, token, toString(block_number) AS block_number, block_hash,
      toString(toUnixTimestamp64Milli(block_time)) AS bt, tx_hash, log_index, kind, from_address, to_address, toString(value) AS value, decimals, reference
    FROM ${db}.${table} WHERE kind IN ('mint', 'burn') AND block_time >= fromUnixTimestamp64Milli({since:Int64})`;
  type ChainRow = {
    event_id: string;
    chain_id: string | number;
    token: string;
    block_number: string;
    block_hash: string;
    bt: string;
    tx_hash: string;
    log_index: number | string;
    kind: 'mint' | 'burn';
    from_address: string;
    to_address: string;
    value: string;
    decimals: number | string;
    reference: string;
  };
  // Events retracted by a deep reorg are not legs any more (the canonical view, where it exists).
  const chain = await queryRows<ChainRow>(o.clickhouse, chainSql('chain_events_canonical'), { since }).catch(() => queryRows<ChainRow>(o.clickhouse, chainSql('chain_events FINAL'), { since }));
  for (const r of chain) {
    const d = chainEventToLeg(
      {
        eventId: r.event_id,
        chainId: Number(r.chain_id),
        token: r.token,
        blockNumber: BigInt(r.block_number),
        blockHash: r.block_hash,
        blockTime: Number(r.bt),
        txHash: r.tx_hash,
        logIndex: Number(r.log_index),
        kind: r.kind,
        from: r.from_address,
        to: r.to_address,
        value: BigInt(r.value),
        decimals: Number(r.decimals),
        reference: r.reference || null,
      },
      o.identities,
    );
    if (d.kind === 'leg') legs.set(d.leg.legId, { leg: d.leg, status: 'booked', state: 'parked', extra: {} });
  }

  const matches = await queryRows<{ match_id: string; status: string; match_by: string; bank_leg_id: string; chain_leg_id: string; resolved_discrepancy_id: string }>(
    o.clickhouse,
    `SELECT match_id, status, match_by, bank_leg_id, chain_leg_id, resolved_discrepancy_id FROM ${db}.matches_current`,
  );
  for (const m of matches) {
    const b = legs.get(m.bank_leg_id);
    const c = legs.get(m.chain_leg_id);
    // A proposal waiting for an operator: both legs wait with it (a split's proposal rows are one
    // per part, under `proposal:split:<leg>:<part>`: not rebuilt, its legs come back open).
    if (m.status === 'proposed') {
      if (m.match_id.startsWith('proposal:split:')) continue;
      for (const [l, x] of [
        [b, m.chain_leg_id],
        [c, m.bank_leg_id],
      ] as const) {
        if (l) {
          l.state = 'proposed';
          l.extra = { mid: m.match_id, by: m.match_by, x };
        }
      }
      continue;
    }
    // A decided proposal's own row, or a match undone by hand: the legs are what other facts say.
    if (m.status !== 'matched' && m.status !== 'reversed') continue;
    const extra = { mid: m.match_id, by: m.match_by, rs: m.resolved_discrepancy_id };
    if (b) {
      b.state = m.status === 'reversed' ? 'reversed' : 'matched';
      b.extra = { ...extra, x: m.chain_leg_id };
    }
    if (c) {
      c.state = 'matched';
      c.extra = { ...extra, x: m.bank_leg_id };
    }
  }

  const discrepancies = await queryRows<{ discrepancy_id: string; kind: string; status: string; bank_leg_id: string; chain_leg_id: string }>(
    o.clickhouse,
    `SELECT discrepancy_id, kind, status, bank_leg_id, chain_leg_id FROM ${db}.discrepancies_current
      WHERE kind IN ('AMOUNT_MISMATCH', 'CURRENCY_MISMATCH', 'DUPLICATE', 'MISSING_MINT', 'MISSING_BURN', 'MISSING_BANK_CREDIT', 'MISSING_BANK_DEBIT')`,
  );
  for (const x of discrepancies) {
    if (x.kind === 'AMOUNT_MISMATCH' || x.kind === 'CURRENCY_MISMATCH') {
      const b = legs.get(x.bank_leg_id);
      const c = legs.get(x.chain_leg_id);
      if (b) {
        b.state = 'mismatched';
        b.extra = { x: x.chain_leg_id, d: x.discrepancy_id };
      }
      if (c) {
        c.state = 'mismatched';
        c.extra = { x: x.bank_leg_id, d: x.discrepancy_id };
      }
    } else if (x.kind === 'DUPLICATE') {
      const self = legs.get(x.discrepancy_id.slice('DUPLICATE:'.length));
      if (self && self.state === 'parked') self.state = 'duplicate';
    } else if (x.status === 'open') {
      const self = legs.get(x.discrepancy_id.slice(x.discrepancy_id.indexOf(':') + 1));
      if (self && self.state === 'parked') {
        self.state = 'expired';
        self.extra = { d: x.discrepancy_id };
      }
    }
  }

  // The layout is the scripts' (lua/lib.lua): written through a script, in batches.
  const all = [...legs.values()].filter((l) => !onlyShards || onlyShards.has(o.store.shardOfLeg(l.leg)));
  for (let i = 0; i < all.length; i += 200 * 8) {
    await Promise.all(Array.from({ length: 8 }, (_, j) => all.slice(i + j * 200, i + (j + 1) * 200)).map((batch) => o.store.restore(batch)));
  }
  const P = o.store.prefix;
  const pipe = o.redis.pipeline();
  // The bank feed's watermark as far as the facts show; the chain's comes back with its next progress message.
  if (ledgerWatermark >= 0) pipe.hset(`${P}wm`, 'ledger', String(ledgerWatermark), 'ledger:seen', String(Date.now()));
  await pipe.exec();
  return all.length;
}
