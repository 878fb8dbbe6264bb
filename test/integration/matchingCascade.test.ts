import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Address } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { casesMain } from '../../src/cli/cases.js';
import { queryRows } from '../../src/sinks/clickhouse/queries.js';
import { randomWallet, startHarness, type Harness } from '../support/harness.js';

const OPERATOR = 'operator-token-0123456789abcdefghijklmn';
const VIEWER = 'viewer-token-0123456789abcdefghijklmnop';

/**
 * The matching rule file in a worker on real NATS, Redis, anvil and ClickHouse: a fee taken before
 * minting, a credit minted in two tranches, and a loose proposal an operator confirms through the
 * API and the CLI (a viewer may not), each recorded with the rule that made it.
 */
describe('matching rule cascade in the worker', () => {
  let h: Harness;
  const [wFee, wTr, wProp, wRev, wMan] = [randomWallet(), randomWallet(), randomWallet(), randomWallet(), randomWallet()] as Address[];

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'recon-rules-'));
    const rulesFile = join(dir, 'matching-rules.yaml');
    writeFileSync(
      rulesFile,
      `version: cascade-1
rules:
  - id: exact-reference
    key: reference
  - id: tranches
    key: reference
    split: true
  - id: exact-attributes
    key: accountAmount
  - id: deposit-fee
    key: accountAmount
    flows: [deposit]
    fees: { USD: { fixedMinor: 50 } }
  - id: nearest-amount
    key: accountAmount
    stage: expiry
    tolerance: { bps: 500 }
    confidence: proposed
`,
    );
    h = await startHarness({
      accounts: [
        { accountId: 'ACC-FEE', wallets: [wFee!] },
        { accountId: 'ACC-TR', wallets: [wTr!] },
        { accountId: 'ACC-PROP', wallets: [wProp!] },
        { accountId: 'ACC-REV', wallets: [wRev!] },
        { accountId: 'ACC-MAN', wallets: [wMan!] },
      ],
      config: {
        matching: { windowMs: 3_000, allowedLatenessMs: 1_000, ledgerIdleMs: 2_000, sweepIntervalMs: 250, lateRetentionMs: 3_600_000, rulesFile },
        cases: {
          enabled: true,
          tokens: [
            { id: 'olga', role: 'operator', token: OPERATOR },
            { id: 'vic', role: 'viewer', token: VIEWER },
          ],
        },
      },
    });
  }, 60_000);
  afterAll(async () => {
    await h?.stop();
  });

  const matchRows = () =>
    queryRows<{ match_id: string; status: string; rule_id: string; rule_version: string; confidence: string; difference: string | null; match_by: string }>(
      h.ch.client,
      `SELECT match_id, status, rule_id, rule_version, confidence, toString(amount_difference) AS difference, match_by FROM ${h.ch.database}.matches_current ORDER BY match_id`,
    );

  it('matches a deposit of 1,000.00 minted as 999.50 under the fee rule, with the difference recorded', async () => {
    await h.posting({ entryId: 'FEE-1', accountId: 'ACC-FEE', amountMinor: 100_000n });
    await h.mint(wFee!, h.usd(99_950n));
    const row = await h.waitFor('fee match', async () => (await matchRows()).find((m) => m.match_id.startsWith('match:bank:FEE-1|')));
    expect(row).toMatchObject({ status: 'matched', rule_id: 'deposit-fee', rule_version: 'cascade-1', confidence: 'confirmed', difference: '50' });
  });

  it('matches one credit minted in two tranches carrying its reference, and leaves nothing open', async () => {
    await h.posting({ entryId: 'TR-1', accountId: 'ACC-TR', amountMinor: 100_000n, tokenizationRef: 'TRANCHE-REF-1' });
    await h.mint(wTr!, h.usd(60_000n), 'TRANCHE-REF-1');
    await h.mint(wTr!, h.usd(40_000n), 'TRANCHE-REF-1');
    const rows = await h.waitFor('two tranche matches', async () => {
      const r = (await matchRows()).filter((m) => m.match_id.startsWith('match:bank:TR-1|'));
      return r.length === 2 && r;
    });
    expect(rows.map((r) => [r.match_by, r.rule_id, r.difference])).toEqual([
      ['tranche', 'tranches', null],
      ['tranche', 'tranches', null],
    ]);
  });

  it('proposes a loose pair when the windows close; a viewer may not confirm it, an operator does, once', async () => {
    await h.posting({ entryId: 'PROP-1', accountId: 'ACC-PROP', amountMinor: 100_000n });
    await h.mint(wProp!, h.usd(98_000n));
    const proposal = await h.waitFor('the proposal', async () => (await matchRows()).find((m) => m.match_id.startsWith('proposal:bank:PROP-1|')), 30_000);
    expect(proposal).toMatchObject({ status: 'proposed', rule_id: 'nearest-amount', confidence: 'proposed', difference: '2000' });
    // The batch's tables are inserted side by side: its discrepancies may show a moment after its match row.
    const openOf = async () => (await h.discrepancies()).filter((d) => d.account_id === 'ACC-PROP' && d.status === 'open').map((d) => d.kind);
    const open = await h.waitFor('the proposal and its discrepancies', async () => {
      const o = await openOf();
      return o.length >= 2 && o;
    });
    // Whichever leg's window closed first opened its MISSING_* and found the other as a proposal.
    expect(open.sort()).toEqual([expect.stringMatching(/^MISSING_(MINT|BANK_CREDIT)$/), 'PROPOSED_MATCH']);

    const base = h.daemon.httpAddress()!;
    const path = `/api/v1/proposals/${encodeURIComponent(proposal.match_id)}/confirm`;
    const asViewer = await fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${VIEWER}` }, body: '{}' });
    expect(asViewer.status).toBe(403);

    const lines: string[] = [];
    const env = { RECON_API_URL: base, RECON_API_TOKEN: OPERATOR };
    expect(await casesMain(['proposal', proposal.match_id, 'confirm', '--text', 'fee agreed by phone'], env, { out: (l) => lines.push(l) })).toBe(0);
    expect(JSON.parse(lines[0]!)).toMatchObject({ replayed: false, decision: { t: 'confirmed' } });
    // Again: the stored decision, not a second one; the other way: refused.
    expect(await casesMain(['proposal', proposal.match_id, 'confirm'], env, { out: (l) => lines.push(l) })).toBe(0);
    expect(JSON.parse(lines[1]!)).toMatchObject({ replayed: true });
    expect(await casesMain(['proposal', proposal.match_id, 'reject'], env, { out: (l) => lines.push(l) })).toBe(1);

    const mid = proposal.match_id.replace('proposal:', 'match:');
    const confirmed = (await matchRows()).find((m) => m.match_id === mid);
    expect(confirmed).toMatchObject({ status: 'matched', rule_id: 'nearest-amount', confidence: 'operator' });
    expect((await h.discrepancies()).filter((d) => d.account_id === 'ACC-PROP' && d.status === 'open')).toEqual([]);
    const audit = await queryRows<{ actor: string; action: string }>(h.ch.client, `SELECT actor, action FROM ${h.ch.database}.audit_log FINAL WHERE subject = {pid:String} ORDER BY seq`, {
      pid: proposal.match_id,
    });
    expect(audit).toEqual([{ actor: 'olga', action: 'proposal.confirm' }]);
    // The tranches' credit, posted before this one, saw its window close too: nothing opened for it.
    expect((await h.discrepancies()).filter((d) => d.account_id === 'ACC-TR')).toEqual([]);
  });

  it('links a reversal booked as an entry of its own: after a match REVERSAL_AFTER_MATCH, before a mint the MISSING_MINT resolves', async () => {
    // Matched, then the bank reverses the credit with a debit entry naming its end-to-end id.
    await h.posting({ entryId: 'REV-1', accountId: 'ACC-REV', amountMinor: 70_000n });
    await h.mint(wRev!, h.usd(70_000n));
    await h.waitFor('match', async () => (await h.matches()).some((m) => m.match_id.startsWith('match:bank:REV-1|')));
    await h.posting({ entryId: 'REV-1-R', accountId: 'ACC-REV', amountMinor: 70_000n, direction: 'debit', txType: 'reversal', endToEndId: 'E2E-REV-1' });
    await h.waitFor('REVERSAL_AFTER_MATCH', async () => (await h.discrepancies()).some((d) => d.discrepancy_id === 'REVERSAL_AFTER_MATCH:bank:REV-1' && d.status === 'open'));
    expect((await h.matches()).find((m) => m.match_id.startsWith('match:bank:REV-1|'))?.status).toBe('reversed');

    // Never minted: its MISSING_MINT opens, then a reversal sharing its reference resolves it.
    await h.posting({ entryId: 'REV-2', accountId: 'ACC-REV', amountMinor: 33_300n, tokenizationRef: 'REV-REF-2' });
    await h.waitFor('MISSING_MINT', async () => (await h.discrepancies()).some((d) => d.discrepancy_id === 'MISSING_MINT:bank:REV-2'));
    await h.posting({ entryId: 'REV-2-R', accountId: 'ACC-REV', amountMinor: 33_300n, direction: 'debit', txType: 'reversal', endToEndId: null, tokenizationRef: 'REV-REF-2' });
    await h.waitFor('resolved', async () => (await h.discrepancies()).some((d) => d.discrepancy_id === 'MISSING_MINT:bank:REV-2' && d.status === 'resolved'));

    // A credit and its reversal back to back, in one batch: the credit is not in ClickHouse yet when
    // the reversal looks for it, and is found among this worker's recent entries instead.
    const rev3At = Date.now();
    await h.posting({ entryId: 'REV-3', accountId: 'ACC-REV', amountMinor: 44_400n, endToEndId: 'E2E-REV-3' });
    await h.posting({ entryId: 'REV-3-R', accountId: 'ACC-REV', amountMinor: 44_400n, direction: 'debit', txType: 'reversal', endToEndId: 'E2E-REV-3' });
    await h.waitFor('both entries durable', async () => {
      const [n] = await queryRows<{ n: string }>(h.ch.client, `SELECT count() AS n FROM ${h.ch.database}.ledger_entries_current WHERE entry_id IN ('REV-3', 'REV-3-R')`);
      return Number(n!.n) === 2;
    });

    // A reversal naming nothing known is an orphan, not silence.
    await h.posting({ entryId: 'REV-9-R', accountId: 'ACC-REV', amountMinor: 1_234n, direction: 'debit', txType: 'reversal', endToEndId: 'E2E-NOTHING' });
    await h.waitFor('orphan', async () => (await h.discrepancies()).some((d) => d.discrepancy_id === 'ORPHAN_LEDGER_ENTRY:bank:REV-9-R'));
    // REV-3's window (3 s) closes on the chain's watermark; a few sweeps (250 ms) later: reversed
    // before any mint, it raised nothing, nor did its reversal.
    await h.waitFor('the chain past REV-3 window', async () => (await h.daemon.store.watermarks()).chain > rev3At + 3_500);
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await h.discrepancies()).filter((d) => d.discrepancy_id.includes('REV-3'))).toEqual([]);
  });

  it('matches two open legs by hand through the CLI (operator only), audited, and unmatches them', async () => {
    await h.posting({ entryId: 'MAN-1', accountId: 'ACC-MAN', amountMinor: 100_000n });
    await h.mint(wMan!, h.usd(60_000n)); // 40 % off: no rule of this file pairs them
    const open = async () =>
      (await h.discrepancies())
        .filter((d) => d.account_id === 'ACC-MAN' && d.status === 'open')
        .map((d) => d.kind)
        .sort();
    await h.waitFor('both windows closed', async () => (await open()).length === 2);
    expect(await open()).toEqual(['MISSING_BANK_CREDIT', 'MISSING_MINT']);
    const [c] = await queryRows<{ chain_leg_id: string }>(h.ch.client, `SELECT chain_leg_id FROM ${h.ch.database}.discrepancies_current WHERE kind = 'MISSING_BANK_CREDIT' AND account_id = 'ACC-MAN'`);
    const base = h.daemon.httpAddress()!;
    const lines: string[] = [];
    const asViewer = await casesMain(['match', 'bank:MAN-1', c!.chain_leg_id], { RECON_API_URL: base, RECON_API_TOKEN: VIEWER }, { out: (l) => lines.push(l) });
    expect(asViewer).toBe(1);
    const env = { RECON_API_URL: base, RECON_API_TOKEN: OPERATOR };
    expect(await casesMain(['match', 'bank:MAN-1', c!.chain_leg_id, '--text', 'customer paid 600.00 by mistake, rest refunded'], env, { out: (l) => lines.push(l) })).toBe(0);
    const mid = `match:bank:MAN-1|${c!.chain_leg_id}`;
    expect(await open()).toEqual([]);
    expect((await matchRows()).find((m) => m.match_id === mid)).toMatchObject({ status: 'matched', match_by: 'manual', confidence: 'operator', difference: '40000' });
    expect(await casesMain(['unmatch', mid], env, { out: (l) => lines.push(l) })).toBe(0);
    expect(await open()).toEqual(['MISSING_BANK_CREDIT', 'MISSING_MINT']);
    expect((await matchRows()).find((m) => m.match_id === mid)?.status).toBe('unmatched');
    const audit = await queryRows<{ actor: string; action: string }>(h.ch.client, `SELECT actor, action FROM ${h.ch.database}.audit_log FINAL WHERE subject = {mid:String} ORDER BY seq`, { mid });
    expect(audit).toEqual([
      { actor: 'olga', action: 'match.match' },
      { actor: 'olga', action: 'match.unmatch' },
    ]);
  });
});
