import type { IdentityView } from './legs.js';
import { tokenKeyOf } from './legs.js';

export interface AccountMapping {
  accountId: string;
  wallets: readonly string[];
  /** The customer's peer segment (`retail`, `sme`, `corporate`…); absent: `default`. */
  segment?: string | undefined;
}

/** The segment of a customer the mapping names none for. */
export const DEFAULT_SEGMENT = 'default';
/** A segment name: lower-case letters, digits, `.`, `_`, `-`, at most 64 characters (it is part of stored keys). */
export const SEGMENT_PATTERN = /^[a-z0-9][a-z0-9_.-]{0,63}$/;

/**
 * One wallet whose account changed through a mapping update: `linked` (it had none), `moved` (from
 * another account) or `unlinked` (its account no longer lists it). `from`/`to` are null when absent.
 */
export interface IdentityChange {
  kind: 'linked' | 'moved' | 'unlinked';
  /** Lower case. */
  wallet: string;
  from: string | null;
  to: string | null;
}

/**
 * Bank account ↔ wallet(s) and token ↔ currency, seeded from configuration and updated by the
 * bank's mapping messages. A wallet belongs to one account; re-linking it moves it.
 */
export class IdentityMap implements IdentityView {
  private readonly walletToAccount = new Map<string, string>();
  private readonly accountToWallets = new Map<string, Set<string>>();
  private readonly tokenCurrency = new Map<string, string>();
  /** Accounts with a segment other than the default (an update without one resets it). */
  private readonly segments = new Map<string, string>();

  constructor(
    private readonly exponent: (currency: string) => number,
    seed: { accounts?: readonly AccountMapping[]; tokens?: readonly { chainId: number; address: string; currency: string }[] } = {},
  ) {
    for (const a of seed.accounts ?? []) this.setAccount(a);
    for (const t of seed.tokens ?? []) this.tokenCurrency.set(tokenKeyOf(t.chainId, t.address), t.currency);
  }

  /** The accounts that have wallets, sorted (the customers the risk score ranks). */
  accounts(): string[] {
    return [...this.accountToWallets.keys()].sort();
  }

  /**
   * Replaces the wallets of an account (an empty list unmaps it) and returns what changed, wallet by
   * wallet (a segment change is no identity change): the listed wallets in the order given, then the dropped ones. Deterministic: the same
   * sequence of updates from the same seed yields the same changes on every worker.
   */
  setAccount(m: AccountMapping): IdentityChange[] {
    // An update is the account's whole mapping: its segment too (none: the default).
    if (m.segment === undefined || m.segment === DEFAULT_SEGMENT) this.segments.delete(m.accountId);
    else this.segments.set(m.accountId, m.segment);
    const wallets = new Set(m.wallets.map((w) => w.toLowerCase()));
    const changes: IdentityChange[] = [];
    for (const w of wallets) {
      const previous = this.walletToAccount.get(w);
      if (previous === m.accountId) continue;
      changes.push(previous === undefined ? { kind: 'linked', wallet: w, from: null, to: m.accountId } : { kind: 'moved', wallet: w, from: previous, to: m.accountId });
    }
    for (const w of this.accountToWallets.get(m.accountId) ?? []) {
      if (!wallets.has(w)) changes.push({ kind: 'unlinked', wallet: w, from: m.accountId, to: null });
      this.walletToAccount.delete(w);
    }
    for (const w of wallets) {
      const previous = this.walletToAccount.get(w);
      if (previous && previous !== m.accountId) {
        const left = this.accountToWallets.get(previous);
        left?.delete(w);
        if (left?.size === 0) this.accountToWallets.delete(previous);
      }
      this.walletToAccount.set(w, m.accountId);
    }
    if (wallets.size === 0) this.accountToWallets.delete(m.accountId);
    else this.accountToWallets.set(m.accountId, wallets);
    return changes;
  }

  /** The peer segment of a customer (an account, or an unmapped wallet standing for itself): `default` unless its mapping names one. */
  segmentOf(customer: string): string {
    return this.segments.get(customer) ?? DEFAULT_SEGMENT;
  }

  /** The customers of the segment statistics, sorted: accounts with wallets, and accounts with a segment but no wallet. */
  segmentCustomers(): { customer: string; segment: string }[] {
    return [...new Set([...this.accountToWallets.keys(), ...this.segments.keys()])].sort().map((customer) => ({ customer, segment: this.segmentOf(customer) }));
  }

  accountOfWallet(wallet: string): string | undefined {
    return this.walletToAccount.get(wallet.toLowerCase());
  }

  walletsOfAccount(accountId: string): readonly string[] {
    return [...(this.accountToWallets.get(accountId) ?? [])];
  }

  currencyOfToken(tokenKey: string): string | undefined {
    return this.tokenCurrency.get(tokenKey.toLowerCase());
  }

  exponentOf(currency: string): number {
    return this.exponent(currency);
  }

  get accountCount(): number {
    return this.accountToWallets.size;
  }
}
