import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { ensureStreams } from '../../src/streams/jetstreamSetup.js';
import { queryRows } from '../../src/sinks/clickhouse/queries.js';
import { randomWallet, startHarness, type Harness } from '../support/harness.js';

/**
 * Identity mappings published by the bank on the mapping subject take effect without a restart,
 * and with `unmappedPolicy: reject` a deposit on an unmapped account is dead-lettered with the reason.
 */
describe('identity mapping updates and the reject policy', () => {
  let h: Harness;
  const walletB = randomWallet();

  beforeAll(async () => {
    h = await startHarness({
      accounts: [{ accountId: 'ACC-A', wallets: [randomWallet()] }],
      config: { matching: { windowMs: 3_000, allowedLatenessMs: 1_000, ledgerIdleMs: 2_000, sweepIntervalMs: 250, unmappedPolicy: 'reject' } },
    });
  }, 60_000);
  afterAll(async () => {
    await h?.stop();
  });

  it('matches a deposit of an account mapped by a mapping update published on NATS', async () => {
    await h.js.publish(h.config.nats.mappingSubject, JSON.stringify({ accountId: 'ACC-B', wallets: [walletB] }));
    await h.waitFor('mapping applied', async () => h.daemon.identities.accountOfWallet(walletB) === 'ACC-B', 10_000);
    await h.posting({ entryId: 'B-1', accountId: 'ACC-B', amountMinor: 2_500n });
    await h.mint(walletB, h.usd(2_500n));
    const m = await h.waitFor('match for ACC-B', async () => (await h.matches()).find((x) => x.account_id === 'ACC-B'));
    expect(m.status).toBe('matched');
  });

  it('dead-letters a deposit on an unmapped account with UNMAPPED_IDENTITY and its reason, and keeps matching', async () => {
    await h.posting({ entryId: 'C-1', accountId: 'ACC-C', amountMinor: 700n });
    await h.posting({ entryId: 'B-2', accountId: 'ACC-B', amountMinor: 800n });
    await h.mint(walletB, h.usd(800n));
    const dl = await h.waitFor('dead letter', async () => {
      const rows = await queryRows<{ reason_code: string; reason: string }>(h.ch.client, `SELECT reason_code, reason FROM ${h.ch.database}.dead_letters FINAL`);
      return rows.length > 0 ? rows : undefined;
    });
    expect(dl).toHaveLength(1);
    expect(dl[0]!.reason_code).toBe('UNMAPPED_IDENTITY');
    expect(dl[0]!.reason).toMatch(/ACC-C is not mapped/);
    await h.waitFor('second match for ACC-B', async () => (await h.matches()).filter((x) => x.account_id === 'ACC-B').length === 2);
    expect((await h.discrepancies()).filter((d) => d.kind.startsWith('ORPHAN'))).toEqual([]);
  });

  it('dead-letters a malformed mapping update, keeps the previous mapping and applies later ones', async () => {
    await h.js.publish(h.config.nats.mappingSubject, JSON.stringify({ accountId: 'ACC-B', wallets: ['not-an-address'] }));
    await h.js.publish(h.config.nats.mappingSubject, JSON.stringify({ accountId: 'ACC-D', wallets: [randomWallet()] }));
    await h.waitFor('later update applied', async () => h.daemon.identities.walletsOfAccount('ACC-D').length === 1, 10_000);
    expect(h.daemon.identities.accountOfWallet(walletB)).toBe('ACC-B');
    const dl = await h.waitFor('mapping dead letter', async () => {
      const rows = await queryRows<{ source: string; reason: string }>(h.ch.client, `SELECT source, reason FROM ${h.ch.database}.dead_letters FINAL WHERE source = 'mapping'`);
      return rows.length > 0 ? rows : undefined;
    });
    expect(dl).toHaveLength(1);
    expect(dl[0]!.reason).toMatch(/invalid mapping update at seq \d+: wallets\[0\]: must be a 0x-prefixed 20-byte hex address/);
  });

  it('dead-letters a mapping update whose account id carries a control character, naming the field', async () => {
    await h.js.publish(h.config.nats.mappingSubject, JSON.stringify({ accountId: 'ACC-\u202Eevil', wallets: [randomWallet()] }));
    const dl = await h.waitFor('control-character dead letter', async () => {
      const rows = await queryRows<{ reason: string }>(h.ch.client, `SELECT reason FROM ${h.ch.database}.dead_letters FINAL WHERE source = 'mapping' AND reason LIKE '%accountId%'`);
      return rows.length > 0 ? rows : undefined;
    });
    expect(dl[0]!.reason).toMatch(/accountId: contains U\+202E at index 4/);
    expect(h.daemon.identities.walletsOfAccount('ACC-\u202Eevil')).toEqual([]);
  });

  it('records a wallet moved to another account as an identity_changes fact, logs and counts it', async () => {
    const walletE = randomWallet();
    await h.js.publish(h.config.nats.mappingSubject, JSON.stringify({ accountId: 'ACC-E', wallets: [walletE] }));
    await h.js.publish(h.config.nats.mappingSubject, JSON.stringify({ accountId: 'ACC-F', wallets: [walletE] }));
    await h.waitFor('wallet moved', async () => h.daemon.identities.accountOfWallet(walletE) === 'ACC-F', 10_000);
    await h.daemon.identityChangesFlushed();
    const rows = await queryRows<{ change_id: string; mapping_seq: string; kind: string; from_account: string; to_account: string }>(
      h.ch.client,
      `SELECT change_id, mapping_seq, kind, from_account, to_account FROM ${h.ch.database}.identity_changes WHERE wallet = {w:String} ORDER BY mapping_seq`,
      { w: walletE },
    );
    expect(rows.map((r) => [r.kind, r.from_account, r.to_account])).toEqual([
      ['linked', '', 'ACC-E'],
      ['moved', 'ACC-E', 'ACC-F'],
    ]);
    expect(rows[1]!.change_id).toBe(`${rows[1]!.mapping_seq}:${walletE}`);
    const metrics = await (await fetch(`${h.daemon.httpAddress()}/metrics`)).text();
    expect(metrics).toMatch(/recon_identity_changes_total\{kind="moved"\} [1-9]/);
  });

  it('writes each identity change once when a second worker replays the mapping stream', async () => {
    const { startDaemon } = await import('../../src/daemon.js');
    const { pino } = await import('pino');
    const second = await startDaemon(
      { ...h.config, workerId: `${h.names.namespace}-replayer`, http: { ...h.config.http, port: -1 } },
      { clickhouse: h.ch.client, log: pino({ level: 'silent' }), ingest: false },
    );
    try {
      await second.ready;
      await second.identityChangesFlushed();
      const [dup] = await queryRows<{ n: string; ids: string }>(h.ch.client, `SELECT count() AS n, uniqExact(change_id) AS ids FROM ${h.ch.database}.identity_changes`);
      expect(Number(dup!.n)).toBeGreaterThan(0);
      expect(Number(dup!.n)).toBe(Number(dup!.ids));
      expect(second.identities.accountOfWallet(walletB)).toBe('ACC-B');
    } finally {
      await second.stop();
    }
  });

  // Last: it deletes the mapping stream.
  it('reports not ready on /readyz once the mapping subscription lost its stream, and stays so', async () => {
    const readyz = async () => {
      const r = await fetch(`${h.daemon.httpAddress()}/readyz`);
      return { status: r.status, body: (await r.json()) as { checks: Record<string, { ok: boolean; error?: string }> } };
    };
    await h.waitFor('ready before', async () => (await readyz()).body.checks.mappings?.ok === true, 15_000);
    const jsm = await jetstreamManager(h.nc);
    await jsm.streams.delete(h.config.nats.mappingStream);
    const r = await h.waitFor(
      'not ready',
      async () => {
        const x = await readyz();
        return x.status === 503 ? x : undefined;
      },
      30_000,
    );
    expect(r.body.checks.mappings!.ok).toBe(false);
    expect(r.body.checks.mappings!.error).toMatch(/^mapping updates (stalled|stopped)/);
    const stopped = await h.waitFor(
      'stopped for good',
      async () => {
        const x = await readyz();
        return x.body.checks.mappings?.error?.includes('not found (deleted?)') ? x : undefined;
      },
      60_000,
    );
    expect(stopped.status).toBe(503);
    const metrics = await (await fetch(`${h.daemon.httpAddress()}/metrics`)).text();
    expect(metrics).toMatch(/recon_mapping_follower_up 0/);
    // A re-created stream is another history: the worker stays unready until it restarts.
    await ensureStreams(jsm, h.config);
    await new Promise((res) => setTimeout(res, 2 * h.config.http.probeCacheMs + 500));
    expect((await readyz()).body.checks.mappings!.error).toMatch(/restart the worker/);
  }, 120_000);
});
