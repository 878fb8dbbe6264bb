import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Redis } from 'ioredis';
import type { AuditLog } from '../cases/auditLog.js';
import { AML_DISPOSITIONS, type AmlDisposition, CaseActionRefused, type CaseAction, type CaseState } from '../cases/caseLifecycle.js';
import type { CaseStore } from '../cases/caseStore.js';
import { hasRole, type Actor, type Role } from '../cases/roles.js';
import { queryRows } from '../sinks/clickhouse/queries.js';
import { CASE_API_OPENAPI } from './caseApiOpenapi.js';
import type { DecidedProposal } from '../matching/proposalDecisions.js';
import { legsOfMatch } from '../matching/manualMatches.js';
import type { ManualMatchOutcome } from '../domain/outcomes.js';

/** The web console (console/console.html), served at `/console`. */
const CONSOLE_HTML = readFileSync(new URL('./console/console.html', import.meta.url), 'utf8');

/** An API user: the hash of their bearer token, who they are and their role. */
export interface ApiUser {
  id: string;
  role: Role;
  token: string;
}

export interface CaseApiOptions {
  users: readonly ApiUser[];
  cases: CaseStore;
  audit: AuditLog;
  redis: Redis;
  clickhouse: ClickHouseClient;
  database: string;
  namespace: string;
  now?: () => number;
  /** Matches two open legs by hand or undoes a match (src/matching/manualMatches.ts); absent: the routes answer 404. */
  manualMatch?: (op: 'match' | 'unmatch', bankLegId: string, chainLegId: string, actor: string, note: string) => Promise<{ replayed: boolean; outcome: ManualMatchOutcome }>;
  /** Confirms or rejects a proposed pair (src/matching/proposalDecisions.ts); absent: the route answers 404. */
  decideProposal?: (pid: string, decision: 'confirm' | 'reject', actor: string, note: string) => Promise<DecidedProposal>;
  /**
   * Resolves once every fact durable so far is in ClickHouse (`sink.mode: log`: the fact log
   * loaded); absent with direct inserts. An action's answer waits for it, up to `visibleWithinMs`,
   * so that a read right after the answer (the case's history, the matches) shows the action.
   */
  factsLoaded?: () => Promise<void>;
  /** How long an action's answer waits for its records to show in ClickHouse (default 5 s); past it, the answer says so. */
  visibleWithinMs?: number;
}

/** Whether `p` settled within `ms` (a rejection counts as not). */
async function settledWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([
      p.then(
        () => true,
        () => false,
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A request the API answered: the status and JSON body, and who asked (for the audit record). */
type Answer = { status: number; body: unknown };

/** An error with a stable code and a human message, as every refusal of the API is shaped. */
const problem = (status: number, code: string, message: string): Answer => ({ status, body: { error: { code, message } } });

const REFUSAL_STATUS: Record<CaseActionRefused['code'], number> = {
  FORBIDDEN: 403,
  ILLEGAL_TRANSITION: 409,
  SELF_APPROVAL: 409,
  NO_PENDING_REQUEST: 409,
  INVALID_ACTION: 400,
};

const digest = (s: string) => createHash('sha256').update(s).digest();

const json = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));

/** Case state as the API shows it (bigints as decimal strings). */
const caseBody = (s: CaseState) => JSON.parse(json(s)) as unknown;

const ACTION_TYPES = new Set(['acknowledge', 'assign', 'comment', 'manual_match', 'unmatch', 'request_write_off', 'request_adjustment', 'dispose', 'approve', 'reject_request']);

/** Actions that only make sense on a discrepancy's case; `dispose` only on an AML alert's. */
const DISCREPANCY_ONLY = new Set(['manual_match', 'unmatch', 'request_write_off', 'request_adjustment', 'approve', 'reject_request']);

/** The action of a request body, or why it is not one (amounts are decimal strings of minor units). */
function parseAction(b: unknown): CaseAction | string {
  if (typeof b !== 'object' || b === null) return 'the body is a JSON object with a "type"';
  const o = b as Record<string, unknown>;
  const str = (k: string, max = 1_024) => (typeof o[k] === 'string' && (o[k] as string).length <= max ? (o[k] as string) : undefined);
  const type = str('type');
  if (!type || !ACTION_TYPES.has(type)) return `"type" is one of ${[...ACTION_TYPES].join(', ')}`;
  switch (type) {
    case 'acknowledge':
    case 'unmatch':
      return { type };
    case 'assign':
      return str('assignee', 64) ? { type, assignee: str('assignee', 64)! } : '"assignee" names who takes the case';
    case 'comment':
      return str('text', 4_000) !== undefined ? { type, text: str('text', 4_000)! } : '"text" is the comment (at most 4,000 characters)';
    case 'manual_match': {
      const legs = o.legIds;
      return Array.isArray(legs) && legs.length <= 100 && legs.every((l) => typeof l === 'string' && l.length <= 256) ? { type, legIds: legs as string[] } : '"legIds" lists the legs to match';
    }
    case 'request_write_off':
    case 'request_adjustment': {
      const amount = str('amountMinor', 40);
      if (!amount || !/^[1-9][0-9]{0,37}$/.test(amount)) return '"amountMinor" is a positive whole number of minor units, as a string';
      const currency = str('currency', 3);
      if (!currency || !/^[A-Z]{3}$/.test(currency)) return '"currency" is an ISO 4217 code';
      const reasonCode = str('reasonCode', 64);
      const requestId = str('requestId', 128);
      if (!reasonCode || !requestId) return '"reasonCode" and "requestId" are required';
      return { type, requestId, amountMinor: BigInt(amount), currency, reasonCode };
    }
    case 'dispose': {
      const disposition = str('disposition', 32);
      if (!disposition || !(AML_DISPOSITIONS as readonly string[]).includes(disposition)) return `"disposition" is one of ${AML_DISPOSITIONS.join(', ')}`;
      const reasonCode = str('reasonCode', 64);
      if (!reasonCode) return '"reasonCode" says why (a code of your procedure)';
      return { type, disposition: disposition as AmlDisposition, reasonCode };
    }
    default: {
      const requestId = str('requestId', 128);
      return requestId ? { type: type as 'approve' | 'reject_request', requestId } : '"requestId" names the pending request';
    }
  }
}

async function readBody(req: IncomingMessage, max = 64 * 1_024): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > max) throw new Error('too large');
    chunks.push(c as Buffer);
  }
  return chunks.length === 0 ? {} : (JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown);
}

/**
 * The operators' HTTP API under `/api/v1/` (described by `/api/v1/openapi.json`): bearer tokens,
 * a role per user, every call audited (`api.call` records in the audit trail), actions idempotent
 * by `Idempotency-Key`. Returns a request handler that answers the routes it owns and returns
 * false for others.
 */
export function caseApi(o: CaseApiOptions): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const now = o.now ?? Date.now;
  const tokens = o.users.map((u) => ({ user: u, hash: digest(u.token) }));
  const authenticate = (req: IncomingMessage): Actor | null => {
    const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
    if (!m) return null;
    const h = digest(m[1]!);
    const found = tokens.find((t) => timingSafeEqual(t.hash, h));
    return found ? { id: found.user.id, role: found.user.role } : null;
  };
  const db = o.database;

  /** An AML alert as its case shows it (bank customers named), or undefined. */
  async function amlAlert(alertId: string): Promise<Record<string, unknown> | undefined> {
    const [alert] = await queryRows<Record<string, unknown>>(
      o.clickhouse,
      `SELECT alert_id, rule_id, rule_type, rule_version, severity, scope, subject, currency, customers, summary, figures, evidence_event_ids,
              toUnixTimestamp64Milli(event_time) AS event_time, toUnixTimestamp64Milli(window_start) AS window_start, toUnixTimestamp64Milli(window_end) AS window_end
       FROM ${db}.aml_alerts FINAL WHERE alert_id = {id:String}`,
      { id: alertId },
    );
    return alert;
  }

  async function route(req: IncomingMessage, actor: Actor, path: string, url: URL): Promise<Answer> {
    if (req.method === 'GET' && path === '/api/v1/openapi.json') return { status: 200, body: CASE_API_OPENAPI };
    if (req.method === 'GET' && path === '/api/v1/cases') {
      const status = url.searchParams.get('status') ?? 'open';
      const kind = url.searchParams.get('kind') ?? '';
      const account = url.searchParams.get('account') ?? '';
      const minAmount = url.searchParams.get('minAmount') ?? '0';
      const cursor = url.searchParams.get('cursor') ?? '';
      const limit = Math.min(500, Math.max(1, Number(url.searchParams.get('limit') ?? 100) || 100));
      if (!['open', 'resolved', 'all'].includes(status) || !/^[0-9]{1,38}$/.test(minAmount))
        return problem(400, 'INVALID_QUERY', 'status is open, resolved or all; minAmount is a whole number of minor units');
      const rows = await queryRows<Record<string, unknown> & { discrepancy_id: string }>(
        o.clickhouse,
        // Filters inside, formatting outside: an output alias named like a column would shadow
        // the column in WHERE (ClickHouse resolves aliases there).
        `SELECT discrepancy_id, kind, status, account_id, currency, toString(expected_amount) AS expected_amount,
                toString(actual_amount) AS actual_amount, reason, toUnixTimestamp64Milli(opened_at) AS opened_at
         FROM (
           SELECT * FROM ${db}.discrepancies_current
           WHERE ({status:String} = 'all' OR status = {status:String})
             AND ({kind:String} = '' OR kind = {kind:String})
             AND ({account:String} = '' OR account_id = {account:String})
             AND (ifNull(expected_amount >= toDecimal256({minAmount:String}, 18), 0) OR ifNull(actual_amount >= toDecimal256({minAmount:String}, 18), 0))
             AND discrepancy_id > {cursor:String}
           ORDER BY discrepancy_id LIMIT {limit:UInt32}
         ) ORDER BY discrepancy_id`,
        { status, kind, account, minAmount, cursor, limit },
      );
      const states = await Promise.all(rows.map((r) => o.cases.get(r.discrepancy_id)));
      const items = rows.map((r, i) => ({ ...r, case: caseBody(states[i]!) }));
      return { status: 200, body: { items, nextCursor: rows.length === limit ? rows.at(-1)!.discrepancy_id : null } };
    }
    if (req.method === 'GET' && path === '/api/v1/aml/alerts') {
      // The analysts' queue: alerts with the customers they name, open until disposed of.
      const status = url.searchParams.get('status') ?? 'open';
      const rule = url.searchParams.get('rule') ?? '';
      const customer = url.searchParams.get('customer') ?? '';
      const cursor = url.searchParams.get('cursor') ?? '';
      const limit = Math.min(500, Math.max(1, Number(url.searchParams.get('limit') ?? 100) || 100));
      if (!['open', 'disposed', 'all'].includes(status)) return problem(400, 'INVALID_QUERY', 'status is open, disposed or all');
      const rows = await queryRows<Record<string, unknown> & { alert_id: string }>(
        o.clickhouse,
        `SELECT a.alert_id AS alert_id, a.rule_id AS rule_id, a.rule_version AS rule_version, a.severity AS severity, a.scope AS scope, a.subject AS subject,
                a.currency AS currency, a.customers AS customers, a.summary AS summary, toUnixTimestamp64Milli(a.event_time) AS event_time, d.disposition AS disposition
         FROM (SELECT * FROM ${db}.aml_alerts FINAL
               WHERE ({rule:String} = '' OR rule_id = {rule:String}) AND ({customer:String} = '' OR has(customers, {customer:String})) AND alert_id > {cursor:String}) AS a
         LEFT JOIN (SELECT alert_id, argMax(disposition, seq) AS disposition FROM ${db}.aml_dispositions GROUP BY alert_id) AS d ON d.alert_id = a.alert_id
         WHERE {status:String} = 'all' OR ({status:String} = 'open') = (d.disposition = '')
         ORDER BY a.alert_id LIMIT {limit:UInt32}`,
        { status, rule, customer, cursor, limit },
      );
      const states = await Promise.all(rows.map((r) => o.cases.get(r.alert_id)));
      const items = rows.map((r, i) => ({ ...r, case: caseBody(states[i]!) }));
      return { status: 200, body: { items, nextCursor: rows.length === limit ? rows.at(-1)!.alert_id : null } };
    }
    const mm = path === '/api/v1/matches' ? ['match', '', ''] : /^\/api\/v1\/matches\/([^/]+)\/(unmatch)$/.exec(path);
    if (mm && req.method === 'POST' && o.manualMatch) {
      if (!hasRole(actor, 'operator')) return problem(403, 'FORBIDDEN', `${actor.id} (${actor.role}) may not match by hand: it needs the operator role`);
      let body: { bankLegId?: unknown; chainLegId?: unknown; text?: unknown };
      try {
        body = (await readBody(req)) as typeof body;
      } catch {
        return problem(400, 'INVALID_BODY', 'the body is JSON of at most 64 KiB');
      }
      const note = typeof body.text === 'string' ? body.text.slice(0, 2_000) : '';
      const legs =
        mm[2] === 'unmatch'
          ? legsOfMatch(decodeURIComponent(mm[1]!))
          : typeof body.bankLegId === 'string' && typeof body.chainLegId === 'string'
            ? { bankLegId: body.bankLegId, chainLegId: body.chainLegId }
            : null;
      if (!legs) return problem(400, 'INVALID_ACTION', mm[2] === 'unmatch' ? 'a match id is match:<bank leg id>|<chain leg id>' : 'give bankLegId and chainLegId');
      const r = await o.manualMatch(mm[2] === 'unmatch' ? 'unmatch' : 'match', legs.bankLegId, legs.chainLegId, actor.id, note);
      if (r.outcome.t === 'refused') return problem(409, 'REFUSED', r.outcome.reason);
      return { status: 200, body: { replayed: r.replayed, outcome: r.outcome } };
    }
    const pm = /^\/api\/v1\/proposals\/([^/]+)\/(confirm|reject)$/.exec(path);
    if (pm && req.method === 'POST' && o.decideProposal) {
      if (!hasRole(actor, 'operator')) return problem(403, 'FORBIDDEN', `${actor.id} (${actor.role}) may not decide proposals: it needs the operator role`);
      let body: unknown;
      try {
        body = await readBody(req);
      } catch {
        return problem(400, 'INVALID_BODY', 'the body is JSON of at most 64 KiB');
      }
      const text = (body as { text?: unknown }).text;
      const note = typeof text === 'string' ? text.slice(0, 2_000) : '';
      const r = await o.decideProposal(decodeURIComponent(pm[1]!), pm[2] as 'confirm' | 'reject', actor.id, note);
      if (r.outcome.t === 'unknown') return problem(404, 'NOT_FOUND', `no proposal ${decodeURIComponent(pm[1]!)}`);
      if (r.outcome.t === 'superseded') return problem(409, 'SUPERSEDED', 'the legs are no longer proposed as this pair');
      const decided = r.outcome.t === 'confirmed' ? 'confirm' : 'reject';
      if (r.replayed && decided !== pm[2]) return problem(409, 'ALREADY_DECIDED', `the proposal was already ${r.outcome.t}`);
      return { status: 200, body: { replayed: r.replayed, decision: r.outcome } };
    }
    const m = /^\/api\/v1\/cases\/([^/]+)(\/actions)?$/.exec(path);
    if (!m) return problem(404, 'NOT_FOUND', `no route ${req.method} ${path}`);
    const caseId = decodeURIComponent(m[1]!);
    if (req.method === 'GET' && !m[2]) {
      const [discrepancy] = await queryRows(o.clickhouse, `SELECT * FROM ${db}.discrepancies_current WHERE discrepancy_id = {id:String}`, { id: caseId });
      if (!discrepancy) {
        const alert = await amlAlert(caseId);
        if (!alert) return problem(404, 'NOT_FOUND', `no discrepancy or AML alert ${caseId}`);
        const history = await queryRows(
          o.clickhouse,
          `SELECT seq, toUnixTimestamp64Milli(at) AS at, actor, action, content FROM ${db}.audit_log FINAL WHERE subject = {id:String} AND action LIKE 'case.%' ORDER BY seq`,
          { id: caseId },
        );
        return { status: 200, body: { alert, case: caseBody(await o.cases.get(caseId)), history } };
      }
      const history = await queryRows(
        o.clickhouse,
        `SELECT seq, toUnixTimestamp64Milli(at) AS at, actor, action, content FROM ${db}.audit_log FINAL WHERE subject = {id:String} AND (action LIKE 'case.%' OR action LIKE 'discrepancy.%') ORDER BY seq`,
        { id: caseId },
      );
      return { status: 200, body: { discrepancy, case: caseBody(await o.cases.get(caseId)), history } };
    }
    if (req.method === 'POST' && m[2]) {
      if (!hasRole(actor, 'operator')) return problem(403, 'FORBIDDEN', `${actor.id} (${actor.role}) may not act on cases: it needs the operator role`);
      let body: unknown;
      try {
        body = await readBody(req);
      } catch {
        return problem(400, 'INVALID_BODY', 'the body is JSON of at most 64 KiB');
      }
      const action = parseAction(body);
      if (typeof action === 'string') return problem(400, 'INVALID_ACTION', action);
      // An AML alert's case is taken, commented and disposed of; a discrepancy's is matched,
      // written off or adjusted. Which one this is, ClickHouse knows.
      if (action.type === 'dispose' || DISCREPANCY_ONLY.has(action.type)) {
        const isAlert = (await amlAlert(caseId)) !== undefined;
        if (isAlert !== (action.type === 'dispose'))
          return problem(
            400,
            'INVALID_ACTION',
            action.type === 'dispose' ? `${caseId} is not an AML alert: only an alert is disposed of` : `${caseId} is an AML alert: it is disposed of, not ${action.type.replaceAll('_', ' ')}ed`,
          );
      }
      const key = req.headers['idempotency-key'];
      const idemKey = typeof key === 'string' && key.length > 0 && key.length <= 128 ? `${o.namespace}:{audit}:idem:${actor.id}:${key}` : null;
      if (idemKey) {
        const claimed = await o.redis.set(idemKey, 'pending', 'EX', 86_400, 'NX');
        if (claimed !== 'OK') {
          const stored = await o.redis.get(idemKey);
          return stored && stored !== 'pending' ? (JSON.parse(stored) as Answer) : problem(409, 'IN_PROGRESS', 'a request with this Idempotency-Key is in progress');
        }
      }
      let answer: Answer;
      try {
        const r = await o.cases.act(caseId, action, actor);
        answer = { status: 200, body: { case: caseBody(r.state), auditSeq: r.record.seq } };
      } catch (e) {
        if (!(e instanceof CaseActionRefused)) {
          if (idemKey) await o.redis.del(idemKey);
          throw e;
        }
        answer = problem(REFUSAL_STATUS[e.code], e.code, e.message);
      }
      if (idemKey) await o.redis.set(idemKey, JSON.stringify(answer), 'EX', 86_400);
      return answer;
    }
    return problem(405, 'METHOD_NOT_ALLOWED', `${req.method} ${path} is not allowed`);
  }

  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://api');
    if (req.method === 'GET' && (url.pathname === '/console' || url.pathname === '/console/')) {
      // The page holds no data: it asks for a token and calls this API like any other client.
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.setHeader('content-security-policy', "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; frame-ancestors 'none'");
      res.end(CONSOLE_HTML);
      return true;
    }
    if (!url.pathname.startsWith('/api/')) return false;
    const actor = authenticate(req);
    let answer: Answer;
    if (!actor) answer = problem(401, 'UNAUTHENTICATED', 'send Authorization: Bearer <token>');
    else {
      try {
        answer = await route(req, actor, url.pathname, url);
      } catch (e) {
        answer = problem(500, 'INTERNAL', e instanceof Error ? e.message : String(e));
      }
    }
    // Every call, answered or refused, is a record of the audit trail; without it, no answer
    // (an action already applied has its own record: retry with the same Idempotency-Key).
    try {
      await o.audit.append([{ at: now(), actor: actor?.id ?? 'anonymous', action: 'api.call', subject: `${req.method} ${url.pathname}`, content: { status: answer.status, query: url.search } }]);
    } catch (e) {
      answer = problem(503, 'AUDIT_UNAVAILABLE', `the call could not be audited: ${e instanceof Error ? e.message : String(e)}`);
    }
    // With the fact log, an action's records reach ClickHouse about a second after they are
    // durable: the answer waits for them, so a read right after it shows the action. If ClickHouse
    // is behind, it answers anyway (the records are durable in the log) and says so.
    if (o.factsLoaded && req.method !== 'GET' && answer.status < 300 && !(await settledWithin(o.factsLoaded(), o.visibleWithinMs ?? 5_000))) {
      res.setHeader('recon-facts-visible', 'pending');
    }
    res.statusCode = answer.status;
    res.setHeader('content-type', 'application/json');
    res.end(json(answer.body));
    return true;
  };
}
