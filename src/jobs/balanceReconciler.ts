import { engineGapMismatches } from '../domain/statementGaps.js';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { createPublicClient, fallback, http, type Address } from 'viem';
import type { Config } from '../config/schema.js';
import { compareBalances, driftDecision, snapshotRow, type BalanceComparison, type DriftState } from '../domain/balances.js';
import { discrepancyEvent } from '../domain/outcomeFacts.js';
import type { Fact } from '../domain/facts.js';
import { signedMinorUnits, tokenKeyOf } from '../domain/legs.js';
import { currencyExponent } from '../domain/currencies.js';
import type { FactWriter } from '../sinks/clickhouse/factWriter.js';
import { queryRows } from '../sinks/clickhouse/queries.js';
import type { IdentityView } from '../domain/legs.js';
import { queryBookBalances } from './balanceQueries.js';

export interface BalanceReconcilerOptions {
  config: Config;
  clickhouse: ClickHouseClient;
  writer: FactWriter;
  redis: Redis;
  log: Logger;
  identities?: IdentityView;
  onFacts?: (facts: Fact[]) => void;
  now?: () => number;
  /**
   * The highest block whose events are all durable in ClickHouse: totalSupply is read there, so
   * the contract's word and the event facts describe the same chain state.
   */
  durableBlock?: (chainId: number) => Promise<bigint | null>;
  /**
   * Resolves once every fact durable so far is in ClickHouse (`sink.mode: log`: the fact log
   * loaded). Awaited after the durable blocks are read and before the facts are, so both describe
   * the same chain state.
   */
  factsLoaded?: () => Promise<void>;
}

export interface BalanceReconciler {
  /** Signals that balances changed; a check runs after the debounce. */
  changed(): void;
  /** Runs a check now and returns the comparisons it wrote. */
  checkNow(): Promise<BalanceComparison[]>;
  stop(): Promise<void>;
}

const supplyAbi = [{ type: 'function', name: 'totalSupply', stateMutability: 'view', inputs: [], outputs: [{ type: 'uint256' }] }] as const;

/**
 * Balance facts on a schedule and on change: bank balances from booked postings, on-chain
 * balances from confirmed events and each token's totalSupply() at the confirmed block, with the
 * in-flight part (legs still inside their window) separated from the unexplained drift. Sustained
 * unexplained drift opens a BALANCE_DRIFT discrepancy; its return within tolerance resolves it.
 * Aggregates are computed by ClickHouse over the facts (FINAL), so replays cannot skew them.
 */
export function startBalanceReconciler(o: BalanceReconcilerOptions): BalanceReconciler {
  const { config, clickhouse, log } = o;
  const db = config.clickhouse.database;
  const now = o.now ?? Date.now;
  const driftKey = `${config.namespace}:{m}:drift`;
  const clients = new Map(
    config.chains.map((c) => [
      c.chainId,
      {
        confirmations: c.confirmations,
        client: createPublicClient({ transport: c.rpcUrls.length === 1 ? http(c.rpcUrls[0]) : fallback(c.rpcUrls.map((u) => http(u))) }),
      },
    ]),
  );

  /** Each token chain's durable block (read before the facts, see factsLoaded). */
  async function durableBlocks(): Promise<Map<number, bigint | null | undefined>> {
    const out = new Map<number, bigint | null | undefined>();
    for (const chainId of new Set(config.tokens.map((t) => t.chainId))) out.set(chainId, o.durableBlock ? await o.durableBlock(chainId) : undefined);
    return out;
  }

  async function reportedSupply(durableByChain: Map<number, bigint | null | undefined>) {
    const out: { tokenKey: string; decimals: number; base: bigint }[] = [];
    // The newest block with a durable event: its events arrived in one message and every earlier
    // block's before it, so the contract read there describes the same chain as the event facts
    // even before that block's progress message is processed.
    const newest = new Map(
      (await queryRows<{ chain_id: string; b: string }>(clickhouse, `SELECT toString(chain_id) AS chain_id, toString(max(block_number)) AS b FROM ${db}.chain_events_canonical GROUP BY chain_id`)).map(
        (r) => [Number(r.chain_id), BigInt(r.b)],
      ),
    );
    for (const t of config.tokens) {
      const c = clients.get(t.chainId);
      if (!c) continue;
      try {
        let durable = durableByChain.get(t.chainId);
        const seen = newest.get(t.chainId);
        if (seen !== undefined && (durable === null || (durable !== undefined && seen > durable))) durable = seen;
        if (durable === null) continue; // nothing of this chain is durable yet
        const blockNumber = durable ?? (await c.client.getBlockNumber()) - BigInt(c.confirmations);
        if (blockNumber < 0n) continue;
        const [supply, decimals] = await Promise.all([
          c.client.readContract({ address: t.address as Address, abi: supplyAbi, functionName: 'totalSupply', blockNumber }),
          c.client.readContract({
            address: t.address as Address,
            abi: [{ type: 'function', name: 'decimals', stateMutability: 'view', inputs: [], outputs: [{ type: 'uint8' }] }] as const,
            functionName: 'decimals',
          }),
        ]);
        out.push({ tokenKey: tokenKeyOf(t.chainId, t.address), decimals: Number(decimals), base: supply });
      } catch (e) {
        log.warn({ err: (e as Error).message, token: t.address }, 'totalSupply unavailable; comparing with confirmed events only');
      }
    }
    return out;
  }

  async function gather() {
    const durable = await durableBlocks();
    await o.factsLoaded?.();
    const [books, supply] = await Promise.all([queryBookBalances(clickhouse, db), reportedSupply(durable)]);
    const accountOfWallet = o.identities ? (w: string) => o.identities!.accountOfWallet(w) : (w: string) => config.accounts.find((a) => a.wallets.includes(w))?.accountId;
    // Only accounts in the token programme (mapped to a wallet) have a chain side to compare.
    const mapped = (accountId: string) => !o.identities || o.identities.walletsOfAccount(accountId).length > 0;
    return compareBalances({
      bank: books.bank.filter((r) => mapped(r.accountId)),
      wallets: books.wallets,
      bankInFlight: books.bankInFlight.filter((r) => mapped(r.accountId)),
      chainInFlight: books.chainInFlight,
      bankOpen: (books.bankOpen ?? []).filter((r) => mapped(r.accountId)),
      chainOpen: books.chainOpen ?? [],
      reportedSupply: supply,
      tokens: config.tokens.map((t) => ({ tokenKey: tokenKeyOf(t.chainId, t.address), currency: t.currency })),
      accountOfWallet,
    });
  }

  /**
   * The third leg of the three-way check (src/domain/statementGaps.ts): bank statements (camt)
   * against the engine's running balance, for statements older than the drift grace (their
   * postings have had time to arrive). The engine against the chain is the drift above.
   */
  async function statementEngineFacts(at: number): Promise<Fact[]> {
    const rows = await queryRows<{ account_id: string; currency: string; statement_id: string; bt: string; g: string }>(
      clickhouse,
      `SELECT account_id, currency, statement_id, toString(toUnixTimestamp64Milli(balance_time)) AS bt, toString(gap) AS g
       FROM ${db}.statement_balance_gaps WHERE balance_type = 'CLBD' AND toUnixTimestamp64Milli(balance_time) <= {cutoff:Int64}`,
      { cutoff: at - config.balances.driftGraceMs },
    );
    const mismatches = engineGapMismatches(rows.map((r) => ({ accountId: r.account_id, currency: r.currency, statementId: r.statement_id, balanceTime: Number(r.bt), gap: BigInt(r.g) })));
    const open = new Set(
      (
        await queryRows<{ discrepancy_id: string }>(
          clickhouse,
          `SELECT discrepancy_id FROM ${db}.discrepancies_current WHERE status = 'open' AND startsWith(discrepancy_id, 'STATEMENT_BALANCE_MISMATCH:engine:')`,
        )
      ).map((r) => r.discrepancy_id),
    );
    const facts: Fact[] = [];
    const now = new Set(mismatches.map((m) => m.id));
    for (const m of mismatches) {
      if (open.has(m.id)) continue;
      facts.push(
        discrepancyEvent({
          id: m.id,
          kind: 'STATEMENT_BALANCE_MISMATCH',
          status: 'open',
          fallback: { account_id: m.accountId, currency: m.currency, expected_amount: m.change.toString() },
          eventTime: at,
          now: at,
          reason: `statement ${m.statementId} of ${m.accountId}: the bank's closing balance moved ${m.change} minor units of ${m.currency} against the engine's since statement ${m.previousStatementId} (gap ${m.gap}): something was booked that one side did not see`,
        }),
      );
    }
    for (const id of open) {
      if (!now.has(id)) facts.push(discrepancyEvent({ id, kind: 'STATEMENT_BALANCE_MISMATCH', status: 'resolved', eventTime: at, now: at, reason: 'the statement and the engine agree again' }));
    }
    return facts;
  }

  async function checkNow(): Promise<BalanceComparison[]> {
    const at = now();
    const comparisons = await gather();
    const facts: Fact[] = comparisons.map((c) => ({ table: 'balance_snapshots', row: snapshotRow(c, at) }));
    const state = await o.redis.hgetall(driftKey);
    const updates: Record<string, string> = {};
    for (const c of comparisons) {
      const field = `${c.scope}|${c.subject}|${c.currency}`;
      const before = state[field] ? (JSON.parse(state[field]) as DriftState) : {};
      // Freely transferable tokens move between wallets without a bank posting: per-account drift
      // is then noise, and the aggregate (bank liability against total supply) is the invariant.
      // Turned off, an open one resolves.
      const judged = c.scope === 'account' && !config.balances.accountDrift ? { ...c, unexplained: 0n } : c;
      const d = driftDecision(judged, before, { toleranceBase: config.balances.toleranceBase, graceMs: config.balances.driftGraceMs }, at);
      const base = {
        // Minor units of the currency, like every discrepancy; exact (a fraction where the token
        // balance is not a whole number of minor units). The reason keeps the base-unit figures.
        fallback: {
          account_id: c.scope === 'account' ? c.subject : '',
          currency: c.currency,
          expected_amount: signedMinorUnits(c.bank, c.decimals, currencyExponent(c.currency)),
          actual_amount: signedMinorUnits(c.reported, c.decimals, currencyExponent(c.currency)),
        },
        eventTime: at,
        now: at,
      };
      if (d.open)
        facts.push(
          discrepancyEvent({
            id: d.open,
            kind: 'BALANCE_DRIFT',
            status: 'open',
            ...base,
            reason: `${c.scope} ${c.subject}: bank ${c.bank} vs chain ${c.reported} token base units (${c.currency}, ${c.decimals} decimals); ${c.inFlight} in flight and ${c.explained} named by open leg discrepancies leave ${c.unexplained} unexplained beyond tolerance ${config.balances.toleranceBase}`,
          }),
        );
      if (d.resolve)
        facts.push(
          discrepancyEvent({ id: d.resolve, kind: 'BALANCE_DRIFT', status: 'resolved', ...base, reason: `${c.scope} ${c.subject}: unexplained drift back within tolerance (${c.unexplained})` }),
        );
      const next = JSON.stringify(d.next);
      if (next !== (state[field] ?? '{}')) updates[field] = next;
    }
    facts.push(...(await statementEngineFacts(at)));
    await o.writer.write(facts);
    if (Object.keys(updates).length > 0) await o.redis.hset(driftKey, updates);
    o.onFacts?.(facts);
    return comparisons;
  }

  let running: Promise<unknown> = Promise.resolve();
  let debounce: NodeJS.Timeout | undefined;
  let stopped = false;
  const run = () => {
    if (stopped) return;
    running = running.then(() => checkNow()).catch((e) => log.error({ err: e }, 'balance check failed'));
  };
  const interval = setInterval(run, config.balances.intervalMs);
  return {
    changed() {
      if (stopped || debounce) return;
      debounce = setTimeout(() => {
        debounce = undefined;
        run();
      }, config.balances.onChangeDebounceMs);
    },
    checkNow: () => {
      const p = running.then(() => checkNow());
      running = p.catch(() => undefined);
      return p;
    },
    async stop() {
      stopped = true;
      clearInterval(interval);
      clearTimeout(debounce);
      await running;
    },
  };
}
