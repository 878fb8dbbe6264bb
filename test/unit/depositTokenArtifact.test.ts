import { describe, expect, it } from 'vitest';
import { compileDepositToken } from '../../scripts/compile-contracts.js';
import { depositTokenAbi, depositTokenBytecode } from '../../src/devchain/depositTokenArtifact.js';

describe('depositTokenArtifact', () => {
  it('matches a fresh compile of contracts/DepositToken.sol (run scripts/compile-contracts.ts after editing it)', () => {
    const fresh = compileDepositToken();
    expect(depositTokenAbi).toEqual(fresh.abi);
    expect(depositTokenBytecode).toBe(fresh.bytecode);
  });

  it('exposes the ERC-20 surface, owner mint/burn and the Minted reference event', () => {
    const names = depositTokenAbi.map((i) => ('name' in i ? `${i.type}:${i.name}` : i.type));
    for (const n of [
      'function:mint',
      'function:burn',
      'function:mintWithReference',
      'function:transfer',
      'function:transferFrom',
      'function:approve',
      'function:decimals',
      'event:Transfer',
      'event:Minted',
    ]) {
      expect(names).toContain(n);
    }
  });
});
