import { describe, expect, it } from 'vitest';
import { clickHouseOutageDrill } from '../support/drillClickHouse.js';

/** Drill: embedded ClickHouse (chdb) unreachable for a while under steady traffic. */
describe('drill: ClickHouse (chdb) unavailable', () => {
  it('stops acking, holds bounded memory, and catches up with every fact once when it returns', async () => {
    const summary = await clickHouseOutageDrill('chdb');
    console.info(summary);
    expect(summary).toMatch(/caught up/);
  }, 120_000);
});
