import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { segmentPercentileKey } from '../../src/aml/segments.js';
import { queryRows } from '../../src/sinks/clickhouse/queries.js';
import { randomWallet, startHarness, type Harness } from '../support/harness.js';

const D = 86_400_000;

/**
 * Peer segments (issue 19): customers carry their segment on the bank's mapping updates; the
 * scheduled job measures every customer's 30-day volume from the engine's Redis windows and
 * stores the 90th percentile per segment (audited in ClickHouse). A retail customer moving
 * 50,000.00 USD — far above retail peers moving 100.00 … 600.00 — is alerted; a corporate
 * customer moving the same, normal among peers moving 40,000.00 … 90,000.00, is not.
 */
describe('AML peer segments', () => {
  let h: Harness;
  const suffix = Math.random().toString(36).slice(2, 8);
  const rule = {
    id: 'segment-volume',
    type: 'peer_segment',
    scope: 'customer',
    period: '30d',
    measure: 'volume',
    direction: 'any',
    segmentPercentile: 90,
    currencies: ['USD'],
    minPeers: 5,
    suppress: 0,
  };

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aml-seg-'));
    const rulesFile = join(dir, 'rules.yaml');
    writeFileSync(rulesFile, stringify({ version: 'seg-1', rules: [rule] }));
    h = await startHarness({
      config: {
        aml: { enabled: true, rulesFile, reloadSubject: `aml_${suffix}.reload`, watchlistSubject: `aml_${suffix}.watch` },
        cases: { enabled: true, tokens: [{ id: 'olga', role: 'operator', token: 'operator-token-0123456789abcdefghijklmn' }] },
      },
    });
  }, 60_000);
  afterAll(async () => {
    await h?.stop();
  });

  const alerts = () =>
    queryRows<{ subject: string; trigger_event_id: string; figures: string }>(
      h.ch.client,
      `SELECT subject, trigger_event_id, figures FROM ${h.ch.database}.aml_alerts FINAL ORDER BY trigger_event_id`,
    );
  const entries = async () => Number((await queryRows<{ n: string }>(h.ch.client, `SELECT count() AS n FROM ${h.ch.database}.ledger_entries FINAL`))[0]!.n);

  it('alerts a customer far above its segment and not the same volume in a segment where it is normal', async () => {
    const retail = ['R1', 'R2', 'R3', 'R4', 'R5', 'R6'];
    const corporate = ['C1', 'C2', 'C3', 'C4', 'C5', 'C6'];
    const updates = [...retail.map((a) => [a, 'retail']), ...corporate.map((a) => [a, 'corporate']), ['X', 'retail'], ['Y', 'corporate']] as const;
    for (const [accountId, segment] of updates) await h.js.publish(h.config.nats.mappingSubject, JSON.stringify({ accountId, wallets: [randomWallet()], segment }));
    await h.waitFor('segments mapped', async () => h.daemon.identities.segmentOf('Y') === 'corporate');

    const now = Date.now();
    for (const [k, a] of retail.entries()) await h.posting({ entryId: `r-${a}`, accountId: a, amountMinor: BigInt(k + 1) * 10_000n, txType: 'transfer', bookingTime: now - (k + 1) * D });
    for (const [k, a] of corporate.entries()) await h.posting({ entryId: `c-${a}`, accountId: a, amountMinor: BigInt(k + 4) * 1_000_000n, txType: 'transfer', bookingTime: now - (k + 1) * D });
    await h.waitFor('twelve postings', async () => (await entries()) === 12);
    expect(await alerts()).toEqual([]); // nothing computed yet: the rule waits

    const job = h.daemon.amountPercentiles!;
    const snapshot = await job.computeNow(true);
    const spec = h.daemon.aml!.rules.current().segmentPercentiles[0]!;
    // X and Y have not moved yet: six active peers each, their nearest-rank 90th percentile the largest.
    expect(snapshot?.segments).toEqual({
      [segmentPercentileKey(spec, 'corporate', 'USD')]: { value: '9000000', peers: 6 },
      [segmentPercentileKey(spec, 'retail', 'USD')]: { value: '60000', peers: 6 },
    });
    await job.refresh();
    await h.daemon.factsLoaded(); // with the fact log (RECON_TEST_SINK_MODE=log), what the job wrote is in ClickHouse
    const [record] = await queryRows<{ content: string }>(h.ch.client, `SELECT content FROM ${h.ch.database}.audit_log FINAL WHERE action = 'aml.percentiles'`);
    expect(JSON.parse(record!.content)).toMatchObject({ rulesVersion: 'seg-1', segments: snapshot!.segments });

    await h.posting({ entryId: 'x-big', accountId: 'X', amountMinor: 5_000_000n, txType: 'transfer' });
    await h.posting({ entryId: 'y-big', accountId: 'Y', amountMinor: 5_000_000n, txType: 'transfer' });
    await h.posting({ entryId: 'r-normal', accountId: 'R1', amountMinor: 20_000n, txType: 'transfer' });
    await h.waitFor('fifteen postings', async () => (await entries()) === 15);
    const raised = await alerts();
    expect(raised.map((a) => [a.subject, a.trigger_event_id])).toEqual([['X', 'bank:x-big']]);
    expect(JSON.parse(raised[0]!.figures)).toEqual([expect.objectContaining({ value: '5000000', op: '>', threshold: '60000' })]);
  });
});
