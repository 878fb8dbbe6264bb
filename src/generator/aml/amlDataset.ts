/**
 * A labelled synthetic data set for the AML rules (seeded: the same seed and start give the same
 * data on every machine). Ordinary customers deposit (bank credit + mint), withdraw (burn + bank
 * debit), pay each other and merchants on chain, and now and then move tokens between their own
 * wallets. Mixed into that, at known positions, are instances of each typology the rules look
 * for, and *near misses* (the nearest innocent pattern: under a threshold, outside a window, a
 * cycle through one customer's own wallets). Each instance names the events that make it up, so
 * an alert can be scored against it by shared evidence.
 */
import { createHash } from 'node:crypto';
import type { ChainEvent } from '../../domain/types.js';
import type { LedgerPosting } from '../../streams/ledgerCodec.js';
import { createRandom, type Random } from '../random.js';

export const TYPOLOGIES = ['large_value', 'structuring', 'pass_through', 'velocity', 'fan_out', 'fan_in', 'cycle', 'watchlist', 'dormant'] as const;
export type Typology = (typeof TYPOLOGIES)[number];

export type DatasetEvent = { t: 'posting'; posting: LedgerPosting } | { t: 'chain'; event: ChainEvent };

export interface TypologyInstance {
  id: string;
  typology: Typology;
  /** false: a near miss the rules must NOT raise `typology` on. */
  positive: boolean;
  note: string;
  /** Evidence ids (`bank:<entryId>`, `chain:<eventId>`) of the instance's events. */
  eventIds: string[];
}

export interface AmlDataset {
  startTime: number;
  endTime: number;
  chainId: number;
  token: string;
  decimals: number;
  currency: 'USD';
  accounts: { accountId: string; wallets: string[] }[];
  watchlist: string[];
  /** In event-time order. */
  events: DatasetEvent[];
  instances: TypologyInstance[];
}

export interface AmlDatasetOptions {
  seed: number;
  /** Epoch ms of day 0. */
  startTime: number;
  days?: number;
  customers?: number;
  /** Positive instances per typology (near misses: about two thirds of that). */
  perTypology?: number;
}

const H = 3_600_000;
const D = 24 * H;
const ZERO = `0x${'00'.repeat(20)}`;
const addr = (label: string) => `0x${createHash('sha256').update(label).digest('hex').slice(0, 40)}`;

/** Generates the data set (pure). */
export function generateAmlDataset(o: AmlDatasetOptions): AmlDataset {
  const days = o.days ?? 120;
  const per = o.perTypology ?? 6;
  const rnd: Random = createRandom(o.seed);
  const chainId = 31_337;
  const token = addr(`token:${o.seed}`);
  const decimals = 18;
  const start = o.startTime;
  const usd = (cents: bigint) => cents * 10n ** 16n;
  let seq = 0;

  // Drafts: chain events get their block coordinates once everything is sorted by time.
  type Draft = {
    time: number;
    posting?: Omit<LedgerPosting, 'bookingTime' | 'valueTime'>;
    chain?: { kind: 'mint' | 'burn' | 'transfer'; from: string; to: string; cents: bigint };
    ref: { id?: string };
  };
  const drafts: Draft[] = [];
  const posting = (time: number, accountId: string, direction: 'credit' | 'debit', cents: bigint, txType: 'deposit' | 'withdrawal' | 'transfer') => {
    const entryId = `AML-${o.seed}-${++seq}`;
    const ref = { id: `bank:${entryId}` };
    drafts.push({
      time,
      ref,
      posting: { entryId, accountId, direction, amountMinor: cents, currency: 'USD', status: 'booked', txType, endToEndId: `E2E-${entryId}`, remittance: null, tokenizationRef: null },
    });
    return ref;
  };
  const chain = (time: number, kind: 'mint' | 'burn' | 'transfer', from: string, to: string, cents: bigint) => {
    const ref: { id?: string } = {};
    drafts.push({ time, ref, chain: { kind, from: kind === 'mint' ? ZERO : from, to: kind === 'burn' ? ZERO : to, cents } });
    return ref;
  };
  const deposit = (time: number, c: Customer, cents: bigint) => [posting(time, c.accountId, 'credit', cents, 'deposit'), chain(time + 120_000, 'mint', ZERO, c.wallets[0]!, cents)];
  const withdraw = (time: number, c: Customer, cents: bigint) => [chain(time, 'burn', c.wallets[0]!, ZERO, cents), posting(time + 120_000, c.accountId, 'debit', cents, 'withdrawal')];

  interface Customer {
    accountId: string;
    wallets: string[];
  }
  const customers: Customer[] = [];
  const newCustomer = (label: string, twoWallets = false): Customer => {
    const c = { accountId: `ACC-${label}`, wallets: [addr(`${o.seed}:${label}:w1`), ...(twoWallets ? [addr(`${o.seed}:${label}:w2`)] : [])] };
    customers.push(c);
    return c;
  };
  const merchants = Array.from({ length: 6 }, (_, i) => addr(`${o.seed}:merchant:${i}`));
  let ext = 0;
  const external = () => addr(`${o.seed}:external:${++ext}`);
  const amount = (minUsd: number, maxUsd: number) => BigInt(Math.round(Math.exp(Math.log(minUsd) + rnd.next() * (Math.log(maxUsd) - Math.log(minUsd))) * 100));
  const between = (minUsd: number, maxUsd: number) => BigInt(rnd.int(minUsd * 100, maxUsd * 100));

  /** Ordinary activity of one customer over [from, to) days. */
  const ordinary = (c: Customer, fromDay: number, toDay: number, perDay = 0.4) => {
    for (let day = fromDay; day < toDay; day++) {
      let n = 0;
      while (rnd.chance(perDay / (n + 1)) && n < 3) n++;
      for (let k = 0; k < n; k++) {
        const time = start + day * D + rnd.int(7, 21) * H + rnd.int(0, 59) * 60_000;
        const what = rnd.weighted({ deposit: 45, withdraw: 15, pay: 30, own: 5, merchant: 5 });
        if (what === 'deposit') deposit(time, c, amount(20, 3_000));
        else if (what === 'withdraw') withdraw(time, c, amount(20, 1_500));
        else if (what === 'own' && c.wallets.length > 1) chain(time, 'transfer', c.wallets[0]!, c.wallets[1]!, amount(20, 3_000));
        else if (what === 'merchant') chain(time, 'transfer', c.wallets[0]!, rnd.pick(merchants), amount(5, 400));
        else {
          // Ordinary customers pay ordinary customers only: a payment into an instance's customer
          // would change its pattern (a dormant customer would not be dormant).
          const other = rnd.pick(payees.filter((x) => x !== c));
          chain(time, 'transfer', c.wallets[0]!, rnd.pick(other.wallets), amount(10, 1_500));
        }
      }
    }
  };

  const ordinaryCount = o.customers ?? 60;
  for (let i = 0; i < ordinaryCount; i++) newCustomer(`C${String(i).padStart(3, '0')}`, rnd.chance(0.2));
  const payees = [...customers];
  for (const c of payees) ordinary(c, 0, days);

  const instances: (Omit<TypologyInstance, 'eventIds'> & { refs: { id?: string }[] })[] = [];
  const add = (typology: Typology, positive: boolean, note: string, refs: { id?: string }[]) =>
    instances.push({ id: `${typology}-${positive ? 'p' : 'n'}${instances.filter((x) => x.typology === typology && x.positive === positive).length + 1}`, typology, positive, note, refs });
  const late = () => start + rnd.int(days - 25, days - 3) * D + rnd.int(8, 12) * H;
  /** A customer of its own for an instance, with ordinary history (velocity needs a baseline). */
  const subject = (label: string, twoWallets = false) => {
    const c = newCustomer(label, twoWallets);
    ordinary(c, 0, days);
    return c;
  };
  const watchlist = Array.from({ length: per }, (_, i) => addr(`${o.seed}:sanctioned:${i}`));
  const nearCount = Math.max(1, Math.round((per * 2) / 3));

  for (let i = 0; i < per; i++) {
    const t = late();
    // Large value.
    {
      const c = subject(`LV${i}`);
      add('large_value', true, `${c.accountId} deposits ≥ 10,000`, deposit(t, c, between(10_000, 25_000)));
    }
    // Structuring.
    {
      const c = subject(`ST${i}`);
      const n = rnd.int(3, 4);
      const refs = [];
      for (let k = 0; k < n; k++) refs.push(...deposit(t + k * rnd.int(3, 6) * H, c, between(8_200, 9_900)).slice(0, 1));
      add('structuring', true, `${c.accountId}: ${n} deposits just below 10,000 within a day`, refs);
    }
    // Pass-through.
    {
      const c = subject(`PT${i}`);
      const inCents = between(6_000, 9_000);
      const refs = [deposit(t, c, inCents)[0]!, chain(t + rnd.int(2, 4) * H, 'transfer', c.wallets[0]!, external(), (inCents * BigInt(rnd.int(85, 95))) / 100n)];
      add('pass_through', true, `${c.accountId}: deposit moved out within hours`, refs);
    }
    // Velocity: a burst of payments to a few counterparties.
    {
      const c = subject(`VE${i}`);
      const n = rnd.int(18, 25);
      const to = [external(), external(), external()];
      const refs = [];
      for (let k = 0; k < n; k++) refs.push(chain(t + k * 20 * 60_000, 'transfer', c.wallets[0]!, rnd.pick(to), amount(100, 400)));
      add('velocity', true, `${c.accountId}: ${n} payments in a day`, refs);
    }
    // Fan-out.
    {
      const c = subject(`FO${i}`);
      const n = rnd.int(11, 14);
      const refs = [];
      for (let k = 0; k < n; k++) refs.push(chain(t + k * rnd.int(40, 80) * 60_000, 'transfer', c.wallets[0]!, external(), between(300, 900)));
      add('fan_out', true, `${c.accountId} pays ${n} new counterparties within a day`, refs);
    }
    // Fan-in.
    {
      const c = subject(`FI${i}`);
      const n = rnd.int(11, 14);
      const refs = [];
      for (let k = 0; k < n; k++) refs.push(chain(t + k * rnd.int(40, 80) * 60_000, 'transfer', external(), c.wallets[0]!, between(300, 900)));
      add('fan_in', true, `${n} new counterparties pay ${c.accountId} within a day`, refs);
    }
    // Cycle through 2 to 4 hops.
    {
      const c = subject(`CY${i}`);
      const hops = 2 + (i % 3);
      const refs = [];
      let v = between(2_000, 8_000);
      let time = t;
      const path = [c.wallets[0]!, ...Array.from({ length: hops - 1 }, () => external()), c.wallets[0]!];
      for (let k = 0; k < hops; k++) {
        refs.push(chain(time, 'transfer', path[k]!, path[k + 1]!, v));
        v = (v * BigInt(rnd.int(96, 99))) / 100n;
        time += rnd.int(6, 36) * H;
      }
      add('cycle', true, `value returns to ${c.accountId} through ${hops} hops`, refs);
    }
    // Watch list.
    {
      const c = subject(`WL${i}`);
      const s = watchlist[i]!;
      const refs = [i % 2 === 0 ? chain(t, 'transfer', s, c.wallets[0]!, amount(50, 2_000)) : chain(t, 'transfer', c.wallets[0]!, s, amount(50, 2_000))];
      add('watchlist', true, `${c.accountId} ${i % 2 === 0 ? 'receives from' : 'pays'} a watch-listed address`, refs);
    }
    // Dormant: active in the first ten days only, then a large deposit 95+ days later.
    {
      const c = newCustomer(`DO${i}`);
      ordinary(c, 0, 10, 1);
      add('dormant', true, `${c.accountId} silent for 95+ days, then deposits`, deposit(start + rnd.int(106, days - 2) * D + 10 * H, c, between(6_000, 9_000)).slice(0, 1));
    }
  }

  for (let i = 0; i < nearCount; i++) {
    const t = late();
    {
      const c = subject(`nLV${i}`);
      add('large_value', false, 'deposit of 9,999.99', deposit(t, c, 999_999n));
    }
    {
      const c = subject(`nST${i}`);
      const refs = [];
      for (const dt of [0, 14 * H, 24 * H + 60_000]) refs.push(...deposit(t + dt, c, between(8_200, 9_900)).slice(0, 1));
      add('structuring', false, 'three near-threshold deposits spread over just over a day', refs);
    }
    {
      const c = subject(`nPT${i}`);
      const inCents = between(6_000, 9_000);
      add('pass_through', false, 'deposit, 60% moved out', [deposit(t, c, inCents)[0]!, chain(t + 3 * H, 'transfer', c.wallets[0]!, external(), (inCents * 60n) / 100n)]);
    }
    {
      const c = subject(`nVE${i}`);
      const refs = [];
      const to = external();
      for (let k = 0; k < 12; k++) refs.push(chain(t + k * 30 * 60_000, 'transfer', c.wallets[0]!, to, amount(100, 400)));
      add('velocity', false, '12 payments in a day (under the floor)', refs);
    }
    {
      const c = subject(`nFO${i}`);
      const refs = [];
      for (let k = 0; k < 8; k++) refs.push(chain(t + k * H, 'transfer', c.wallets[0]!, external(), between(300, 900)));
      add('fan_out', false, '8 counterparties', refs);
    }
    {
      const c = subject(`nFI${i}`);
      const refs = [];
      for (let k = 0; k < 8; k++) refs.push(chain(t + k * H, 'transfer', external(), c.wallets[0]!, between(300, 900)));
      add('fan_in', false, '8 payers', refs);
    }
    {
      const c = subject(`nCY${i}`, true);
      const v = between(2_000, 8_000);
      add('cycle', false, "value round-trips through the customer's own wallets", [
        chain(t, 'transfer', c.wallets[0]!, c.wallets[1]!, v),
        chain(t + 6 * H, 'transfer', c.wallets[1]!, c.wallets[0]!, v),
      ]);
    }
    {
      const c = subject(`nWL${i}`);
      add('watchlist', false, 'a payment to an address not on the list', [chain(t, 'transfer', c.wallets[0]!, external(), amount(50, 2_000))]);
    }
    {
      const c = newCustomer(`nDO${i}`);
      ordinary(c, 0, 10, 1);
      add('dormant', false, 'silent 95+ days, then a deposit of 3,000', deposit(start + rnd.int(106, days - 2) * D + 10 * H, c, 300_000n).slice(0, 1));
    }
  }

  // Order by time and give chain events their block coordinates (one block per event).
  drafts.sort((a, b) => a.time - b.time);
  const events: DatasetEvent[] = drafts.map((d, i) => {
    if (d.posting) return { t: 'posting', posting: { ...d.posting, bookingTime: d.time, valueTime: d.time } };
    const blockHash = `0x${createHash('sha256').update(`${o.seed}:block:${i}`).digest('hex')}`;
    const c = d.chain!;
    const event: ChainEvent = {
      eventId: `${chainId}:${blockHash}:0`,
      chainId,
      token,
      blockNumber: BigInt(i + 1),
      blockHash,
      blockTime: d.time,
      txHash: `0x${createHash('sha256').update(`${o.seed}:tx:${i}`).digest('hex')}`,
      logIndex: 0,
      kind: c.kind,
      from: c.from,
      to: c.to,
      value: usd(c.cents),
      decimals,
      reference: null,
    };
    d.ref.id = `chain:${event.eventId}`;
    return { t: 'chain', event };
  });
  return {
    startTime: start,
    endTime: start + days * D,
    chainId,
    token,
    decimals,
    currency: 'USD',
    accounts: customers.map((c) => ({ accountId: c.accountId, wallets: c.wallets })),
    watchlist,
    events,
    instances: instances.map(({ refs, ...x }) => ({ ...x, eventIds: refs.map((r) => r.id!) })),
  };
}
