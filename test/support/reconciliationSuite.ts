import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { countFacts, queryRows } from '../../src/sinks/clickhouse/queries.js';
import { SCHEMA_HEADER } from '../../src/streams/ledgerCodec.js';
import { streamPartitions } from '../../src/streams/partitions.js';
import { randomWallet, startHarness, type Harness } from './harness.js';

/**
 * One daemon on real NATS JetStream, Redis, anvil (a deployed deposit token) and chdb. Every
 * scenario has an account and a wallet of its own, so after one run each account's discrepancies
 * must be exactly those its scenario produces, and nothing else.
 */
const scenarios = [
  'clean',
  'cleanV1',
  'outOfOrder',
  'withdrawal',
  'missingMint',
  'missingBankCredit',
  'missingBurn',
  'missingBankDebit',
  'amountMismatch',
  'currencyMismatch',
  'duplicateMint',
  'duplicateEntry',
  'reversalAfterMatch',
  'reversalBeforeMint',
  'pendingThenBooked',
  'late',
  'refMatch',
] as const;
type Scenario = (typeof scenarios)[number];

/**
 * The suite, with facts made durable by `mode` (one test file per mode: one chdb data dir per
 * process); with `partitions`, on that many stream partitions, a worker bound to each.
 */
export function reconciliationSuite(mode: 'direct' | 'log', o: { partitions?: number } = {}): void {
  describe(`reconciliation daemon end to end, sink.mode ${mode}${o.partitions ? `, ${o.partitions} stream partitions` : ''}`, () => {
    let h: Harness;
    const wallet = Object.fromEntries(scenarios.map((s) => [s, randomWallet()])) as Record<Scenario, `0x${string}`>;
    const acct = (s: Scenario) => `ACC-${s}`;
    const unmappedWallet = randomWallet();

    beforeAll(async () => {
      h = await startHarness({ accounts: scenarios.map((s) => ({ accountId: acct(s), wallets: [wallet[s]] })), sinkMode: mode, ...(o.partitions !== undefined && { partitions: o.partitions }) });

      const $ = (n: bigint) => h.usd(n);
      // Clean traffic: credit then mint, a v1-encoded posting, chain first then bank, a withdrawal.
      await h.posting({ entryId: 'clean-1', accountId: acct('clean'), amountMinor: 12_345n });
      await h.posting({ entryId: 'v1-1', accountId: acct('cleanV1'), amountMinor: 500n, tokenizationRef: null }, { version: 1 });
      await h.mint(wallet.outOfOrder, $(7_700n));
      await h.mint(wallet.clean, $(12_345n));
      await h.mint(wallet.cleanV1, $(500n));
      await h.posting({ entryId: 'ooo-1', accountId: acct('outOfOrder'), amountMinor: 7_700n });
      await h.posting({ entryId: 'wd-dep', accountId: acct('withdrawal'), amountMinor: 10_000n });
      await h.mint(wallet.withdrawal, $(10_000n));
      await h.burn(wallet.withdrawal, $(4_000n));
      await h.posting({ entryId: 'wd-1', accountId: acct('withdrawal'), amountMinor: 4_000n, direction: 'debit', txType: 'withdrawal' });
      // A reference ending in '0' (0x30): its bytes32 used to decode as hex, so it never matched by reference.
      await h.posting({ entryId: 'ref-1', accountId: acct('refMatch'), amountMinor: 999n, tokenizationRef: 'INV-2020' });
      await h.mint(wallet.refMatch, $(999n), 'INV-2020');

      // Missing legs.
      await h.posting({ entryId: 'mm-1', accountId: acct('missingMint'), amountMinor: 2_000n });
      await h.mint(wallet.missingBankCredit, $(3_000n));
      await h.posting({ entryId: 'mb-dep', accountId: acct('missingBurn'), amountMinor: 5_000n });
      await h.mint(wallet.missingBurn, $(5_000n));
      await h.posting({ entryId: 'mb-1', accountId: acct('missingBurn'), amountMinor: 1_000n, direction: 'debit', txType: 'withdrawal' });
      await h.posting({ entryId: 'mbd-dep', accountId: acct('missingBankDebit'), amountMinor: 5_000n });
      await h.mint(wallet.missingBankDebit, $(5_000n));
      await h.burn(wallet.missingBankDebit, $(2_500n));

      // Reference matched, terms differ.
      await h.posting({ entryId: 'am-1', accountId: acct('amountMismatch'), amountMinor: 10_000n, tokenizationRef: 'TOK-AM' });
      // One wei over 90.00 USD: not a whole number of cents, kept exactly.
      await h.mint(wallet.amountMismatch, $(9_000n) + 1n, 'TOK-AM');
      await h.posting({ entryId: 'cm-1', accountId: acct('currencyMismatch'), amountMinor: 10_000n, currency: 'EUR', tokenizationRef: 'TOK-CM' });
      await h.mint(wallet.currencyMismatch, $(10_000n), 'TOK-CM');

      // Duplicates: a second mint for a matched credit; a redelivered entry with another amount.
      await h.posting({ entryId: 'dm-1', accountId: acct('duplicateMint'), amountMinor: 4_200n, tokenizationRef: 'TOK-DM' });
      await h.mint(wallet.duplicateMint, $(4_200n), 'TOK-DM');
      await h.waitFor('first mint matched', async () => (await h.matches()).some((m) => m.account_id === acct('duplicateMint')));
      await h.mint(wallet.duplicateMint, $(4_200n), 'TOK-DM');
      await h.posting({ entryId: 'de-1', accountId: acct('duplicateEntry'), amountMinor: 6_000n });
      await h.mint(wallet.duplicateEntry, $(6_000n));
      await h.posting({ entryId: 'de-1', accountId: acct('duplicateEntry'), amountMinor: 6_500n }, { msgId: 'de-1:redelivered' });

      // Reversals: after the match (tokens outstanding), and before any mint (nothing owed).
      await h.posting({ entryId: 'ra-1', accountId: acct('reversalAfterMatch'), amountMinor: 8_000n });
      await h.mint(wallet.reversalAfterMatch, $(8_000n));
      await h.waitFor('reversal scenario matched', async () => (await h.matches()).some((m) => m.account_id === acct('reversalAfterMatch')));
      await h.posting({ entryId: 'ra-1', accountId: acct('reversalAfterMatch'), amountMinor: 8_000n, status: 'reversed' });
      await h.posting({ entryId: 'rb-1', accountId: acct('reversalBeforeMint'), amountMinor: 1_100n });
      await h.posting({ entryId: 'rb-1', accountId: acct('reversalBeforeMint'), amountMinor: 1_100n, status: 'reversed' });

      // A pending posting is not matched until booked.
      await h.posting({ entryId: 'pb-1', accountId: acct('pendingThenBooked'), amountMinor: 3_300n, status: 'pending' });
      await h.posting({ entryId: 'pb-1', accountId: acct('pendingThenBooked'), amountMinor: 3_300n, status: 'booked' });
      await h.mint(wallet.pendingThenBooked, $(3_300n));

      // Orphans.
      await h.mint(unmappedWallet, $(100n));
      await h.posting({ entryId: 'orph-1', accountId: 'ACC-UNMAPPED', amountMinor: 100n });

      // A late leg: the credit's window closes, then the mint arrives and resolves the discrepancy.
      await h.posting({ entryId: 'late-1', accountId: acct('late'), amountMinor: 1_500n });
      await h.waitFor('MISSING_MINT for the late scenario', async () => (await h.discrepancies()).some((d) => d.account_id === acct('late') && d.kind === 'MISSING_MINT'), 20_000);
      await h.mint(wallet.late, $(1_500n));

      // Bad input: not Avro, an unknown currency, no schema header.
      await h.publishRaw(new TextEncoder().encode('this is not avro'), { [SCHEMA_HEADER]: 'ledger-posting/2' });
      await h.posting({ entryId: 'bad-ccy', accountId: acct('clean'), amountMinor: 100n, currency: 'XXX' });
      await h.publishRaw(new Uint8Array([1, 2, 3]));
      // Bad input at the door: an absurd booking time (toISOString used to throw, a transient
      // failure retried for ever), a 10,000-character id, an amount beyond the plausibility bound.
      await h.posting({ entryId: 'bad-time', accountId: acct('clean'), amountMinor: 100n, bookingTime: 8.64e15 + 1 });
      await h.posting({ entryId: 'E'.repeat(10_000), accountId: acct('clean'), amountMinor: 100n });
      await h.posting({ entryId: 'bad-amount', accountId: acct('clean'), amountMinor: 10n ** 15n + 1n });

      // Wait until every window has closed and the last expected facts are in.
      await h.waitFor('late match', async () => (await h.matches()).some((m) => m.account_id === acct('late')), 20_000);
      await h.waitFor(
        'all windows closed',
        async () => {
          const d = await h.discrepancies();
          const p = await h.daemon.store.parkedCount();
          return d.some((x) => x.kind === 'MISSING_BANK_DEBIT') && d.some((x) => x.kind === 'MISSING_BURN') && p.bank === 0 && p.chain === 0;
        },
        30_000,
      );
    }, 120_000);

    afterAll(async () => {
      await h?.stop();
    });

    const openKinds = async (s: Scenario) =>
      (await h.discrepancies())
        .filter((d) => d.account_id === acct(s))
        .map((d) => `${d.kind}:${d.status}`)
        .sort();
    const matchCount = async (s: Scenario) => (await h.matches()).filter((m) => m.account_id === acct(s) && m.status === 'matched').length;

    it('matches clean traffic (credit→mint, chain first, v1 schema, by reference, withdrawal) with no discrepancy', async () => {
      for (const s of ['clean', 'cleanV1', 'outOfOrder', 'refMatch', 'pendingThenBooked'] as const) {
        expect(await openKinds(s), s).toEqual([]);
        expect(await matchCount(s), s).toBe(1);
      }
      expect(await openKinds('withdrawal')).toEqual([]);
      expect(await matchCount('withdrawal')).toBe(2);
      const byRef = (await h.matches()).find((m) => m.account_id === acct('refMatch'));
      expect(byRef?.match_by).toBe('reference');
    });

    it('opens exactly one missing-leg discrepancy per missing leg', async () => {
      expect(await openKinds('missingMint')).toEqual(['MISSING_MINT:open']);
      expect(await openKinds('missingBankCredit')).toEqual(['MISSING_BANK_CREDIT:open']);
      expect(await openKinds('missingBurn')).toEqual(['MISSING_BURN:open']);
      expect(await openKinds('missingBankDebit')).toEqual(['MISSING_BANK_DEBIT:open']);
    });

    it('opens AMOUNT_MISMATCH and CURRENCY_MISMATCH when the reference matches but the terms differ', async () => {
      expect(await openKinds('amountMismatch')).toEqual(['AMOUNT_MISMATCH:open']);
      expect(await openKinds('currencyMismatch')).toEqual(['CURRENCY_MISMATCH:open']);
      const [am] = await queryRows<{ expected: string; actual: string }>(
        h.ch.client,
        `SELECT toString(expected_amount) AS expected, toString(actual_amount) AS actual FROM ${h.ch.database}.discrepancies_current WHERE kind = 'AMOUNT_MISMATCH'`,
      );
      expect(am).toEqual({ expected: '10000', actual: '9000.0000000000000001' });
    });

    it('opens DUPLICATE for a second mint of a matched credit and for a redelivered entry with another amount', async () => {
      expect(await openKinds('duplicateMint')).toEqual(['DUPLICATE:open']);
      expect(await matchCount('duplicateMint')).toBe(1);
      expect(await openKinds('duplicateEntry')).toEqual(['DUPLICATE:open']);
      expect(await matchCount('duplicateEntry')).toBe(1);
    });

    it('opens orphans for an unmapped wallet and an unmapped account', async () => {
      const d = await h.discrepancies();
      expect(d.filter((x) => x.kind === 'ORPHAN_CHAIN_EVENT').map((x) => x.wallet)).toEqual([unmappedWallet]);
      expect(d.filter((x) => x.kind === 'ORPHAN_LEDGER_ENTRY').map((x) => x.account_id)).toEqual(['ACC-UNMAPPED']);
    });

    it('handles reversals: after a match it un-matches and opens REVERSAL_AFTER_MATCH; before a mint nothing is owed', async () => {
      expect(await openKinds('reversalAfterMatch')).toEqual(['REVERSAL_AFTER_MATCH:open']);
      const m = (await h.matches()).find((x) => x.account_id === acct('reversalAfterMatch'));
      expect(m?.status).toBe('reversed');
      expect(await openKinds('reversalBeforeMint')).toEqual([]);
      expect(await matchCount('reversalBeforeMint')).toBe(0);
    });

    it('matches a late leg and resolves the discrepancy it had raised, keeping the status history', async () => {
      expect(await openKinds('late')).toEqual(['MISSING_MINT:resolved']);
      const m = (await h.matches()).find((x) => x.account_id === acct('late'));
      expect(m?.late).toBe(1);
      const history = await queryRows<{ status: string }>(h.ch.client, `SELECT status FROM ${h.ch.database}.discrepancy_events FINAL WHERE account_id = {a:String} ORDER BY recorded_at, status DESC`, {
        a: acct('late'),
      });
      expect(history.map((r) => r.status)).toEqual(['open', 'resolved']);
    });

    it('dead-letters bad input with its reason, to ClickHouse and the dead-letter stream, and keeps going', async () => {
      const dl = await queryRows<{ reason_code: string; reason: string }>(h.ch.client, `SELECT reason_code, reason FROM ${h.ch.database}.dead_letters FINAL ORDER BY stream_seq`);
      expect(dl.map((d) => d.reason_code).sort()).toEqual(['DECODE_ERROR', 'DECODE_ERROR', 'SCHEMA_VIOLATION', 'SCHEMA_VIOLATION', 'SCHEMA_VIOLATION', 'SCHEMA_VIOLATION']);
      const reasons = dl.filter((d) => d.reason_code === 'SCHEMA_VIOLATION').map((d) => d.reason);
      expect(reasons.some((r) => /XXX/.test(r))).toBe(true);
      expect(reasons.some((r) => /^Posting bad-time: bookingTime 8640000000000001 \(not a representable date\)/.test(r))).toBe(true);
      expect(reasons.some((r) => /^Posting "E{40}"…: entryId is 10000 characters long; at most 128 are allowed/.test(r))).toBe(true);
      expect(reasons.some((r) => /^Posting bad-amount: amount is 1000000000000001 minor units, above the plausibility bound/.test(r))).toBe(true);
      const jsm = await jetstreamManager(h.nc);
      const info = await jsm.streams.info(h.config.nats.deadLetterStream);
      expect(info.state.messages).toBe(6);
    });

    it('raises nothing beyond the scenarios, stores each fact once and leaves nothing unacked', async () => {
      const d = await h.discrepancies();
      const expected = [
        'MISSING_MINT',
        'MISSING_BANK_CREDIT',
        'MISSING_BURN',
        'MISSING_BANK_DEBIT',
        'AMOUNT_MISMATCH',
        'CURRENCY_MISMATCH',
        'DUPLICATE',
        'DUPLICATE',
        'ORPHAN_CHAIN_EVENT',
        'ORPHAN_LEDGER_ENTRY',
        'REVERSAL_AFTER_MATCH',
        'MISSING_MINT',
      ].sort();
      expect(d.map((x) => x.kind).sort()).toEqual(expected);
      for (const table of ['ledger_entries', 'chain_events', 'matches', 'discrepancy_events', 'dead_letters'] as const) {
        expect(await countFacts(h.ch.client, h.ch.database, table, { final: false }), table).toBe(await countFacts(h.ch.client, h.ch.database, table, { final: true }));
      }
      // Acks are sent without waiting for the server: give the last ones a moment to land.
      const jsm = await jetstreamManager(h.nc);
      for (const stream of streamPartitions(h.config.nats).flatMap((p) => [p.ledgerStream, p.chainStream])) {
        const ci = await h
          .waitFor(
            `${stream} drained`,
            async () => {
              const c = await jsm.consumers.info(stream, h.config.nats.consumerName);
              return c.num_ack_pending === 0 && c.num_pending === 0 ? c : undefined;
            },
            10_000,
          )
          .catch(() => jsm.consumers.info(stream, h.config.nats.consumerName));
        expect(ci.num_ack_pending, stream).toBe(0);
        expect(ci.num_pending, stream).toBe(0);
      }
    });

    if (o.partitions) {
      it('spreads the traffic over every partition, each consumed by its own worker', async () => {
        const jsm = await jetstreamManager(h.nc);
        const parts = streamPartitions(h.config.nats);
        expect(parts).toHaveLength(o.partitions!);
        for (const p of parts) {
          // Postings by account, blocks by hash: every partition holds both, and its consumer acked them all.
          for (const stream of [p.ledgerStream, p.chainStream]) {
            const info = await jsm.streams.info(stream);
            expect(info.state.messages, stream).toBeGreaterThan(0);
            const ci = await jsm.consumers.info(stream, h.config.nats.consumerName);
            expect(ci.delivered.stream_seq, stream).toBe(info.state.last_seq);
          }
          const chainEvents = await jsm.streams.info(p.chainStream, { subjects_filter: `${p.chainSubjectPrefix}.*.events` });
          expect(Object.keys(chainEvents.state.subjects ?? {}).length, `${p.chainStream} holds block events`).toBeGreaterThan(0);
        }
        // Each worker consumed only its own partition's streams.
        expect(h.daemons.map((d) => d.config.nats.partitions.assigned)).toEqual(parts.map((p) => [p.partition]));
      });
    }
  });
}
