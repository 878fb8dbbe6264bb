import type { Fact } from './facts.js';
import type { IdentityChange } from './identityMap.js';

/**
 * The identity_changes facts of one mapping update: one per wallet changed, with the id
 * `<seq>:<wallet>` so every worker replaying the MAPPINGS stream derives the same fact.
 */
export function identityChangeFacts(changes: readonly IdentityChange[], update: { seq: number; publishedAt: number }, recordedAt: number): Fact[] {
  return changes.map((c) => ({
    table: 'identity_changes',
    row: {
      change_id: `${update.seq}:${c.wallet}`,
      mapping_seq: update.seq,
      wallet: c.wallet,
      kind: c.kind,
      from_account: c.from ?? '',
      to_account: c.to ?? '',
      effective_at: update.publishedAt,
      recorded_at: recordedAt,
    },
  }));
}
