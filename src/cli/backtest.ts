/**
 * `npm run backtest -- --from 2025-06-01T00:00:00Z --to 2025-06-08T00:00:00Z [--rules config/aml-rules.yaml] [--warmup 30d] [--json]`
 *
 * Replays a stored range of history from ClickHouse (booked ledger entries and chain events whose
 * event time is in [from, to)) through a rule file, in event-time order, with window state in
 * memory, and prints the alerts it would have raised. It sends nothing and writes nothing: no
 * Redis, no NATS, no insert. `--warmup` also replays the period before `from` to fill the windows
 * and baselines, without reporting what it raises there. Identities (accounts ↔ wallets, tokens)
 * and the watch-list file come from the configuration (RECON_CONFIG).
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { createAmlEngine } from '../aml/engine.js';
import { duration, loadRuleFile } from '../aml/ruleFile.js';
import { MemoryStateStore } from '../aml/stateStore.js';
import { parseWatchlistText } from '../aml/watchlist.js';
import { currencyExponent } from '../domain/currencies.js';
import type { AmlAlertRow } from '../domain/facts.js';
import { IdentityMap } from '../domain/identityMap.js';
import type { ChainEvent, LedgerEntry } from '../domain/types.js';
import { ConfigError } from '../lib/errors.js';
import { createClickHouse } from '../sinks/clickhouse/createClickHouse.js';
import { queryRows } from '../sinks/clickhouse/queries.js';
import { readFileSync } from 'node:fs';
import type { ClickHouseClient } from '@clickhouse/client';

export interface BacktestOptions {
  client: ClickHouseClient;
  database: string;
  rulesFile: string;
  from: number;
  to: number;
  warmupMs?: number;
  accounts: { accountId: string; wallets: readonly string[] }[];
  tokens: { chainId: number; address: string; currency: string }[];
  watchlist?: readonly string[];
}

export interface BacktestResult {
  version: string;
  events: number;
  alerts: AmlAlertRow[];
}

type Row = { t: 'bank'; time: number; e: LedgerEntry } | { t: 'chain'; time: number; e: ChainEvent };

/** Reads the range from ClickHouse and runs it through the rules in memory (writes nothing). */
export async function backtest(o: BacktestOptions): Promise<BacktestResult> {
  if (!/^[a-zA-Z0-9_]+$/.test(o.database)) throw new Error(`invalid database ${o.database}`);
  const rules = loadRuleFile(o.rulesFile);
  const start = o.from - (o.warmupMs ?? 0);
  const ledger = await queryRows<Record<string, string>>(
    o.client,
    `SELECT entry_id, account_id, direction, toString(amount_minor) AS amount_text, currency, exponent, toString(toUnixTimestamp64Milli(booking_time)) AS booking_ms,
       toString(toUnixTimestamp64Milli(value_time)) AS value_ms, status, tx_type, end_to_end_id, remittance, tokenization_ref
     FROM ${o.database}.ledger_entries_current
     WHERE status = 'booked' AND booking_time >= fromUnixTimestamp64Milli({s:Int64}) AND booking_time < fromUnixTimestamp64Milli({t:Int64})`,
    { s: start, t: o.to },
  );
  const chain = await queryRows<Record<string, string>>(
    o.client,
    `SELECT event_id, chain_id, token, toString(block_number) AS block_text, block_hash, toString(toUnixTimestamp64Milli(block_time)) AS block_ms, tx_hash, log_index,
       kind, from_address, to_address, toString(value) AS value_text, decimals, reference
     FROM ${o.database}.chain_events FINAL
     WHERE block_time >= fromUnixTimestamp64Milli({s:Int64}) AND block_time < fromUnixTimestamp64Milli({t:Int64})`,
    { s: start, t: o.to },
  );
  const rows: Row[] = [
    ...ledger.map(
      (r): Row => ({
        t: 'bank',
        time: Number(r.booking_ms),
        e: {
          entryId: r.entry_id!,
          accountId: r.account_id!,
          direction: r.direction as LedgerEntry['direction'],
          amountMinor: BigInt(r.amount_text!),
          currency: r.currency!,
          exponent: Number(r.exponent),
          bookingTime: Number(r.booking_ms),
          valueTime: Number(r.value_ms),
          status: 'booked',
          txType: r.tx_type as LedgerEntry['txType'],
          endToEndId: r.end_to_end_id || null,
          remittance: r.remittance || null,
          tokenizationRef: r.tokenization_ref || null,
          schemaVersion: 2,
        },
      }),
    ),
    ...chain.map(
      (r): Row => ({
        t: 'chain',
        time: Number(r.block_ms),
        e: {
          eventId: r.event_id!,
          chainId: Number(r.chain_id),
          token: r.token!,
          blockNumber: BigInt(r.block_text!),
          blockHash: r.block_hash!,
          blockTime: Number(r.block_ms),
          txHash: r.tx_hash!,
          logIndex: Number(r.log_index),
          kind: r.kind as ChainEvent['kind'],
          from: r.from_address!,
          to: r.to_address!,
          value: BigInt(r.value_text!),
          decimals: Number(r.decimals),
          reference: r.reference || null,
        },
      }),
    ),
  ].sort((a, b) => a.time - b.time);
  const identities = new IdentityMap(currencyExponent, { accounts: o.accounts, tokens: o.tokens });
  const watch = new Set((o.watchlist ?? []).map((w) => w.toLowerCase()));
  const engine = createAmlEngine({ store: new MemoryStateStore(), identities, rules: () => rules, watchlist: () => watch });
  const alerts: AmlAlertRow[] = [];
  for (const r of rows) {
    const res = r.t === 'bank' ? await engine.onLedgerEntry(r.e) : await engine.onChainEvent(r.e);
    if (r.time >= o.from) alerts.push(...res.alerts);
  }
  return { version: rules.version, events: rows.length, alerts };
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      from: { type: 'string' },
      to: { type: 'string' },
      rules: { type: 'string' },
      warmup: { type: 'string', default: '0' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const usage = 'usage: npm run backtest -- --from <ISO time> --to <ISO time> [--rules <file>] [--warmup 30d] [--json]';
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const from = Date.parse(values.from ?? '');
  const to = Date.parse(values.to ?? '');
  if (!Number.isFinite(from) || !Number.isFinite(to) || to <= from) {
    console.error(`backtest: --from and --to must be ISO times, from < to\n${usage}`);
    return 2;
  }
  let config: Config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`backtest: ${e.shortMessage}`);
      return 2;
    }
    throw e;
  }
  const client = createClickHouse(config.clickhouse);
  try {
    const r = await backtest({
      client,
      database: config.clickhouse.database,
      rulesFile: values.rules ?? config.aml.rulesFile,
      from,
      to,
      warmupMs: duration.parse(/^\d+$/.test(values.warmup) ? Number(values.warmup) : values.warmup),
      accounts: config.accounts,
      tokens: config.tokens,
      watchlist: config.aml.watchlistFile ? parseWatchlistText(readFileSync(config.aml.watchlistFile, 'utf8')) : [],
    });
    if (values.json) {
      console.log(
        JSON.stringify(
          r.alerts.map((a) => ({ ...a, figures: JSON.parse(a.figures) as unknown })),
          null,
          2,
        ),
      );
    } else {
      console.log(`backtest of rules ${r.version} over ${new Date(from).toISOString()} – ${new Date(to).toISOString()}: ${r.events} events, ${r.alerts.length} alerts (nothing sent, nothing written)`);
      for (const a of r.alerts) console.log(`${new Date(a.event_time).toISOString()}  ${a.severity.padEnd(8)} ${a.rule_id.padEnd(18)} ${a.subject}  ${a.summary}`);
      const byRule = new Map<string, number>();
      for (const a of r.alerts) byRule.set(a.rule_id, (byRule.get(a.rule_id) ?? 0) + 1);
      if (byRule.size)
        console.log(
          `per rule: ${[...byRule]
            .sort()
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')}`,
        );
    }
    return 0;
  } finally {
    await client.close().catch(() => undefined);
  }
}

const isMain = process.argv[1] !== undefined && /backtest\.[jt]s$/.test(process.argv[1]);
if (isMain) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error('backtest failed:', e instanceof Error ? (e.stack ?? e.message) : e);
      process.exit(1);
    },
  );
}
