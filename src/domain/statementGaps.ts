/**
 * The bank's statements against the engine's books: for each account, the gap between a statement's
 * closing balance and the engine's running balance of the account at that point
 * (`statement_balance_gaps`). A constant gap is the account's balance from before the engine saw it;
 * a gap that changes between two consecutive statements means something was booked between them
 * that the engine did not see (or the other way round): a STATEMENT_BALANCE_MISMATCH of its own,
 * which resolves when the gap comes back (the missing posting arrives, the statement is corrected).
 */
export interface StatementGap {
  accountId: string;
  currency: string;
  statementId: string;
  balanceTime: number;
  /** Statement minus engine, signed minor units. */
  gap: bigint;
}

export interface EngineGapMismatch {
  id: string;
  accountId: string;
  currency: string;
  statementId: string;
  previousStatementId: string;
  /** How much the gap moved: booked at the bank and not seen by the engine (positive) or the reverse. */
  change: bigint;
  gap: bigint;
}

/** The mismatches among statements judged (older than the grace), in statement order per account and currency. */
export function engineGapMismatches(rows: readonly StatementGap[]): EngineGapMismatch[] {
  const byAccount = new Map<string, StatementGap[]>();
  for (const r of rows) {
    const k = `${r.accountId}|${r.currency}`;
    const list = byAccount.get(k) ?? [];
    list.push(r);
    byAccount.set(k, list);
  }
  const out: EngineGapMismatch[] = [];
  for (const list of byAccount.values()) {
    list.sort((a, b) => a.balanceTime - b.balanceTime || a.statementId.localeCompare(b.statementId));
    for (let i = 1; i < list.length; i++) {
      const prev = list[i - 1]!;
      const cur = list[i]!;
      if (cur.gap === prev.gap) continue;
      out.push({
        id: `STATEMENT_BALANCE_MISMATCH:engine:${cur.accountId}:${cur.statementId}`,
        accountId: cur.accountId,
        currency: cur.currency,
        statementId: cur.statementId,
        previousStatementId: prev.statementId,
        change: cur.gap - prev.gap,
        gap: cur.gap,
      });
    }
  }
  return out;
}
