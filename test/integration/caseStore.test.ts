import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/cases/auditLog.js';
import { CaseActionRefused, type FourEyesPolicy } from '../../src/cases/caseLifecycle.js';
import { CaseStore } from '../../src/cases/caseStore.js';
import type { Actor } from '../../src/cases/roles.js';
import { createFactWriter } from '../../src/sinks/clickhouse/factWriter.js';
import { tempClickHouse, type TempClickHouse } from '../support/clickhouse.js';

const alice: Actor = { id: 'alice', role: 'operator' };
const bob: Actor = { id: 'bob', role: 'approver' };
const carol: Actor = { id: 'carol', role: 'approver' };
const policy: FourEyesPolicy = { thresholdMinor: { USD: 100_000n }, defaultMinor: 0n };

/** Cases on real Redis with their audit trail in ClickHouse (chdb); every test on its own namespace. */
describe('case store', () => {
  let ch: TempClickHouse;
  const clients: Redis[] = [];
  let namespace: string;
  /** A store with its own Redis connection, as another worker or API instance would have. */
  const store = () => {
    const redis = new Redis('redis://127.0.0.1:6379');
    clients.push(redis);
    const audit = new AuditLog({ redis, clickhouse: ch.client, database: ch.database, writer: createFactWriter(ch.client, ch.database), namespace });
    return { cases: new CaseStore({ redis, audit, namespace, policy }), audit };
  };
  const refusal = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (e) {
      if (e instanceof CaseActionRefused) return e.code;
      throw e;
    }
    return 'applied';
  };

  beforeAll(async () => {
    ch = await tempClickHouse();
  });
  beforeEach(async () => {
    namespace = `cases-${randomUUID().slice(0, 8)}`;
    await ch.client.command({ query: `TRUNCATE TABLE ${ch.database}.audit_log` });
  });
  afterAll(async () => {
    for (const r of clients) r.disconnect();
    await ch?.close();
  });

  it('walks a write-off through four eyes, each step an audit record of the case', async () => {
    const { cases, audit } = store();
    await cases.act('MISSING_MINT:bank:E-1', { type: 'acknowledge' }, alice);
    await cases.act('MISSING_MINT:bank:E-1', { type: 'assign', assignee: 'alice' }, alice);
    const held = await cases.act('MISSING_MINT:bank:E-1', { type: 'request_write_off', requestId: 'R-1', amountMinor: 250_000n, currency: 'USD', reasonCode: 'FEE' }, alice);
    expect(held.state.pending).toMatchObject({ requestedBy: 'alice', amountMinor: 250_000n });
    expect(await refusal(cases.act('MISSING_MINT:bank:E-1', { type: 'approve', requestId: 'R-1' }, { id: 'alice', role: 'admin' }))).toBe('SELF_APPROVAL');
    const done = await cases.act('MISSING_MINT:bank:E-1', { type: 'approve', requestId: 'R-1' }, bob);
    expect(done.state).toMatchObject({ status: 'resolved', resolution: 'write_off', version: 4 });
    expect(await store().cases.get('MISSING_MINT:bank:E-1')).toEqual(done.state);

    const history = [];
    for await (const page of audit.records()) history.push(...page);
    expect(history.map((r) => [r.actor, r.action])).toEqual([
      ['alice', 'case.acknowledge'],
      ['alice', 'case.assign'],
      ['alice', 'case.request_write_off'],
      ['bob', 'case.approve'],
    ]);
    expect(JSON.parse(history[2]!.content)).toMatchObject({ action: { amountMinor: '250000' }, from: 'assigned', to: 'assigned' });
    expect(await audit.verify()).toMatchObject({ ok: true, records: 4 });
  });

  it('lets exactly one of two approvers racing for the same request win; the other is told why', async () => {
    const a = store();
    await a.cases.act('C-2', { type: 'assign', assignee: 'alice' }, alice);
    await a.cases.act('C-2', { type: 'request_adjustment', requestId: 'R-7', amountMinor: 500_000n, currency: 'USD', reasonCode: 'FX' }, alice);
    const [x, y] = [store(), store()];
    const outcomes = await Promise.all([refusal(x.cases.act('C-2', { type: 'approve', requestId: 'R-7' }, bob)), refusal(y.cases.act('C-2', { type: 'approve', requestId: 'R-7' }, carol))]);
    expect(outcomes.sort()).toEqual(['NO_PENDING_REQUEST', 'applied']);
    const approvals = [];
    for await (const page of a.audit.records()) approvals.push(...page.filter((r) => r.action === 'case.approve'));
    expect(approvals).toHaveLength(1);
    expect(await a.audit.verify()).toMatchObject({ ok: true, records: 3 });
  });

  it('applies every one of many concurrent actions on several cases, in one unbroken chain', async () => {
    const writers = [store(), store(), store()];
    await Promise.all(
      writers.map((w, i) =>
        (async () => {
          for (let n = 0; n < 10; n++) await w.cases.act(`C-${n % 2}`, { type: 'comment', text: `writer ${i} note ${n}` }, alice);
        })(),
      ),
    );
    const [c0, c1] = await Promise.all([writers[0]!.cases.get('C-0'), writers[0]!.cases.get('C-1')]);
    expect(c0.version + c1.version).toBe(30);
    expect(await writers[0]!.audit.verify()).toMatchObject({ ok: true, records: 30 });
  });

  it('stores nothing for a refused action', async () => {
    const { cases, audit } = store();
    expect(await refusal(cases.act('C-3', { type: 'acknowledge' }, { id: 'vic', role: 'viewer' }))).toBe('FORBIDDEN');
    expect(await refusal(cases.act('C-3', { type: 'unmatch' }, alice))).toBe('ILLEGAL_TRANSITION');
    expect((await cases.get('C-3')).version).toBe(0);
    expect(await audit.head()).toBeNull();
  });
});
