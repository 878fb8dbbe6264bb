/**
 * Each rule's pattern and its nearest innocent patterns, as data: the unit tests run them on the
 * memory store, the integration tests on Redis, and both must agree.
 */
import { chainEvent, D, entry, evidenceIdOf, H, T0, transfer, wallet, type AmlInput } from './amlFixtures.js';

export interface Scenario {
  name: string;
  rule: string;
  accounts: { accountId: string; wallets: string[] }[];
  watch?: string[];
  events: AmlInput[];
  /** Alerts of `rule` expected. */
  expected: number;
  /** Evidence ids the (single) alert must name. */
  evidence?: string[];
  subject?: string;
}

const A = 'ACC-A';
const wa = wallet('a1');
const wa2 = wallet('a2');
const B = 'ACC-B';
const wb = wallet('b1');
const x = (n: number) => wallet(`e${n}`); // external, unmapped wallets
const accounts = [
  { accountId: A, wallets: [wa, wa2] },
  { accountId: B, wallets: [wb] },
];

function s(name: string, rule: string, expected: number, events: AmlInput[], extra: Partial<Scenario> = {}): Scenario {
  return { name, rule, expected, events, accounts, ...extra };
}

export function scenarios(): Scenario[] {
  const out: Scenario[] = [];
  // Large value.
  {
    const e = entry(A, 1_000_000n, T0);
    out.push(s('large value: 10,000.00 USD', 'large-value', 1, [e], { evidence: [evidenceIdOf(e)] }));
  }
  out.push(s('large value: 9,999.99 USD is under the threshold', 'large-value', 0, [entry(A, 999_999n, T0)]));
  out.push(s('large value: one wei under 10,000 tokens to an unmapped wallet', 'large-value', 0, [chainEvent('mint', '', x(1), 0n, T0, 10n ** 22n - 1n)]));
  out.push(s('large value: exactly 10,000 tokens to an unmapped wallet', 'large-value', 1, [chainEvent('mint', '', x(1), 1_000_000n, T0)]));

  // Structuring.
  {
    const es = [entry(A, 950_000n, T0), entry(A, 920_000n, T0 + 5 * H), entry(A, 990_000n, T0 + 20 * H)];
    out.push(s('structuring: three deposits just below 10,000 within 24 h', 'structuring', 1, es, { evidence: es.map(evidenceIdOf) }));
  }
  out.push(s('structuring: the third deposit 1 ms outside the window', 'structuring', 0, [entry(A, 950_000n, T0), entry(A, 920_000n, T0 + 5 * H), entry(A, 990_000n, T0 + D + 1)]));
  out.push(s('structuring: deposits under the "just below" band', 'structuring', 0, [entry(A, 799_999n, T0), entry(A, 799_999n, T0 + H), entry(A, 799_999n, T0 + 2 * H)]));
  out.push(s('structuring: three customers, one deposit each', 'structuring', 0, [entry(A, 950_000n, T0), entry(B, 950_000n, T0 + H), entry('ACC-C', 950_000n, T0 + 2 * H)]));
  out.push(s('structuring: arrival out of order still completes the pattern', 'structuring', 1, [entry(A, 990_000n, T0 + 20 * H), entry(A, 950_000n, T0), entry(A, 920_000n, T0 + 5 * H)]));
  out.push(
    s('structuring: two patterns in one day raise one alert (suppression)', 'structuring', 1, [
      entry(A, 950_000n, T0),
      entry(A, 920_000n, T0 + H),
      entry(A, 990_000n, T0 + 2 * H),
      entry(A, 950_000n, T0 + 3 * H),
      entry(A, 950_000n, T0 + 4 * H),
    ]),
  );

  // Pass-through: a deposit moved out on chain within a day.
  {
    const es = [entry(A, 800_000n, T0), transfer(wa, x(1), 700_000n, T0 + 3 * H)];
    out.push(s('pass-through: 8,000 in, 7,000 out 3 h later', 'pass-through', 1, es, { evidence: es.map(evidenceIdOf) }));
  }
  out.push(s('pass-through: only 75% moved out', 'pass-through', 0, [entry(A, 800_000n, T0), transfer(wa, x(1), 600_000n, T0 + 3 * H)]));
  out.push(s('pass-through: moved out 1 ms after the window', 'pass-through', 0, [entry(A, 800_000n, T0), transfer(wa, x(1), 800_000n, T0 + D + 1)]));
  out.push(s('pass-through: moved to another wallet of the same customer', 'pass-through', 0, [entry(A, 800_000n, T0), transfer(wa, wa2, 800_000n, T0 + H)]));
  out.push(s('pass-through: the outflow arrives before the deposit', 'pass-through', 1, [transfer(wa, x(1), 700_000n, T0 + 3 * H), entry(A, 800_000n, T0)]));

  // Velocity: 14 days of one 100 USD payment a day, then a burst.
  const baseline = (acct: string, perDay: number) => {
    const es: AmlInput[] = [];
    for (let d = 0; d < 14; d++) for (let k = 0; k < perDay; k++) es.push(entry(acct, 10_000n, T0 + d * D + k * 60_000));
    return es;
  };
  const burst = (acct: string, n: number) => Array.from({ length: n }, (_, k) => entry(acct, 10_000n, T0 + 15 * D + k * 60_000));
  out.push(s('velocity: 16 movements in a day against a baseline of 1', 'velocity', 1, [...baseline(A, 1), ...burst(A, 16)]));
  out.push(s('velocity: 14 movements, under the absolute floor of 15', 'velocity', 0, [...baseline(A, 1), ...burst(A, 14)]));
  out.push(s('velocity: 16 movements against a baseline of 4 a day (under 5x)', 'velocity', 0, [...baseline(A, 4), ...burst(A, 16)]));

  // Fan-out / fan-in.
  const pay = (n: number, to: (k: number) => string, gap = H) => Array.from({ length: n }, (_, k) => transfer(wa, to(k), 50_000n, T0 + k * gap));
  out.push(s('fan-out: 10 distinct counterparties within a day', 'fan-out', 1, pay(10, x)));
  out.push(s('fan-out: 9 distinct counterparties', 'fan-out', 0, pay(9, x)));
  out.push(s('fan-out: the 10th payment 1 ms outside the window', 'fan-out', 0, [...pay(9, x), transfer(wa, x(99), 50_000n, T0 + D + 1)]));
  out.push(
    s("fan-out: 10 wallets that are 9 customers (two are one customer's)", 'fan-out', 0, [...pay(8, x), transfer(wa, wb, 50_000n, T0 + 9 * H), transfer(wa, wallet('b2'), 50_000n, T0 + 10 * H)], {
      accounts: [
        { accountId: A, wallets: [wa, wa2] },
        { accountId: B, wallets: [wb, wallet('b2')] },
      ],
    }),
  );
  out.push(
    s(
      'fan-in: 10 distinct payers within a day',
      'fan-in',
      1,
      Array.from({ length: 10 }, (_, k) => transfer(x(k), wa, 50_000n, T0 + k * H)),
    ),
  );
  out.push(
    s(
      'fan-in: 9 distinct payers',
      'fan-in',
      0,
      Array.from({ length: 9 }, (_, k) => transfer(x(k), wa, 50_000n, T0 + k * H)),
    ),
  );

  // Cycle.
  {
    const es = [transfer(wa, x(1), 300_000n, T0), transfer(x(1), x(2), 290_000n, T0 + D), transfer(x(2), wa, 280_000n, T0 + 2 * D)];
    out.push(s('cycle: A → X → Y → A within a week', 'cycle', 1, es, { evidence: es.map(evidenceIdOf), subject: A }));
  }
  out.push(s('cycle: A → X → A (depth 2)', 'cycle', 1, [transfer(wa, x(1), 300_000n, T0), transfer(x(1), wa, 290_000n, T0 + H)]));
  out.push(
    s('cycle: depth 4', 'cycle', 1, [transfer(wa, x(1), 300_000n, T0), transfer(x(1), x(2), 290_000n, T0 + H), transfer(x(2), x(3), 280_000n, T0 + 2 * H), transfer(x(3), wa, 270_000n, T0 + 3 * H)]),
  );
  out.push(
    s('cycle: depth 5 is beyond the rule', 'cycle', 0, [
      transfer(wa, x(1), 300_000n, T0),
      transfer(x(1), x(2), 290_000n, T0 + H),
      transfer(x(2), x(3), 280_000n, T0 + 2 * H),
      transfer(x(3), x(4), 270_000n, T0 + 3 * H),
      transfer(x(4), wa, 260_000n, T0 + 4 * H),
    ]),
  );
  out.push(s('cycle: the closing hop arrives first', 'cycle', 1, [transfer(x(2), wa, 280_000n, T0 + 2 * D), transfer(x(1), x(2), 290_000n, T0 + D), transfer(wa, x(1), 300_000n, T0)]));
  out.push(s('cycle: value returns 1 ms after the window', 'cycle', 0, [transfer(wa, x(1), 300_000n, T0), transfer(x(1), x(2), 290_000n, T0 + D), transfer(x(2), wa, 280_000n, T0 + 7 * D + 1)]));
  out.push(s('cycle: only 40% returns', 'cycle', 0, [transfer(wa, x(1), 300_000n, T0), transfer(x(1), x(2), 290_000n, T0 + D), transfer(x(2), wa, 120_000n, T0 + 2 * D)]));
  out.push(s("cycle: through the customer's own wallets", 'cycle', 0, [transfer(wa, wa2, 300_000n, T0), transfer(wa2, wa, 290_000n, T0 + H)]));
  out.push(s('cycle: hops out of time order are no cycle', 'cycle', 0, [transfer(x(1), x(2), 290_000n, T0), transfer(wa, x(1), 300_000n, T0 + D), transfer(x(2), wa, 280_000n, T0 + 2 * D)]));

  // Watch list.
  const sanctioned = x(666);
  out.push(s('watch list: tokens from a sanctioned address', 'watchlist-wallet', 1, [transfer(sanctioned, wa, 1_000n, T0)], { watch: [sanctioned], subject: sanctioned }));
  out.push(s('watch list: the same transfer with nobody listed', 'watchlist-wallet', 0, [transfer(x(7), wa, 1_000n, T0)], { watch: [sanctioned] }));
  out.push(s('watch list: every movement touching it is reported', 'watchlist-wallet', 2, [transfer(sanctioned, wa, 1_000n, T0), transfer(wb, sanctioned, 1_000n, T0 + 1)], { watch: [sanctioned] }));

  // Dormant reactivation.
  out.push(s('dormant: 90 days silent, then 6,000', 'dormant', 1, [entry(A, 10_000n, T0), entry(A, 600_000n, T0 + 90 * D)]));
  out.push(s('dormant: 89 days silent', 'dormant', 0, [entry(A, 10_000n, T0), entry(A, 600_000n, T0 + 89 * D)]));
  out.push(s('dormant: 90 days silent, then 4,999.99', 'dormant', 0, [entry(A, 10_000n, T0), entry(A, 499_999n, T0 + 90 * D)]));
  out.push(s('dormant: a new customer is not a dormant one', 'dormant', 0, [entry(A, 600_000n, T0 + 90 * D)]));
  return out;
}
