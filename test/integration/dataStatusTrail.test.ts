import type { Address } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DiscrepancyEventRow } from '../../src/domain/facts.js';
import { queryRows } from '../../src/sinks/clickhouse/queries.js';
import { randomWallet, startHarness, type Harness } from '../support/harness.js';

/**
 * Status changes made by data enter the audit chain beside the operators' actions (issue 17): a
 * MISSING_MINT opens, an operator acknowledges its case, the late mint resolves it; the chain
 * holds each of those once, the case followed the data, and the chain verifies.
 */
describe('data status changes in the audit trail', () => {
  let h: Harness;
  const [wLate, wFree] = [randomWallet(), randomWallet()] as Address[];

  beforeAll(async () => {
    h = await startHarness({
      accounts: [
        { accountId: 'ACC-DT', wallets: [wLate!] },
        { accountId: 'ACC-DT2', wallets: [wFree!] },
      ],
      config: {
        matching: { windowMs: 2_000, allowedLatenessMs: 500, ledgerIdleMs: 1_000, sweepIntervalMs: 200, lateRetentionMs: 3_600_000 },
        cases: { enabled: true, tokens: [{ id: 'olga', role: 'operator', token: 'operator-token-0123456789abcdefghijklmn' }] },
      },
    });
  }, 60_000);
  afterAll(async () => {
    await h?.stop();
  });

  const trail = (subject: string) =>
    queryRows<{ actor: string; action: string; content: string }>(h.ch.client, `SELECT actor, action, content FROM ${h.ch.database}.audit_log FINAL WHERE subject = {s:String} ORDER BY seq`, {
      s: subject,
    });

  it('chains opened, acknowledged, resolved by data; the held case follows the data', async () => {
    const id = 'MISSING_MINT:bank:dt-1';
    await h.posting({ entryId: 'dt-1', accountId: 'ACC-DT', amountMinor: 12_300n });
    await h.waitFor('the MISSING_MINT', async () => (await h.discrepancies()).some((d) => d.discrepancy_id === id && d.status === 'open'));
    const cases = h.daemon.cases!;
    // The fact is visible in ClickHouse a moment before its record is chained (the writer writes
    // the facts, then chains their status changes, and only then counts the batch durable).
    const opened = await h.waitFor('the open record', async () => {
      const r = await trail(id);
      return r.length > 0 && r;
    });
    expect(opened.map((r) => [r.actor, r.action])).toEqual([['system', 'discrepancy.open']]);
    await cases.cases.act(id, { type: 'acknowledge' }, { id: 'olga', role: 'operator' });

    await h.mint(wLate!, h.usd(12_300n));
    await h.waitFor('resolved by data', async () => (await h.discrepancies()).some((d) => d.discrepancy_id === id && d.status === 'resolved'));
    const records = await h.waitFor('the case resolved by data', async () => {
      const r = await trail(id);
      return r.length === 4 && r;
    });
    expect(records.map((r) => [r.actor, r.action])).toEqual([
      ['system', 'discrepancy.open'],
      ['olga', 'case.acknowledge'],
      ['system', 'discrepancy.resolved'],
      ['system', 'case.resolve_by_data'],
    ]);
    expect(JSON.parse(records[2]!.content)).toMatchObject({ eventId: `${id}:resolved`, kind: 'MISSING_MINT', expected: '12300' });
    expect(await cases.cases.get(id)).toMatchObject({ status: 'resolved', resolution: 'data', version: 2 });

    // The same facts written again (a redelivery, a replay after a crash): nothing chained twice.
    const rows = await queryRows<DiscrepancyEventRow>(
      h.ch.client,
      `SELECT * REPLACE (toUnixTimestamp64Milli(event_time) AS event_time) FROM ${h.ch.database}.discrepancy_events FINAL WHERE discrepancy_id = {id:String} ORDER BY recorded_at`,
      { id },
    );
    expect(rows.map((r) => r.status)).toEqual(['open', 'resolved']);
    await cases.dataTrail!.record(rows.map((row) => ({ table: 'discrepancy_events', row: { ...row, event_time: Number(row.event_time) } })));
    expect(await trail(id)).toHaveLength(4);

    const v = await cases.audit.verify();
    expect(v.ok).toBe(true);
  });

  it('leaves a case nobody holds alone: only the data records are chained', async () => {
    const id = 'MISSING_MINT:bank:dt-2';
    await h.posting({ entryId: 'dt-2', accountId: 'ACC-DT2', amountMinor: 4_500n });
    await h.waitFor('the MISSING_MINT', async () => (await h.discrepancies()).some((d) => d.discrepancy_id === id && d.status === 'open'));
    await h.mint(wFree!, h.usd(4_500n));
    const records = await h.waitFor('the resolution', async () => {
      const r = await trail(id);
      return r.length === 2 && r;
    });
    expect(records.map((r) => r.action)).toEqual(['discrepancy.open', 'discrepancy.resolved']);
    expect(await h.daemon.cases!.cases.get(id)).toMatchObject({ status: 'open', version: 0 });
  });
});
