import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Address } from 'viem';
import { casesMain } from '../../src/cli/cases.js';
import { queryRows } from '../../src/sinks/clickhouse/queries.js';
import { randomWallet, startHarness, type Harness } from './harness.js';

/** The fields the tests read of the API's answers (each answer has some of them). */
interface ApiBody {
  error: { code: string; message: string };
  case: Record<string, unknown>;
  items: { discrepancy_id: string; case: Record<string, unknown> }[];
  discrepancy: Record<string, unknown>;
  history: { actor: string; action: string }[];
  openapi: string;
}

const TOKENS = {
  vic: 'viewer-token-0123456789abcdefghijklmnop',
  alice: 'operator-token-0123456789abcdefghijklmn',
  bob: 'approver-token-0123456789abcdefghijklmn',
  carol: 'approver2-token-0123456789abcdefghijklm',
};

/**
 * The case API on a worker, on real services: roles on every endpoint, four eyes, idempotency,
 * every call audited. With `sinkMode` log (test/integration/caseApiFactLog.test.ts), an action's
 * answer comes once its records are loaded from the fact log, so every read right after it shows it.
 */
export function caseApiSuite(sinkMode?: 'direct' | 'log'): void {
  describe(`case API${sinkMode ? `, sink.mode ${sinkMode}` : ''}`, () => {
    let h: Harness;
    let base: string;
    let calls = 0;
    const wallet: Address = randomWallet();

    const api = async (who: keyof typeof TOKENS | null, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
      calls++;
      const res = await fetch(`${base}${path}`, {
        method,
        headers: { ...(who && { authorization: `Bearer ${TOKENS[who]}` }), 'content-type': 'application/json', ...headers },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      return { status: res.status, body: (await res.json()) as ApiBody };
    };

    beforeAll(async () => {
      h = await startHarness({
        ...(sinkMode && { sinkMode }),
        accounts: [{ accountId: 'ACC-1', wallets: [wallet] }],
        config: {
          cases: {
            enabled: true,
            tokens: [
              { id: 'vic', role: 'viewer', token: TOKENS.vic },
              { id: 'alice', role: 'operator', token: TOKENS.alice },
              { id: 'bob', role: 'approver', token: TOKENS.bob },
              { id: 'carol', role: 'approver', token: TOKENS.carol },
            ],
            fourEyes: { thresholdMinor: { USD: '100000' } },
          },
        },
      });
      base = h.daemon.httpAddress()!;
      // A deposit whose mint never comes: MISSING_MINT once its window closes.
      await h.posting({ entryId: 'E-1', accountId: 'ACC-1', amountMinor: 250_000n });
      await h.waitFor('MISSING_MINT', async () => (await h.discrepancies()).some((d) => d.kind === 'MISSING_MINT'), 30_000);
    }, 120_000);

    afterAll(async () => {
      await h?.stop();
    });

    const caseId = 'MISSING_MINT:bank:E-1';
    const path = `/api/v1/cases/${encodeURIComponent(caseId)}`;

    it('refuses a call without a token or with an unknown one, on every route', async () => {
      for (const [method, p] of [
        ['GET', '/api/v1/cases'],
        ['GET', path],
        ['POST', `${path}/actions`],
        ['GET', '/api/v1/aml/alerts'],
        ['POST', '/api/v1/matches'],
        ['POST', '/api/v1/matches/match%3Abank%3AE-1%7Cchain%3Ax/unmatch'],
        ['POST', '/api/v1/proposals/proposal%3Abank%3AE-1%7Cchain%3Ax/confirm'],
        ['GET', '/api/v1/openapi.json'],
      ] as const) {
        expect((await api(null, method, p, method === 'POST' ? { type: 'acknowledge' } : undefined)).status).toBe(401);
      }
      calls++;
      const res = await fetch(`${base}/api/v1/cases`, { headers: { authorization: 'Bearer not-a-token-of-anyone-at-all-00000000' } });
      expect(res.status).toBe(401);
    });

    it('lets a viewer read the queue, the case and the API description, and act on nothing', async () => {
      const list = await api('vic', 'GET', '/api/v1/cases?kind=MISSING_MINT');
      expect(list.status).toBe(200);
      expect(list.body.items.map((i: { discrepancy_id: string }) => i.discrepancy_id)).toContain(caseId);
      expect(list.body.items[0]!.case).toMatchObject({ status: 'open', version: 0 });
      const one = await api('vic', 'GET', path);
      expect(one.body.discrepancy).toMatchObject({ kind: 'MISSING_MINT', account_id: 'ACC-1', expected_amount: '250000' });
      expect((await api('vic', 'GET', '/api/v1/openapi.json')).body.openapi).toBe('3.1.0');
      const act = await api('vic', 'POST', `${path}/actions`, { type: 'acknowledge' });
      expect(act).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
      expect((await api('vic', 'GET', '/api/v1/cases?minAmount=250001')).body.items.map((i: { discrepancy_id: string }) => i.discrepancy_id)).not.toContain(caseId);
    });

    it('works a write-off through four eyes: operator requests, requester and operators cannot approve, a second approver does', async () => {
      expect((await api('alice', 'POST', `${path}/actions`, { type: 'acknowledge' })).body.case).toMatchObject({ status: 'acknowledged' });
      expect((await api('alice', 'POST', `${path}/actions`, { type: 'acknowledge' })).body.error.code).toBe('ILLEGAL_TRANSITION');
      await api('alice', 'POST', `${path}/actions`, { type: 'assign', assignee: 'bob' });
      const bad = await api('bob', 'POST', `${path}/actions`, { type: 'request_write_off', requestId: 'R-1', amountMinor: 250000, currency: 'USD', reasonCode: 'FEE' });
      expect(bad).toMatchObject({ status: 400, body: { error: { code: 'INVALID_ACTION' } } });
      const req = await api('bob', 'POST', `${path}/actions`, { type: 'request_write_off', requestId: 'R-1', amountMinor: '250000', currency: 'USD', reasonCode: 'FEE' });
      expect(req.body.case).toMatchObject({ status: 'assigned', pending: { requestedBy: 'bob', amountMinor: '250000' } });
      expect((await api('alice', 'POST', `${path}/actions`, { type: 'approve', requestId: 'R-1' })).status).toBe(403);
      expect((await api('bob', 'POST', `${path}/actions`, { type: 'approve', requestId: 'R-1' })).body.error.code).toBe('SELF_APPROVAL');
      const ok = await api('carol', 'POST', `${path}/actions`, { type: 'approve', requestId: 'R-1' }, { 'idempotency-key': 'approve-R-1' });
      expect(ok.body.case).toMatchObject({ status: 'resolved', resolution: 'write_off' });
      // The same call again: the first answer, not a second approval.
      const again = await api('carol', 'POST', `${path}/actions`, { type: 'approve', requestId: 'R-1' }, { 'idempotency-key': 'approve-R-1' });
      expect(again).toEqual(ok);
      const history = (await api('vic', 'GET', path)).body.history as { actor: string; action: string }[];
      // The operators' actions in order, and the discrepancy's opening by data as its own record
      // (chained just after its fact became visible: before or after the first action).
      const lines = history.map((r) => `${r.actor} ${r.action}`);
      expect(lines.filter((l) => l.startsWith('system '))).toEqual(['system discrepancy.open']);
      expect(lines.filter((l) => !l.startsWith('system '))).toEqual(['alice case.acknowledge', 'alice case.assign', 'bob case.request_write_off', 'carol case.approve']);
    });

    it('recon cases: the CLI lists, shows and acts through the same API, exit 1 on a refusal', async () => {
      const lines: string[] = [];
      const cli = (who: keyof typeof TOKENS, ...argv: string[]) => {
        calls++;
        return casesMain(argv, { RECON_API_URL: base, RECON_API_TOKEN: TOKENS[who] }, { out: (l) => lines.push(l) });
      };
      expect(await cli('vic', 'list', '--status', 'all', '--kind', 'MISSING_MINT')).toBe(0);
      expect((JSON.parse(lines.pop()!) as ApiBody).items.map((i) => i.discrepancy_id)).toContain(caseId);
      expect(await cli('alice', 'act', caseId, 'comment', '--text', 'written off after the fee was confirmed')).toBe(0);
      expect(await cli('alice', 'act', caseId, 'acknowledge')).toBe(1);
      expect(JSON.parse(lines.pop()!)).toMatchObject({ error: { code: 'ILLEGAL_TRANSITION' } });
      expect(await cli('vic', 'show', caseId)).toBe(0);
      expect((JSON.parse(lines.pop()!) as ApiBody).case).toMatchObject({ status: 'resolved', resolution: 'write_off' });
      expect(await casesMain(['act', caseId], { RECON_API_URL: base, RECON_API_TOKEN: TOKENS.vic })).toBe(2);
    });

    it('audits every call, answered or refused, and the trail verifies', async () => {
      const db = h.ch.database;
      await h.waitFor(
        'every call audited',
        async () => {
          const [r] = await queryRows<{ n: string }>(h.ch.client, `SELECT count() AS n FROM ${db}.audit_log FINAL WHERE action = 'api.call'`);
          return Number(r!.n) === calls;
        },
        10_000,
      );
      const anon = await queryRows<{ n: string }>(h.ch.client, `SELECT count() AS n FROM ${db}.audit_log FINAL WHERE action = 'api.call' AND actor = 'anonymous'`);
      expect(Number(anon[0]!.n)).toBe(9); // the 8 routes tried without a token, and the one with an unknown token
    });
  });
}
