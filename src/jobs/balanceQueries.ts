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
 *
 * One query per book: each leg counted in a balance is classified (matched, named by an open
 * discrepancy, or in flight) in the same read, from the same parts of every table. Separate,
 * concurrent queries could see a chain event in the wallet balance and miss it among the legs in
 * flight when its insert landed between them, and report its amount as unexplained.
 */
export async function queryBookBalances(clickhouse: ClickHouseClient, db: string): Promise<BookBalances> {
  type Limbs = Record<string, string>;
  // matched, open (named by an open discrepancy) or flight; `none` for what is not a leg.
  const state = (side: 'bank' | 'chain', id: string, isLeg: string) => `multiIf(
          NOT (${isLeg}), 'none',
          ${id} IN (SELECT ${side}_leg_id FROM ${db}.matches_current WHERE status = 'matched'), 'matched',
          ${id} IN (SELECT ${side}_leg_id FROM ${db}.discrepancies_current WHERE status = 'open'), 'open',
          'flight')`;
  const [bankRows, chainRows] = await Promise.all([
    queryRows<{ account_id: string; currency: string; exponent: number; minor: string; flight: string; open: string }>(
      clickhouse,
      `
      SELECT account_id, currency, any(exponent) AS exponent, toString(sum(signed)) AS minor,
             toString(sumIf(signed, state = 'flight')) AS flight, toString(sumIf(signed, state = 'open')) AS open
      FROM (
        SELECT account_id, currency, exponent,
               if(direction = 'credit', toInt256(amount_minor), -toInt256(amount_minor)) AS signed,
               ${state('bank', "concat('bank:', entry_id)", "(tx_type = 'deposit' AND direction = 'credit') OR (tx_type = 'withdrawal' AND direction = 'debit')")} AS state
        FROM ${db}.ledger_entries_current WHERE status = 'booked')
      GROUP BY account_id, currency`,
    ),
    // Each event as the wallets it moves: a mint credits its receiver, a burn debits its sender,
    // a transfer both. Only mints and burns are legs.
    queryRows<{ wallet: string; token_key: string; decimals: number } & Limbs>(
      clickhouse,
      `
      SELECT tupleElement(moved, 1) AS wallet, token_key, any(d) AS decimals,
             ${exactSignedSumSql('value', 'tupleElement(moved, 2) > 0', 'tupleElement(moved, 2) < 0', 'base')},
             ${exactSignedSumSql('value', "tupleElement(moved, 2) > 0 AND state = 'flight'", "tupleElement(moved, 2) < 0 AND state = 'flight'", 'flight')},
             ${exactSignedSumSql('value', "tupleElement(moved, 2) > 0 AND state = 'open'", "tupleElement(moved, 2) < 0 AND state = 'open'", 'open')}
      FROM (
        SELECT concat(toString(chain_id), ':', token) AS token_key, decimals AS d, value,
               ${state('chain', "concat('chain:', event_id)", "kind IN ('mint', 'burn')")} AS state,
               arrayJoin(multiIf(kind = 'mint', [(to_address, 1)], kind = 'burn', [(from_address, -1)], [(to_address, 1), (from_address, -1)])) AS moved
        FROM ${db}.chain_events_canonical WHERE kind IN ('mint', 'burn', 'transfer'))
      GROUP BY wallet, token_key`,
    ),
  ]);
  const bank = (k: 'flight' | 'open') => bankRows.map((r) => ({ accountId: r.account_id, currency: r.currency, minor: BigInt(r[k]) }));
  const chain = (alias: 'base' | 'flight' | 'open') => chainRows.map((r) => ({ wallet: r.wallet, tokenKey: r.token_key, decimals: Number(r.decimals), base: combineSignedSum(r, alias) }));
  return {
    bank: bankRows.map((r) => ({ accountId: r.account_id, currency: r.currency, exponent: Number(r.exponent), minor: BigInt(r.minor) })),
    wallets: chain('base'),
    bankInFlight: bank('flight').filter((b) => b.minor !== 0n),
    chainInFlight: chain('flight').filter((w) => w.base !== 0n),
    bankOpen: bank('open').filter((b) => b.minor !== 0n),
    chainOpen: chain('open').filter((w) => w.base !== 0n),
  };
}
