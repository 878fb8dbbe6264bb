import { describe, expect, it } from 'vitest';
import { clickHouseOutageDrill } from '../support/drillClickHouse.js';

/**
 * Drill: the HTTP ClickHouse client against a closed port for a while under steady traffic (its
 * own ECONNREFUSED), then ClickHouse is back (chdb stands in for the server once it returns).
 */
describe('drill: ClickHouse over HTTP unavailable (closed port)', () => {
  it('stops acking, holds bounded memory, and catches up with every fact once when it returns', async () => {
    const summary = await clickHouseOutageDrill('http');
    console.info(summary);
    expect(summary).toMatch(/caught up/);
  }, 120_000);
});
