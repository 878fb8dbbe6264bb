import { describe, expect, it } from 'vitest';
import { engineGapMismatches, type StatementGap } from '../../src/domain/statementGaps.js';

const g = (statementId: string, balanceTime: number, gap: bigint, accountId = 'ACC-1'): StatementGap => ({ accountId, currency: 'EUR', statementId, balanceTime, gap });

describe('statement against engine', () => {
  it('accepts a constant gap (the balance from before the engine saw the account)', () => {
    expect(engineGapMismatches([g('S1', 1, 5_000n), g('S2', 2, 5_000n), g('S3', 3, 5_000n)])).toEqual([]);
  });

  it('flags the statement after which the gap moved, by how much, per account', () => {
    const m = engineGapMismatches([g('S2', 2, 5_700n), g('S1', 1, 5_000n), g('S3', 3, 5_700n), g('T1', 1, 0n, 'ACC-2'), g('T2', 2, -250n, 'ACC-2')]);
    expect(m.map((x) => [x.id, x.previousStatementId, x.change])).toEqual([
      ['STATEMENT_BALANCE_MISMATCH:engine:ACC-1:S2', 'S1', 700n],
      ['STATEMENT_BALANCE_MISMATCH:engine:ACC-2:T2', 'T1', -250n],
    ]);
  });
});
