import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Hash } from 'viem';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseAnchorData, type ExportedHead } from '../../src/cases/headAnchor.js';
import { auditMain } from '../../src/cli/audit.js';
import { startHarness, type Harness } from '../support/harness.js';

/** anvil's second default account (the first one mints in the harness). */
const ANCHOR_KEY = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d';

/**
 * The audit head exported on a schedule (issue 17): appended to a file and anchored on a real
 * chain (anvil), once per head; `recon audit verify --heads --anchors` holds the trail against
 * both, and names an exported head that differs from its anchor.
 */
describe('audit head export', () => {
  let h: Harness;
  const dir = mkdtempSync(join(tmpdir(), 'recon-heads-'));
  const file = join(dir, 'heads.jsonl');

  beforeAll(async () => {
    h = await startHarness({
      accounts: [{ accountId: 'ACC-HEAD', wallets: [] }],
      config: {
        matching: { windowMs: 1_000, allowedLatenessMs: 500, ledgerIdleMs: 1_000, sweepIntervalMs: 200 },
        cases: {
          enabled: true,
          tokens: [{ id: 'olga', role: 'operator', token: 'operator-token-0123456789abcdefghijklmn' }],
          // The harness's anvil (chain 31337); its RPC URL comes from chains[].
          headExport: { intervalMs: 3_600_000, file, anchor: { chainId: 31_337, privateKey: ANCHOR_KEY } },
        },
      },
    });
  }, 60_000);
  afterAll(async () => {
    await h?.stop();
  });

  it('exports a moved head once, to the file and on chain, and verifies the trail against both', async () => {
    await h.posting({ entryId: 'head-1', accountId: 'ACC-HEAD', amountMinor: 700n });
    await h.waitFor('a discrepancy in the trail', async () => (await h.daemon.cases!.audit.lastDurable()) !== null);
    const job = h.daemon.cases!.headExport!;
    const exported = (await job.exportNow())!;
    const last = (await h.daemon.cases!.audit.lastDurable())!;
    expect(exported).toMatchObject({ seq: last.seq, hash: last.hash, anchor: { chainId: h.anvil.chainId } });
    expect(await job.exportNow()).toBeNull(); // unchanged head: not exported again

    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines.map((l) => JSON.parse(l) as ExportedHead)).toEqual([exported]);
    const tx = await h.anvil.publicClient.getTransaction({ hash: exported.anchor!.txHash as Hash });
    expect(parseAnchorData(tx.input)).toEqual({ seq: exported.seq, hash: exported.hash });

    const out: string[] = [];
    expect(await auditMain(['verify', '--heads', file, '--anchors'], h.config, { out: (l) => out.push(l) })).toBe(0);
    expect(JSON.parse(out[0]!)).toMatchObject({ ok: true, records: last.seq });

    // A heads file edited to match a rewritten history: its anchor on chain says otherwise.
    const forged = join(dir, 'forged.jsonl');
    writeFileSync(forged, `${JSON.stringify({ ...exported, hash: 'f'.repeat(64) })}\n`);
    expect(await auditMain(['verify', '--heads', forged, '--anchors'], h.config, { out: (l) => out.push(l) })).toBe(1);
    expect(JSON.parse(out[1]!)).toMatchObject({ ok: false, seq: exported.seq, problem: 'anchor' });

    const err = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      expect(await auditMain(['verify', '--anchors'], h.config)).toBe(2);
    } finally {
      err.mockRestore();
    }
  });
});
