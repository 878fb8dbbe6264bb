/**
 * A seeded generator of bank and chain traffic for tokenized deposits, as a plan of timed steps
 * (no I/O): the demo executes it against JetStream and anvil, tests inspect it directly.
 *
 * Clean traffic: deposits (bank DEPOSIT credit, then a mint of the same amount to the customer's
 * wallet, some booked PENDING first), withdrawals (a burn from the wallet, then the bank
 * WITHDRAWAL debit), customer-to-customer transfers (a wallet-to-wallet token transfer mirrored
 * by a TRANSFER debit and credit) and fees (a FEE debit and credit mirrored by a token transfer to
 * the bank's fee wallet). Clean traffic keeps each account's bank balance equal to its wallet's
 * token balance, so whatever the engine reports beyond the injected faults is a false positive.
 *
 * Faults replace a share of the scenarios; each step carries a label naming its scenario, the
 * fault and the discrepancy kinds the engine must report for it.
 */
import type { DiscrepancyKind } from '../domain/types.js';
import { currencyExponent } from '../domain/currencies.js';
import { SCHEMA_HEADER, SCHEMA_SUBJECT, type LedgerPosting } from '../streams/ledgerCodec.js';
import { createRandom, type Random } from './random.js';

export type FaultKind =
  | 'missing_mint'
  | 'missing_bank_credit'
  | 'missing_burn'
  | 'missing_bank_debit'
  | 'amount_mismatch'
  | 'duplicate'
  | 'orphan_mint'
  | 'orphan_posting'
  | 'poison_bytes'
  | 'poison_currency'
  /** A credit minted only in part (one tranche carrying its reference, the rest never). */
  | 'partial_tranche'
  /** A mint a few percent off its credit, no reference: the loose rule proposes the pair. */
  | 'near_amount';

export const FAULT_KINDS: readonly FaultKind[] = [
  'missing_mint',
  'missing_bank_credit',
  'missing_burn',
  'missing_bank_debit',
  'amount_mismatch',
  'duplicate',
  'orphan_mint',
  'orphan_posting',
  'poison_bytes',
  'poison_currency',
  'partial_tranche',
  'near_amount',
];

/** What the engine must report: a discrepancy kind, or a dead letter for input it cannot read. */
export type Expectation = DiscrepancyKind | 'DEAD_LETTER';

/**
 * The findings each fault must produce under the shipped matching rules
 * (config/matching-rules.yaml). A mint 20-45 % off its credit, with no reference to tie them, is
 * one AMOUNT_MISMATCH naming both legs (rule amount-typed-wrong) when the windows close; a mint
 * 1-4 % off is a PROPOSED_MATCH (rule nearest-amount), whose legs also open a MISSING_* until an
 * operator decides.
 */
export const EXPECTED_OF_FAULT: Readonly<Record<FaultKind, readonly Expectation[]>> = {
  missing_mint: ['MISSING_MINT'],
  missing_bank_credit: ['MISSING_BANK_CREDIT'],
  missing_burn: ['MISSING_BURN'],
  missing_bank_debit: ['MISSING_BANK_DEBIT'],
  amount_mismatch: ['AMOUNT_MISMATCH'],
  partial_tranche: ['PARTIALLY_MATCHED'],
  near_amount: ['PROPOSED_MATCH'],
  duplicate: ['DUPLICATE'],
  orphan_mint: ['ORPHAN_CHAIN_EVENT'],
  orphan_posting: ['ORPHAN_LEDGER_ENTRY'],
  poison_bytes: ['DEAD_LETTER'],
  poison_currency: ['DEAD_LETTER'],
};

export type ScenarioKind = 'deposit' | 'withdrawal' | 'transfer' | 'fee' | 'orphan' | 'poison';

/** Shared by every step of one scenario. */
export interface StepLabel {
  scenarioId: string;
  scenario: ScenarioKind;
  fault: FaultKind | null;
  /** Empty for clean traffic. */
  expect: readonly Expectation[];
  /** One line for humans ("deposit 1234.56 USD to ACC-123456: credit, mint"). */
  note: string;
  /** Clean but imperfect (a fee, tranches, a rounding): the matching rule that must reconcile it. */
  reconcileBy?: string;
}

export interface Customer {
  accountId: string;
  /** Lower-case 0x address. */
  wallet: string;
  /** Index of the anvil account that signs for this wallet, or null (mint/burn targets only). */
  signerIndex: number | null;
}

interface StepBase {
  /** Offset from the start of the run, ms. */
  at: number;
  label: StepLabel;
}

export type Step = StepBase &
  (
    | {
        kind: 'posting';
        posting: LedgerPosting;
        /** Avro schema version to encode with (a share of producers still write v1). */
        schemaVersion: number;
        /** Appended to the JetStream msgID of a deliberate redelivery, so JetStream keeps it. */
        msgIdSuffix?: string;
      }
    /** Owner mints `amount` token base units to `to` (with a bytes32 reference when given). */
    | { kind: 'mint'; to: string; amount: bigint; reference?: string }
    /** Owner burns `amount` token base units held by `from`. */
    | { kind: 'burn'; from: string; amount: bigint }
    /** Anvil account `fromIndex` (wallet `from`) sends `amount` base units to `to`. */
    | { kind: 'transfer'; fromIndex: number; from: string; to: string; amount: bigint }
    /** Bytes no decoder accepts, published on the ledger subject with these headers. */
    | { kind: 'poison'; entryId: string; bytes: Uint8Array; headers: Record<string, string>; reason: string }
  );

export interface Scenario {
  label: StepLabel;
  /** Bank entry ids of its postings (its bank legs are `bank:<entryId>`). */
  entryIds: string[];
}

export interface TrafficOptions {
  seed: number;
  durationMs: number;
  /** Scenarios per second; each is about one ledger posting. */
  rate: number;
  /** Share of scenarios that carry a fault, 0..1. */
  faultShare: number;
  /** Epoch ms of offset 0: a posting's booking time is `startTime + at`. */
  startTime: number;
  /** Wallets the executor can sign transfers for, e.g. anvil accounts 1..9. */
  signers: readonly { accountIndex: number; address: string }[];
  /** Mapped customers (at least one per signer); those beyond the signers get generated addresses. */
  customers?: number;
  currency?: string;
  tokenDecimals?: number;
  /** Prefix of entry ids, so runs sharing a ledger never reuse one. */
  idPrefix?: string;
  /** Share of clean deposits with an everyday imperfection the matching rules reconcile (default 0.2). */
  imperfectShare?: number;
  /** Relative weights of the fault kinds (default equal); 0 disables a kind. */
  faultWeights?: Partial<Record<FaultKind, number>>;
}

export interface TrafficPlan {
  options: Required<Omit<TrafficOptions, 'faultWeights'>> & { faultWeights: Record<FaultKind, number> };
  customers: Customer[];
  /** The bank's fee income account and the wallet fees are collected into (mapped, receive-only). */
  feeAccount: Customer;
  scenarios: Scenario[];
  /** Sorted by `at`. */
  steps: Step[];
  /** Account mappings to configure: every customer plus the fee account. */
  accountMappings: { accountId: string; wallets: string[] }[];
}

const CHANNELS = ['core', 'mobile', 'online', 'branch', 'api'] as const;
const CLEAN_WEIGHTS = { deposit: 45, withdrawal: 25, transfer: 15, fee: 15 } as const;

/** Builds the plan; the same options (seed included) always give the same plan. */
export function generateTrafficPlan(o: TrafficOptions): TrafficPlan {
  if (!(o.rate > 0)) throw new Error(`rate must be positive, got ${o.rate}`);
  if (!(o.faultShare >= 0 && o.faultShare <= 1)) throw new Error(`faultShare must be in [0, 1], got ${o.faultShare}`);
  const r = createRandom(o.seed);
  const currency = o.currency ?? 'USD';
  const exponent = currencyExponent(currency);
  const decimals = o.tokenDecimals ?? 18;
  const idPrefix = o.idPrefix ?? 'GEN';
  const faultWeights = Object.fromEntries(FAULT_KINDS.map((k) => [k, o.faultWeights?.[k] ?? 1])) as Record<FaultKind, number>;
  const options = {
    seed: o.seed,
    durationMs: o.durationMs,
    rate: o.rate,
    faultShare: o.faultShare,
    startTime: o.startTime,
    signers: o.signers,
    customers: Math.max(o.customers ?? 12, o.signers.length, 2),
    currency,
    tokenDecimals: decimals,
    idPrefix,
    imperfectShare: o.imperfectShare ?? 0.2,
    faultWeights,
  };
  const toBase = (minor: bigint) => (decimals >= exponent ? minor * 10n ** BigInt(decimals - exponent) : minor / 10n ** BigInt(exponent - decimals));
  const address = () => `0x${r.hex(20)}`;

  // Customers: distinct account numbers; the first ones sign with anvil's funded accounts.
  const used = new Set<string>();
  const accountNumber = (lo: number, hi: number) => {
    for (;;) {
      const id = `ACC-${String(r.int(lo, hi)).padStart(6, '0')}`;
      if (!used.has(id)) {
        used.add(id);
        return id;
      }
    }
  };
  const customers: Customer[] = [];
  for (let i = 0; i < options.customers; i++) {
    const signer = o.signers[i];
    customers.push({
      accountId: accountNumber(100, 899_999),
      wallet: (signer?.address ?? address()).toLowerCase(),
      signerIndex: signer?.accountIndex ?? null,
    });
  }
  const feeAccount: Customer = { accountId: 'BNK-FEE-INCOME', wallet: address(), signerIndex: null };

  // Books as the plan leaves them, to keep burns and transfers within what the wallet holds.
  const bank = new Map<string, bigint>();
  const tokens = new Map<string, bigint>();
  const apply = (m: Map<string, bigint>, k: string, v: bigint) => m.set(k, (m.get(k) ?? 0n) + v);
  // Decreases count at once, increases only from the offset of the step that makes them, so a
  // later scenario never burns or sends tokens whose mint is still scheduled.
  let incoming: { at: number; m: Map<string, bigint>; k: string; v: bigint }[] = [];
  let now = 0;
  const add = (m: Map<string, bigint>, k: string, v: bigint, at = now) => {
    if (v < 0n) apply(m, k, v);
    else incoming.push({ at, m, k, v });
  };
  const advanceTo = (t: number) => {
    now = t;
    const due = incoming.filter((x) => x.at <= t);
    incoming = incoming.filter((x) => x.at > t);
    for (const x of due) apply(x.m, x.k, x.v);
  };
  const spendable = (c: Customer) => {
    const b = bank.get(c.accountId) ?? 0n;
    const t = tokens.get(c.wallet) ?? 0n;
    return b < t ? b : t;
  };

  const steps: Step[] = [];
  const scenarios: Scenario[] = [];
  let entrySeq = 0;
  const nextEntryId = () => `${idPrefix}-${String(++entrySeq).padStart(6, '0')}`;
  const money = (minor: bigint) => {
    const s = minor.toString().padStart(exponent + 1, '0');
    return exponent === 0 ? s : `${s.slice(0, -exponent)}.${s.slice(-exponent)}`;
  };

  function posting(
    at: number,
    p: {
      entryId: string;
      accountId: string;
      direction: 'credit' | 'debit';
      amountMinor: bigint;
      txType: LedgerPosting['txType'];
      status?: LedgerPosting['status'];
      currency?: string;
      endToEndId?: string | null;
      remittance?: string | null;
      tokenizationRef?: string | null;
      bookingAt?: number;
    },
    legacy: boolean,
  ): LedgerPosting {
    const bookingTime = o.startTime + Math.round(p.bookingAt ?? at);
    return {
      entryId: p.entryId,
      accountId: p.accountId,
      direction: p.direction,
      amountMinor: p.amountMinor,
      currency: p.currency ?? currency,
      bookingTime,
      valueTime: bookingTime,
      status: p.status ?? 'booked',
      txType: p.txType,
      endToEndId: p.endToEndId ?? null,
      remittance: p.remittance ?? null,
      // Most mints carry no reference, so most postings carry none either (matching by attributes);
      // tranches share one.
      tokenizationRef: p.tokenizationRef ?? null,
      ...(legacy ? {} : { channel: r.pick(CHANNELS) }),
    };
  }

  function scenario(t: number, kind: ScenarioKind, fault: FaultKind | null, note: string, reconcileBy?: string) {
    const label: StepLabel = {
      scenarioId: `S${String(scenarios.length + 1).padStart(5, '0')}`,
      scenario: kind,
      fault,
      expect: fault ? EXPECTED_OF_FAULT[fault] : [],
      note,
      ...(reconcileBy && { reconcileBy }),
    };
    const s: Scenario = { label, entryIds: [] };
    scenarios.push(s);
    return {
      post(at: number, p: Parameters<typeof posting>[1], msgIdSuffix?: string) {
        // Schema v1 has no tokenization reference: a posting that carries one is v2.
        const legacy = !p.tokenizationRef && r.chance(0.1);
        steps.push({ at: t + at, label, kind: 'posting', posting: posting(t + at, p, legacy), schemaVersion: legacy ? 1 : 2, ...(msgIdSuffix ? { msgIdSuffix } : {}) });
        if (!s.entryIds.includes(p.entryId)) s.entryIds.push(p.entryId);
      },
      mint: (at: number, to: string, amount: bigint, reference?: string) => steps.push({ at: t + at, label, kind: 'mint', to, amount, ...(reference && { reference }) }),
      burn: (at: number, from: string, amount: bigint) => steps.push({ at: t + at, label, kind: 'burn', from, amount }),
      transfer: (at: number, from: Customer, to: string, amount: bigint) => steps.push({ at: t + at, label, kind: 'transfer', fromIndex: from.signerIndex!, from: from.wallet, to, amount }),
      poison: (at: number, entryId: string, bytes: Uint8Array, headers: Record<string, string>, reason: string) => {
        steps.push({ at: t + at, label, kind: 'poison', entryId, bytes, headers, reason });
        s.entryIds.push(entryId);
      },
    };
  }

  const withdrawable = (min: bigint) => customers.filter((c) => spendable(c) >= min);
  const signersWithFunds = (min: bigint) => customers.filter((c) => c.signerIndex !== null && spendable(c) >= min);
  /** Somewhere in [lo, hi] minor units, at most `cap`. */
  const partOf = (cap: bigint, lo: bigint, share: number) => {
    const hi = (cap * BigInt(Math.round(share * 1000))) / 1000n;
    if (hi <= lo) return cap < lo ? cap : lo;
    return lo + BigInt(Math.floor(r.next() * Number(hi - lo)));
  };

  /** The everyday imperfections the shipped matching rules reconcile, and the rule that must. */
  const IMPERFECTIONS = { fee: 'deposit-fee', tranches: 'tranches', rounding: 'token-rounding' } as const;

  function deposit(t: number, fault: 'missing_mint' | 'missing_bank_credit' | 'amount_mismatch' | 'duplicate' | 'partial_tranche' | 'near_amount' | null) {
    const c = r.pick(customers);
    const amount = depositAmountMinor(r, exponent);
    const entryId = nextEntryId();
    // Clean traffic: a share of deposits carries an imperfection (a fee taken before minting, a
    // mint in two tranches, a fraction of a cent lost to the token's decimals).
    const imperfection = fault === null && amount >= 20n * 10n ** BigInt(exponent) && r.chance(options.imperfectShare) ? r.pick(['fee', 'tranches', 'rounding'] as const) : null;
    const what =
      fault === 'missing_mint'
        ? 'credit, no mint'
        : fault === 'missing_bank_credit'
          ? 'mint, no credit'
          : fault === 'amount_mismatch'
            ? 'credit, mint 20-45 % off, no reference'
            : fault === 'near_amount'
              ? 'credit, mint 1-4 % off, no reference'
              : fault === 'partial_tranche'
                ? 'credit with a reference, one tranche minted, the rest never'
                : fault === 'duplicate'
                  ? 'credit, mint, credit redelivered with another amount'
                  : imperfection === 'fee'
                    ? 'credit, 0.50 fee debit, mint less the fee'
                    : imperfection === 'tranches'
                      ? 'credit with a reference, minted in two tranches carrying it'
                      : imperfection === 'rounding'
                        ? 'credit, mint 1 wei short'
                        : 'credit, mint';
    const s = scenario(t, 'deposit', fault, `deposit ${money(amount)} ${currency} to ${c.accountId}: ${what}`, imperfection ? IMPERFECTIONS[imperfection] : undefined);
    const reference = imperfection === 'tranches' || fault === 'partial_tranche' ? `TR${r.hex(10).toUpperCase()}` : null;
    const credit = {
      entryId,
      accountId: c.accountId,
      direction: 'credit' as const,
      amountMinor: amount,
      txType: 'deposit' as const,
      endToEndId: `E2E${r.hex(8).toUpperCase()}`,
      remittance: r.pick(['Tokenize deposit', 'Wire in: tokenize', 'Deposit to token wallet', 'Top-up']),
      tokenizationRef: reference,
    };
    let creditAt = 0;
    if (fault !== 'missing_bank_credit') {
      if (fault === null && imperfection === null && r.chance(0.15)) {
        // Booked pending first (e.g. a card top-up), booked a moment later with the same booking time.
        s.post(0, { ...credit, status: 'pending' });
        creditAt = r.int(800, 2_500);
        s.post(creditAt, { ...credit, bookingAt: t });
      } else {
        s.post(0, credit);
      }
      add(bank, c.accountId, amount, t + creditAt);
    }
    const mintAt = creditAt + r.int(200, 2_000);
    const share = (lo: number, hi: number) => (amount * BigInt(r.int(lo, hi))) / 100n;
    const mintOf = (value: bigint, at = mintAt, ref?: string) => {
      s.mint(at, c.wallet, toBase(value), ref);
      add(tokens, c.wallet, value, t + at);
    };
    if (fault === 'amount_mismatch') mintOf(amount + share(20, 45));
    else if (fault === 'near_amount') mintOf(amount + share(1, 4));
    else if (fault === 'partial_tranche') mintOf(share(30, 70), mintAt, reference!);
    else if (imperfection === 'fee') {
      // A 0.50 fee (in minor units of a 2-decimal currency) debited at the bank, the rest minted.
      const fee = 50n;
      s.post(r.int(50, 150), { entryId: nextEntryId(), accountId: c.accountId, direction: 'debit', amountMinor: fee, txType: 'fee', remittance: 'Tokenization fee', bookingAt: t });
      add(bank, c.accountId, -fee, t);
      mintOf(amount - fee);
    } else if (imperfection === 'tranches') {
      const first = share(30, 70);
      mintOf(first, mintAt, reference!);
      mintOf(amount - first, mintAt + r.int(300, 1_500), reference!);
    } else if (imperfection === 'rounding') {
      s.mint(mintAt, c.wallet, toBase(amount) - 1n);
      add(tokens, c.wallet, amount, t + mintAt);
    } else if (fault !== 'missing_mint') mintOf(amount);
    if (fault === 'duplicate') {
      s.post(mintAt + r.int(2_000, 4_000), { ...credit, amountMinor: mismatchedAmount(r, amount), bookingAt: t }, 'redelivered');
    }
  }

  function withdrawal(t: number, fault: 'missing_burn' | 'missing_bank_debit' | null): boolean {
    const candidates = withdrawable(BigInt(10 * 10 ** exponent));
    if (candidates.length === 0) return false;
    const c = r.pick(candidates);
    const amount = partOf(spendable(c), BigInt(10 * 10 ** exponent), 0.8);
    const what = fault === 'missing_burn' ? 'debit, no burn' : fault === 'missing_bank_debit' ? 'burn, no debit' : 'burn, debit';
    const s = scenario(t, 'withdrawal', fault, `withdrawal ${money(amount)} ${currency} from ${c.accountId}: ${what}`);
    const debitAt = r.int(300, 2_000);
    if (fault !== 'missing_burn') {
      s.burn(0, c.wallet, toBase(amount));
      add(tokens, c.wallet, -amount);
    }
    if (fault !== 'missing_bank_debit') {
      s.post(debitAt, {
        entryId: nextEntryId(),
        accountId: c.accountId,
        direction: 'debit',
        amountMinor: amount,
        txType: 'withdrawal',
        endToEndId: `E2E${r.hex(8).toUpperCase()}`,
        remittance: r.pick(['Redeem tokens', 'Wire out', 'Withdrawal to bank account']),
      });
      add(bank, c.accountId, -amount);
    }
    return true;
  }

  function transfer(t: number): boolean {
    const senders = signersWithFunds(BigInt(5 * 10 ** exponent));
    if (senders.length === 0) return false;
    const from = r.pick(senders);
    const to = r.pick(customers.filter((c) => c !== from));
    const amount = partOf(spendable(from), BigInt(5 * 10 ** exponent), 0.5);
    const s = scenario(t, 'transfer', null, `transfer ${money(amount)} ${currency} ${from.accountId} -> ${to.accountId}: token transfer, debit, credit`);
    const e2e = `E2E${r.hex(8).toUpperCase()}`;
    s.transfer(0, from, to.wallet, toBase(amount));
    const at = r.int(300, 2_000);
    now = t + at;
    s.post(at, { entryId: nextEntryId(), accountId: from.accountId, direction: 'debit', amountMinor: amount, txType: 'transfer', endToEndId: e2e, remittance: `To ${to.accountId}` });
    s.post(at, { entryId: nextEntryId(), accountId: to.accountId, direction: 'credit', amountMinor: amount, txType: 'transfer', endToEndId: e2e, remittance: `From ${from.accountId}` });
    for (const [m, k1, k2] of [
      [bank, from.accountId, to.accountId],
      [tokens, from.wallet, to.wallet],
    ] as const) {
      add(m, k1, -amount);
      add(m, k2, amount);
    }
    return true;
  }

  function fee(t: number): boolean {
    const amount = BigInt(r.int(50, 3_500)) * 10n ** BigInt(Math.max(0, exponent - 2));
    const payers = signersWithFunds(amount);
    if (payers.length === 0) return false;
    const c = r.pick(payers);
    const s = scenario(t, 'fee', null, `fee ${money(amount)} ${currency} on ${c.accountId}: debit, fee income credit, token transfer to the fee wallet`);
    const e2e = `FEE${r.hex(6).toUpperCase()}`;
    const remittance = r.pick(['Monthly account fee', 'Wire fee', 'FX fee', 'Card fee']);
    s.post(0, { entryId: nextEntryId(), accountId: c.accountId, direction: 'debit', amountMinor: amount, txType: 'fee', endToEndId: e2e, remittance });
    s.post(0, { entryId: nextEntryId(), accountId: feeAccount.accountId, direction: 'credit', amountMinor: amount, txType: 'fee', endToEndId: e2e, remittance });
    const sendAt = r.int(200, 1_500);
    s.transfer(sendAt, c, feeAccount.wallet, toBase(amount));
    now = t + sendAt;
    add(bank, c.accountId, -amount);
    add(bank, feeAccount.accountId, amount);
    add(tokens, c.wallet, -amount);
    add(tokens, feeAccount.wallet, amount);
    return true;
  }

  function orphan(t: number, fault: 'orphan_mint' | 'orphan_posting') {
    const amount = depositAmountMinor(r, exponent);
    if (fault === 'orphan_mint') {
      const wallet = address();
      const s = scenario(t, 'orphan', fault, `mint ${money(amount)} ${currency} to unmapped wallet ${wallet}`);
      s.mint(0, wallet, toBase(amount));
    } else {
      const accountId = accountNumber(900_000, 999_999);
      const s = scenario(t, 'orphan', fault, `deposit ${money(amount)} ${currency} to unmapped account ${accountId}`);
      s.post(0, { entryId: nextEntryId(), accountId, direction: 'credit', amountMinor: amount, txType: 'deposit', remittance: 'Tokenize deposit' });
    }
  }

  function poison(t: number, fault: 'poison_bytes' | 'poison_currency') {
    const c = r.pick(customers);
    const entryId = nextEntryId();
    if (fault === 'poison_bytes') {
      const s = scenario(t, 'poison', fault, `ledger message ${entryId} sent as JSON instead of Avro`);
      const json = JSON.stringify({ entryId, accountId: c.accountId, amount: money(depositAmountMinor(r, exponent)), currency });
      s.poison(0, entryId, new TextEncoder().encode(json), { [SCHEMA_HEADER]: `${SCHEMA_SUBJECT}/2`, 'Content-Type': 'application/json' }, 'JSON bytes under an Avro schema header');
    } else {
      const s = scenario(t, 'poison', fault, `deposit ${entryId} on ${c.accountId} in unknown currency XTS`);
      s.post(0, { entryId, accountId: c.accountId, direction: 'credit', amountMinor: depositAmountMinor(r, exponent), txType: 'deposit', currency: 'XTS' });
    }
  }

  // Poisson arrivals of scenarios over the run.
  const meanGapMs = 1_000 / o.rate;
  for (let t = r.exponential(meanGapMs); t < o.durationMs; t += r.exponential(meanGapMs)) {
    const at = Math.round(t);
    advanceTo(at);
    if (r.chance(o.faultShare)) {
      let fault = r.weighted(faultWeights);
      if (fault === 'missing_burn' || fault === 'missing_bank_debit') {
        // A withdrawal fault needs a funded customer; early in the run, fall back to a deposit fault.
        if (withdrawal(at, fault)) continue;
        fault = fault === 'missing_burn' ? 'missing_mint' : 'missing_bank_credit';
      }
      if (fault === 'orphan_mint' || fault === 'orphan_posting') orphan(at, fault);
      else if (fault === 'poison_bytes' || fault === 'poison_currency') poison(at, fault);
      else deposit(at, fault);
      continue;
    }
    const kind = r.weighted(CLEAN_WEIGHTS);
    if (kind === 'withdrawal' && withdrawal(at, null)) continue;
    if (kind === 'transfer' && transfer(at)) continue;
    if (kind === 'fee' && fee(at)) continue;
    deposit(at, null);
  }

  // Stable by time; steps of one scenario keep their causal order when offsets tie.
  steps.sort((a, b) => a.at - b.at);
  return {
    options,
    customers,
    feeAccount,
    scenarios,
    steps,
    accountMappings: [...customers, feeAccount].map((c) => ({ accountId: c.accountId, wallets: [c.wallet] })),
  };
}

/** Mostly 10 to 5,000 (log-uniform, a third of them round), sometimes up to 250,000, in minor units. */
export function depositAmountMinor(r: Random, exponent: number): bigint {
  const [lo, hi] = r.chance(0.08) ? [5_000, 250_000] : [10, 5_000];
  let major = Math.exp(Math.log(lo) + r.next() * (Math.log(hi) - Math.log(lo)));
  if (r.chance(0.35)) {
    const step = major >= 1_000 ? 100 : 10;
    return BigInt(Math.max(lo, Math.round(major / step) * step)) * 10n ** BigInt(exponent);
  }
  major = Math.max(lo, major);
  return BigInt(Math.round(major * 10 ** exponent));
}

/** A plausible wrong amount: a few minor units off, or a slipped digit. */
function mismatchedAmount(r: Random, amount: bigint): bigint {
  const other = r.chance(0.5) ? amount + BigInt(r.int(1, 999)) : amount * 10n;
  return other === amount ? amount + 1n : other;
}
