import { toHex } from 'viem';
import { describe, expect, it } from 'vitest';
import { anchorData, checkAnchor, parseAnchorData } from '../../src/cases/headAnchor.js';

const head = { seq: 42, hash: 'a'.repeat(64) };

describe('audit head anchors', () => {
  it('round-trips a head through calldata and refuses anything else', () => {
    expect(parseAnchorData(anchorData(head))).toEqual(head);
    expect(parseAnchorData(toHex(`recon-audit-head:42:${'A'.repeat(64)}`))).toBeNull(); // hashes are lower-case hex
    expect(parseAnchorData(toHex(`recon-audit-head:0:${'a'.repeat(64)}`))).toBeNull();
    expect(parseAnchorData('0xa9059cbb')).toBeNull(); // a token transfer
    expect(parseAnchorData('0x')).toBeNull();
  });

  it('names a missing, a foreign and a differing anchor', async () => {
    const exported = { ...head, at: '2026-12-05T00:00:00Z', anchor: { chainId: 1, txHash: `0x${'1'.repeat(64)}`, blockNumber: 7 } };
    expect(await checkAnchor(exported, async () => anchorData(head))).toBeNull();
    expect(await checkAnchor({ ...head, at: exported.at }, async () => null)).toBeNull(); // not anchored: nothing to check
    expect(await checkAnchor(exported, async () => null)).toMatch(/is not on chain 1/);
    expect(await checkAnchor(exported, async () => '0xa9059cbb')).toMatch(/does not anchor an audit head/);
    expect(await checkAnchor(exported, async () => anchorData({ seq: 42, hash: 'b'.repeat(64) }))).toMatch(/differs from the one anchored/);
  });
});
