import type { ClickHouseClient } from '@clickhouse/client';
import type { BalanceInputs } from '../domain/balances.js';
import { queryRows } from '../sinks/clickhouse/queries.js';

/** The four books a balance check reads from ClickHouse, as exact integers. */
export type BookBalances = Pick<BalanceInputs, 'bank' | 'wallets' | 'bankInFlight' | 'chainInFlight' | 'bankOpen' | 'chainOpen'>;

const LIMB = 2n ** 128n;
const LOW_MASK = `toUInt256('${LIMB - 1n}')`;

/**
 * SQL for an exact signed sum of a UInt256 column, as four UInt256 sums (`<alias>_ph`, `_pl`,
 * `_nh`, `_nl`): the high and low 128-bit halves of the values counted positive and of those
 * counted negative. Every addend is below 2^128, so no sum can wrap before 2^128 rows. A plain
 * `sum(toInt256(value))` would turn a value of 2^255 or more negative, and a sum past 2^255 - 1
 * would wrap silently (ClickHouse does not check integer overflow).
 */
export function exactSignedSumSql(value: string, positive: string, negative: string, alias: string): string {
  const hi = `bitShiftRight(${value}, 128)`;
  const lo = `bitAnd(${value}, ${LOW_MASK})`;
  return [
    `toString(sumIf(${hi}, ${positive})) AS ${alias}_ph`,
    `toString(sumIf(${lo}, ${positive})) AS ${alias}_pl`,
    `toString(sumIf(${hi}, ${negative})) AS ${alias}_nh`,
    `toString(sumIf(${lo}, ${negative})) AS ${alias}_nl`,
  ].join(', ');
}

/** The bigint of the four limb sums `exactSignedSumSql` selected under `alias`. */
export function combineSignedSum(row: Record<string, unknown>, alias: string): bigint {
  const v = (k: string) => BigInt(String(row[`${alias}_${k}`]));
  return v('ph') * LIMB + v('pl') - (v('nh') * LIMB + v('nl'));
}

/**
 * Reads the books a balance check compares: booked bank balances per account and currency, wallet
 * balances per token from canonical chain events, and the legs still in flight on either side.
 * Bank amounts are Int128 summed as Int256 (exact below 2^128 rows); token values are UInt256
 * summed in 128-bit limbs and combined here in bigint (see `exactSignedSumSql`). FINAL views, so a
 * replayed fact cannot count twice.
 */
export async function queryBookBalances(clickhouse: ClickHouseClient, db: string): Promise<BookBalances> {
  type Limbs = Record<string, string>;
  // Legs not matched: in flight (named by no open discrepancy), or already named by an open one.
  const unmatchedBankLegs = (open: boolean) =>
    queryRows<{ account_id: string; currency: string; minor: string }>(
      clickhouse,
      `
      SELECT account_id, currency, toString(sum(if(direction = 'credit', toInt256(amount_minor), -toInt256(amount_minor)))) AS minor
      FROM ${db}.ledger_entries_current
      WHERE status = 'booked' AND ((tx_type = 'deposit' AND direction = 'credit') OR (tx_type = 'withdrawal' AND direction = 'debit'))
        AND concat('bank:', entry_id) NOT IN (SELECT bank_leg_id FROM ${db}.matches_current WHERE status = 'matched')
        AND concat('bank:', entry_id) ${open ? 'IN' : 'NOT IN'} (SELECT bank_leg_id FROM ${db}.discrepancies_current WHERE status = 'open')
      GROUP BY account_id, currency`,
    );
  const unmatchedChainLegs = (open: boolean) =>
    queryRows<{ wallet: string; token_key: string; decimals: number } & Limbs>(
      clickhouse,
      `
      SELECT if(kind = 'mint', to_address, from_address) AS wallet, concat(toString(chain_id), ':', token) AS token_key,
             any(decimals) AS decimals, ${exactSignedSumSql('value', "kind = 'mint'", "kind = 'burn'", 'base')}
      FROM ${db}.chain_events_canonical
      WHERE kind IN ('mint', 'burn')
        AND concat('chain:', event_id) NOT IN (SELECT chain_leg_id FROM ${db}.matches_current WHERE status = 'matched')
        AND concat('chain:', event_id) ${open ? 'IN' : 'NOT IN'} (SELECT chain_leg_id FROM ${db}.discrepancies_current WHERE status = 'open')
      GROUP BY wallet, token_key`,
    );
  const [bank, wallets, bankInFlight, chainInFlight, bankOpen, chainOpen] = await Promise.all([
    queryRows<{ account_id: string; currency: string; exponent: number; minor: string }>(
      clickhouse,
      `
      SELECT account_id, currency, any(exponent) AS exponent,
             toString(sum(if(direction = 'credit', toInt256(amount_minor), -toInt256(amount_minor)))) AS minor
      FROM ${db}.ledger_entries_current WHERE status = 'booked' GROUP BY account_id, currency`,
    ),
    queryRows<{ wallet: string; token_key: string; decimals: number } & Limbs>(
      clickhouse,
      `
      SELECT wallet, token_key, any(d) AS decimals, ${exactSignedSumSql('value', 'sign > 0', 'sign < 0', 'base')} FROM (
        SELECT to_address AS wallet, concat(toString(chain_id), ':', token) AS token_key, decimals AS d, value, 1 AS sign
        FROM ${db}.chain_events_canonical WHERE kind IN ('mint', 'transfer')
        UNION ALL
        SELECT from_address, concat(toString(chain_id), ':', token), decimals, value, -1
        FROM ${db}.chain_events_canonical WHERE kind IN ('burn', 'transfer'))
      GROUP BY wallet, token_key`,
    ),
    unmatchedBankLegs(false),
    unmatchedChainLegs(false),
    unmatchedBankLegs(true),
    unmatchedChainLegs(true),
  ]);
  return {
    bank: bank.map((r) => ({ accountId: r.account_id, currency: r.currency, exponent: Number(r.exponent), minor: BigInt(r.minor) })),
    wallets: wallets.map((r) => ({ wallet: r.wallet, tokenKey: r.token_key, decimals: Number(r.decimals), base: combineSignedSum(r, 'base') })),
    bankInFlight: bankInFlight.map((r) => ({ accountId: r.account_id, currency: r.currency, minor: BigInt(r.minor) })),
    chainInFlight: chainInFlight.map((r) => ({ wallet: r.wallet, tokenKey: r.token_key, decimals: Number(r.decimals), base: combineSignedSum(r, 'base') })),
    bankOpen: bankOpen.map((r) => ({ accountId: r.account_id, currency: r.currency, minor: BigInt(r.minor) })),
    chainOpen: chainOpen.map((r) => ({ wallet: r.wallet, tokenKey: r.token_key, decimals: Number(r.decimals), base: combineSignedSum(r, 'base') })),
  };
}
