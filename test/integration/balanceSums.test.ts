import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fact } from '../../src/domain/facts.js';
import { queryBookBalances } from '../../src/jobs/balanceQueries.js';
import { createFactWriter } from '../../src/sinks/clickhouse/factWriter.js';
import { queryRows } from '../../src/sinks/clickhouse/queries.js';
import { tempClickHouse, type TempClickHouse } from '../support/clickhouse.js';

const T0 = 1_780_000_000_000;
const INT128_MAX = 2n ** 127n - 1n;
const INT128_MIN = -(2n ** 127n);
const UINT256_MAX = 2n ** 256n - 1n;
const W = '0x1111111111111111111111111111111111111111';
const V = '0x2222222222222222222222222222222222222222';
const ZERO = '0x0000000000000000000000000000000000000000';
const TOKEN = '0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';

let seq = 0;
const posting = (accountId: string, direction: 'credit' | 'debit', amount: bigint, txType = 'deposit'): Fact => ({
  table: 'ledger_entries',
  row: {
    entry_id: `E-${++seq}`,
    account_id: accountId,
    direction,
    amount_minor: amount.toString(),
    currency: 'USD',
    exponent: 2,
    booking_time: T0,
    value_time: T0,
    status: 'booked',
    tx_type: txType,
    end_to_end_id: '',
    remittance: '',
    tokenization_ref: '',
    schema_version: 2,
    stream_seq: seq,
    version: 2,
    recorded_at: T0,
  },
});
const chainEvent = (kind: 'mint' | 'burn' | 'transfer', from: string, to: string, value: bigint): Fact => ({
  table: 'chain_events',
  row: {
    event_id: `31337:0xb:${++seq}`,
    chain_id: 31337,
    token: TOKEN,
    block_number: String(seq),
    block_hash: '0xb',
    block_time: T0,
    tx_hash: `0x${seq}`,
    log_index: seq,
    kind,
    from_address: from,
    to_address: to,
    value: value.toString(),
    decimals: 18,
    reference: '',
    recorded_at: T0,
  },
});

/**
 * The balance queries sum money without overflow or precision loss whatever the values the
 * columns can hold: Int128 bank amounts at their limits, UInt256 token values at 2^256 - 1.
 */
describe('balance sums in ClickHouse at extreme values', () => {
  let ch: TempClickHouse;
  const tokenKey = `31337:${TOKEN}`;

  beforeAll(async () => {
    ch = await tempClickHouse();
    await createFactWriter(ch.client, ch.database).write([
      // Bank: four credits and a debit at Int128 max (an Int128 sum wraps at the second).
      ...[1, 2, 3, 4].map(() => posting('ACC-MAX', 'credit', INT128_MAX)),
      posting('ACC-MAX', 'debit', INT128_MAX, 'withdrawal'),
      // Debits at Int128 min magnitude's neighbour: a large negative balance.
      ...[1, 2, 3].map(() => posting('ACC-NEG', 'debit', INT128_MAX, 'withdrawal')),
      // Chain: W minted 2^256 - 1 three times, burned 2^255, sent 2^255 + 1 to V.
      ...[1, 2, 3].map(() => chainEvent('mint', ZERO, W, UINT256_MAX)),
      chainEvent('burn', W, ZERO, 2n ** 255n),
      chainEvent('transfer', W, V, 2n ** 255n + 1n),
    ]);
  }, 60_000);
  afterAll(async () => {
    await ch?.close();
  });

  it('a plain Int256 sum of these UInt256 values is wrong (why the query sums in limbs)', async () => {
    const [r] = await queryRows<{ s: string }>(ch.client, `SELECT toString(sum(toInt256(value))) AS s FROM ${ch.database}.chain_events_canonical WHERE kind = 'mint'`);
    expect(BigInt(r!.s)).not.toBe(3n * UINT256_MAX);
  });

  it('sums Int128 bank amounts exactly past the Int128 range, both signs', async () => {
    const books = await queryBookBalances(ch.client, ch.database);
    const bank = new Map(books.bank.map((b) => [b.accountId, b.minor]));
    expect(bank.get('ACC-MAX')).toBe(3n * INT128_MAX);
    expect(bank.get('ACC-NEG')).toBe(-3n * INT128_MAX);
    expect(-3n * INT128_MAX < INT128_MIN).toBe(true);
    // In flight: the four deposits credit and the withdrawal debit, none matched.
    expect(new Map(books.bankInFlight.map((b) => [b.accountId, b.minor])).get('ACC-MAX')).toBe(3n * INT128_MAX);
  });

  it('sums UInt256 token values exactly past 2^256, with burns and transfers signed', async () => {
    const books = await queryBookBalances(ch.client, ch.database);
    const wallets = new Map(books.wallets.map((w) => [w.wallet, w]));
    expect(wallets.get(W)).toEqual({ wallet: W, tokenKey, decimals: 18, base: 3n * UINT256_MAX - 2n ** 255n - (2n ** 255n + 1n) });
    expect(wallets.get(V)?.base).toBe(2n ** 255n + 1n);
    const inFlight = new Map(books.chainInFlight.map((w) => [w.wallet, w.base]));
    expect(inFlight.get(W)).toBe(3n * UINT256_MAX - 2n ** 255n);
  });
});
