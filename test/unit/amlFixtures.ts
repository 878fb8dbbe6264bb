/** Builders shared by the AML unit and integration tests: entries, chain events, an engine. */
import { currencyExponent } from '../../src/domain/currencies.js';
import { IdentityMap } from '../../src/domain/identityMap.js';
import type { ChainEvent, LedgerEntry } from '../../src/domain/types.js';
import { createAmlEngine, type AmlEngine } from '../../src/aml/engine.js';
import { parseRuleSet, type RuleFileInput, type RuleSet } from '../../src/aml/ruleFile.js';
import { MemoryStateStore, type AmlStateStore } from '../../src/aml/stateStore.js';
import type { AmlAlertRow } from '../../src/domain/facts.js';

export const T0 = Date.UTC(2025, 0, 1);
export const H = 3_600_000;
export const D = 24 * H;
export const TOKEN = `0x${'ab'.repeat(20)}`;
export const CHAIN_ID = 1;
export const ZERO = `0x${'00'.repeat(20)}`;

let seq = 0;
export const wallet = (n: number | string) => `0x${String(n).padStart(40, '0')}`.toLowerCase();
/** Cents → 18-decimal token base units. */
export const usd = (cents: bigint) => cents * 10n ** 16n;

export function entry(accountId: string, amountMinor: bigint, time: number, o: Partial<LedgerEntry> = {}): LedgerEntry {
  return {
    entryId: `e${++seq}`,
    accountId,
    direction: 'credit',
    amountMinor,
    currency: 'USD',
    exponent: 2,
    bookingTime: time,
    valueTime: time,
    status: 'booked',
    txType: 'deposit',
    endToEndId: null,
    remittance: null,
    tokenizationRef: null,
    schemaVersion: 2,
    ...o,
  };
}

export function chainEvent(kind: 'mint' | 'burn' | 'transfer', from: string, to: string, cents: bigint, time: number, value?: bigint): ChainEvent {
  const n = ++seq;
  const blockHash = `0x${n.toString(16).padStart(64, '0')}`;
  return {
    eventId: `${CHAIN_ID}:${blockHash}:0`,
    chainId: CHAIN_ID,
    token: TOKEN,
    blockNumber: BigInt(n),
    blockHash,
    blockTime: time,
    txHash: blockHash,
    logIndex: 0,
    kind,
    from: kind === 'mint' ? ZERO : from,
    to: kind === 'burn' ? ZERO : to,
    value: value ?? usd(cents),
    decimals: 18,
    reference: null,
  };
}
export const transfer = (from: string, to: string, cents: bigint, time: number) => chainEvent('transfer', from, to, cents, time);

export type AmlInput = LedgerEntry | ChainEvent;
export const isChain = (e: AmlInput): e is ChainEvent => 'blockHash' in e;
export const evidenceIdOf = (e: AmlInput) => (isChain(e) ? `chain:${e.eventId}` : `bank:${e.entryId}`);

export const BASE_RULES: RuleFileInput = {
  version: 'test-1',
  rules: [
    { id: 'large-value', type: 'large_value', scope: 'customer', threshold: { '*': '10000' }, suppress: 0 },
    { id: 'structuring', type: 'structuring', scope: 'customer', threshold: { '*': '10000' }, nearBelow: '20%', minCount: 3, window: '24h', suppress: '24h' },
    { id: 'pass-through', type: 'pass_through', scope: 'customer', window: '24h', minAmount: { '*': '5000' }, minOutShare: '80%' },
    { id: 'velocity', type: 'velocity', scope: 'customer', period: '24h', baselinePeriods: 14, factor: 5, minCount: 15, minValue: { '*': '50000' } },
    { id: 'fan-out', type: 'fan_out', scope: 'customer', window: '24h', minCounterparties: 10 },
    { id: 'fan-in', type: 'fan_in', scope: 'customer', window: '24h', minCounterparties: 10 },
    { id: 'cycle', type: 'cycle', scope: 'customer', window: '7d', minDepth: 2, maxDepth: 4, minAmount: { '*': '1000' }, minReturnShare: '50%', suppress: '7d' },
    { id: 'watchlist-wallet', type: 'watchlist', scope: 'wallet', severity: 'critical' },
    { id: 'dormant', type: 'dormant', scope: 'customer', dormancy: '90d', threshold: { '*': '5000' }, suppress: '30d' },
  ],
};

export interface Rig {
  engine: AmlEngine;
  identities: IdentityMap;
  watch: Set<string>;
  setRules(doc: RuleFileInput): void;
  /** Feeds events in order; returns every alert row raised (replays included, flagged). */
  feed(events: readonly AmlInput[]): Promise<{ alerts: AmlAlertRow[]; replayed: boolean[] }>;
}

export function rig(o: { accounts?: { accountId: string; wallets: string[] }[]; store?: AmlStateStore; rules?: RuleFileInput } = {}): Rig {
  const identities = new IdentityMap(currencyExponent, { accounts: o.accounts ?? [], tokens: [{ chainId: CHAIN_ID, address: TOKEN, currency: 'USD' }] });
  let rules: RuleSet = parseRuleSet(o.rules ?? BASE_RULES);
  const watch = new Set<string>();
  const engine = createAmlEngine({ store: o.store ?? new MemoryStateStore(), identities, rules: () => rules, watchlist: () => watch, now: () => T0 });
  return {
    engine,
    identities,
    watch,
    setRules(doc) {
      rules = parseRuleSet(doc);
    },
    async feed(events) {
      const alerts: AmlAlertRow[] = [];
      const replayed: boolean[] = [];
      for (const e of events) {
        const r = isChain(e) ? await engine.onChainEvent(e) : await engine.onLedgerEntry(e);
        alerts.push(...r.alerts);
        replayed.push(r.replayed);
      }
      return { alerts, replayed };
    },
  };
}

export const ids = (alerts: readonly AmlAlertRow[], rule?: string) => alerts.filter((a) => !rule || a.rule_id === rule).map((a) => a.alert_id);
