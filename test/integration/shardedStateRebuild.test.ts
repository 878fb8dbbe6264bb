import { pino } from 'pino';
import type { Address } from 'viem';
import { afterAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { shardPrefixes } from '../../src/domain/stateShards.js';
import { ConfigError } from '../../src/lib/errors.js';
import { scanKeys } from '../../src/state/shardLayout.js';
import { randomWallet, startHarness, type Harness } from '../support/harness.js';

/**
 * An existing one-shard deployment moved to 4 shards by the runbook's procedure (stop, start with
 * `redis.migrateShards`), then one shard's state lost (a cluster master restarted empty): the
 * worker refuses the new count without the flag, rebuilds every leg from the facts into its new
 * shard with it, rebuilds only the lost shard later, and the counterparts sent afterwards match.
 */
describe('sharded state: migration and the loss of one shard', () => {
  let h: Harness | undefined;
  afterAll(async () => {
    await h?.stop();
  });

  it('migrates 1 → 4 shards from the facts, rebuilds a lost shard alone, and matches the counterparts after', async () => {
    const wallets = Array.from({ length: 8 }, () => randomWallet()) as Address[];
    h = await startHarness({
      accounts: wallets.map((w, i) => ({ accountId: `ACC-${i}`, wallets: [w] })),
      // Windows long enough that the credits still wait for their mints at the end.
      config: { matching: { windowMs: 120_000, allowedLatenessMs: 1_000, ledgerIdleMs: 2_000, sweepIntervalMs: 250, lateRetentionMs: 3_600_000 } },
    });
    const harness = h;
    for (let i = 0; i < wallets.length; i++) await harness.posting({ entryId: `e-${i}`, accountId: `ACC-${i}`, amountMinor: BigInt(1_000 + i) });
    await harness.waitFor('eight credits parked', async () => (await harness.daemon.store.parkedCount()).bank === 8, 30_000);
    // Facts are durable once acked; the rebuild reads them.
    await harness.waitFor('the credits in ClickHouse', async () => {
      const rows = await harness.ch.client.query({ query: `SELECT count() AS n FROM ${harness.ch.database}.ledger_entries FINAL`, format: 'JSONEachRow' });
      return ((await rows.json()) as { n: string }[])[0]?.n === '8';
    });
    await harness.daemon.stop();

    const log = pino({ level: 'silent' });
    const start = (migrateShards: boolean): Promise<Daemon> =>
      startDaemon({ ...harness.config, redis: { ...harness.config.redis, shards: 4, migrateShards }, workerId: `${harness.config.namespace}-w9` }, { clickhouse: harness.ch.client, log });
    await expect(start(false)).rejects.toBeInstanceOf(ConfigError);

    const d = await start(true);
    harness.daemons.splice(0, 1, d);
    await d.ready;
    const ns = harness.config.namespace;
    expect(await d.redis.get(`${ns}:{m}:shards`)).toBe('4');
    expect(await d.redis.exists(`${ns}:{m}:n`)).toBe(0);
    const per = await d.store.parkedPerShard();
    expect(per.reduce((s, p) => s + p.bank, 0)).toBe(8);
    expect(per.filter((p) => p.bank > 0).length).toBeGreaterThan(1);

    // One shard loses its memory: its epoch goes with it; the others keep theirs.
    const lost = per.findIndex((p) => p.bank > 0);
    const prefixes = shardPrefixes(ns, 4);
    const epochsBefore = await Promise.all(prefixes.map((p) => d.redis.get(`${p}epoch`)));
    for await (const keys of scanKeys(d.redis, `${prefixes[lost]}*`)) await d.redis.del(...keys);
    await harness.waitFor('the lost shard rebuilt', async () => (await d.redis.exists(`${prefixes[lost]}epoch`)) === 1 && (await d.store.parkedPerShard())[lost]!.bank === per[lost]!.bank, 30_000);
    const epochsAfter = await Promise.all(prefixes.map((p) => d.redis.get(`${p}epoch`)));
    expect(epochsAfter[lost]).not.toBe(epochsBefore[lost]);
    expect(epochsAfter.filter((_, i) => i !== lost)).toEqual(epochsBefore.filter((_, i) => i !== lost));

    for (let i = 0; i < wallets.length; i++) await harness.mint(wallets[i]!, harness.usd(BigInt(1_000 + i)));
    const matched = await harness.waitFor(
      'eight matches',
      async () => {
        const m = (await harness.matches()).filter((x) => x.status === 'matched');
        return m.length === 8 && m;
      },
      60_000,
    );
    expect(matched.map((m) => m.account_id).sort()).toEqual(wallets.map((_, i) => `ACC-${i}`).sort());
    expect((await harness.discrepancies()).filter((x) => x.status === 'open')).toEqual([]);
  }, 150_000);
});
