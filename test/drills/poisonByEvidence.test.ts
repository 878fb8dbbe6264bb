import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/sinks/clickhouse/queries.js';
import { accountId, expectedOf, verify } from '../support/drillTraffic.js';
import { settle, startDrill, steadyTraffic, waitFor, type Drill } from '../support/drill.js';

const ACCOUNTS = 20;
const POISONED = 3;
const MAX_DELIVERIES = 3;

/**
 * Drill: the AML window state of one customer is corrupted in Redis (its window key holds a string,
 * so the AML script fails with WRONGTYPE on every event of that customer, an error nobody
 * anticipated) while steady traffic flows for twenty customers. The poisoned customer's messages
 * fail on each delivery while the others go through: each is dead-lettered as POISON_MESSAGE with
 * its last error after exactly `maxDeliveries` deliveries, never looping; everything else is stored
 * and matched. (An outage, where nothing goes through, is the Redis and ClickHouse outage drills:
 * nothing is dead-lettered there.)
 */
describe('drill: poison found by evidence', () => {
  let d: Drill | undefined;
  afterAll(async () => d?.cleanup());

  it('dead-letters the messages that keep failing while others pass, after the delivery limit, with their last error', { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'poison-rules-'));
    const rulesFile = join(dir, 'rules.yaml');
    writeFileSync(
      rulesFile,
      stringify({
        version: 'poison-1',
        rules: [{ id: 'large-value', type: 'large_value', scope: 'customer', threshold: { USD: '1000000.00' }, suppress: 0 }],
      }),
    );
    const suffix = Math.random().toString(36).slice(2, 8);
    d = await startDrill({
      accounts: ACCOUNTS,
      config: {
        nats: { maxDeliveries: MAX_DELIVERIES, redeliveryDelayMs: { min: 50, max: 400 } } as never,
        aml: { enabled: true, rulesFile, reloadSubject: `aml_${suffix}.reload`, watchlistSubject: `aml_${suffix}.watch` },
      },
    });
    const drill = d;
    const redis = new Redis(drill.config.redis.url);
    await redis.set(`${drill.config.namespace}:{aml}:w:customer:${accountId(POISONED)}:USD`, 'corrupted');
    redis.disconnect();

    const daemon = await drill.startDaemon();
    const traffic = steadyTraffic(drill, 200);
    // Run until 300 pairs (15 of them the poisoned customer's) are out, however busy the machine is.
    await waitFor('300 pairs published', () => traffic.published() >= 300, 60_000);
    const pairs = await traffic.stop();
    await settle(drill, {
      sweep: () => daemon.sweep(),
      parked: async () => {
        const p = await daemon.store.parkedCount();
        return p.bank + p.chain;
      },
    });

    const poisoned = pairs.filter((p) => p.i % ACCOUNTS === POISONED);
    expect(poisoned.length).toBeGreaterThanOrEqual(15);
    // At customer scope a mint to a mapped wallet mirrors the posting and is no AML movement: only
    // the poisoned customer's postings touch the corrupted key.
    const poisonMessages = poisoned.filter((p) => p.posting).length;

    const dl = await queryRows<{ reason_code: string; reason: string; source: string }>(drill.ch!.client, `SELECT reason_code, reason, source FROM ${drill.ch!.database}.dead_letters FINAL`);
    expect(dl).toHaveLength(poisonMessages);
    for (const x of dl) {
      expect(x.reason_code).toBe('POISON_MESSAGE');
      expect(x.reason).toMatch(new RegExp(`failed on each of ${MAX_DELIVERIES} deliveries .*while other messages went through.*WRONGTYPE`));
    }
    // Delivered exactly maxDeliveries times each: the redeliveries are the poisoned messages' retries, no more.
    const redelivered = (await daemon.metrics.redeliveries.get()).values.reduce((s, v) => s + v.value, 0);
    expect(redelivered).toBe(poisonMessages * (MAX_DELIVERIES - 1));

    // Every other pair is stored and matched as if nothing happened (the fee posting of settle
    // included). The poisoned postings' legs reached Redis before their AML step failed, so their
    // mints still pair with them: the chain events are stored, the postings are dead letters, and
    // the match fact exists when the mint came second (it is then the mint's fact) and is lost with
    // the dead-lettered posting when the mint came first (one bad message costs that message).
    const e = expectedOf(pairs, 1);
    e.postings -= poisonMessages;
    e.poison = poisonMessages;
    const verdict = await verify(drill.ch!.client, drill.ch!.database, e);
    const poisonedMatches = new Set(poisoned.map((p) => p.matchId));
    expect(
      verdict.missingMatches.filter((m) => !poisonedMatches.has(m)),
      'matches missing outside the poisoned customer',
    ).toEqual([]);
    expect(verdict.problems.filter((x) => !x.startsWith('matches') && !/matches missing/.test(x))).toEqual([]);
    expect(verdict.falseMatches).toEqual([]);
    expect(verdict.falseDiscrepancies).toEqual([]);
    console.info(
      `poison by evidence: ${pairs.length} pairs, ${poisonMessages} messages of a corrupted customer dead-lettered after ${MAX_DELIVERIES} deliveries each, ${pairs.length - poisoned.length} other pairs matched`,
    );
  });
});
