import { describe, expect, it } from 'vitest';
import { clickHouseOutageDrill } from '../support/drillClickHouse.js';

/** Drill: ClickHouse (chdb) unreachable under steady traffic, with facts made durable in the fact log. */
describe('drill: ClickHouse unavailable, sink.mode log', () => {
  it('matches and acks on through the outage, the fact log holds the facts, and the loader stores each once when it returns', async () => {
    const summary = await clickHouseOutageDrill('chdb', 8_000, 'log');
    console.info(summary);
    expect(summary).toMatch(/matching ran on.*caught up/);
  }, 120_000);
});
