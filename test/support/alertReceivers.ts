import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Local stand-ins for PagerDuty's Events API v2 and Slack's incoming webhooks: every request is
 * validated against the documented shape (PagerDuty: https://developer.pagerduty.com/docs/events-api-v2/trigger-events/,
 * Slack: https://api.slack.com/messaging/webhooks and the Block Kit reference) and answered as the
 * service would (202 / 200 "ok", 400 with the errors) — or as the test says: 429 with Retry-After,
 * 500, or no answer at all. PagerDuty incidents are modelled by dedup key (a trigger on an open
 * incident folds into it; a resolve closes it), so a test can count incidents, not requests.
 */

/** 'hang': no answer, nothing processed; 'processThenHang': processed like a valid request (an incident exists), but the answer never comes. */
export type Answer = { status: number; body?: string | object; headers?: Record<string, string> } | 'hang' | 'processThenHang';
/** Decides the answer to the n-th request (0-based) of an endpoint; undefined means the normal answer. */
export type Behaviour = (n: number, body: unknown) => Answer | undefined;
/** Requests whose request was processed (the channel has it), answered or not. */
export const processed = (r: ReceivedRequest): boolean => r.errors.length === 0 && (r.status === 200 || r.status === 202 || r.processed === true);

export interface ReceivedRequest {
  at: number;
  path: string;
  body: unknown;
  /** Problems with the request's shape; a request with any is answered 400. */
  errors: string[];
  status: number | 'hang';
  processed?: boolean;
}

export interface Incident {
  dedupKey: string;
  routingKey: string;
  status: 'triggered' | 'resolved';
  /** Trigger events received for it (1 + folded re-triggers). */
  triggers: number;
  resolves: number;
  summary: string;
  severity: string;
  customDetails: Record<string, unknown>;
}

const ALERT_SEVERITIES = ['critical', 'error', 'warning', 'info'];
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown, max = Infinity, min = 1): v is string => typeof v === 'string' && v.length >= min && v.length <= max;

/** Errors of a PagerDuty Events API v2 event (empty when valid). */
export function validatePagerDutyEvent(e: unknown): string[] {
  const errs: string[] = [];
  if (!isObj(e)) return ['body must be a JSON object'];
  const allowed = new Set(['routing_key', 'event_action', 'dedup_key', 'payload', 'images', 'links', 'client', 'client_url']);
  for (const k of Object.keys(e)) if (!allowed.has(k)) errs.push(`unknown field ${k}`);
  if (!isStr(e.routing_key) || e.routing_key.length !== 32) errs.push('routing_key must be a 32-character integration key');
  if (!['trigger', 'acknowledge', 'resolve'].includes(String(e.event_action))) errs.push('event_action must be trigger, acknowledge or resolve');
  if (e.dedup_key !== undefined && !isStr(e.dedup_key, 255)) errs.push('dedup_key must be a string of at most 255 characters');
  if (e.event_action !== 'trigger' && e.dedup_key === undefined) errs.push('dedup_key is required for acknowledge and resolve');
  if (e.event_action === 'trigger') {
    const p = e.payload;
    if (!isObj(p)) errs.push('payload is required for trigger');
    else {
      const pAllowed = new Set(['summary', 'source', 'severity', 'timestamp', 'component', 'group', 'class', 'custom_details']);
      for (const k of Object.keys(p)) if (!pAllowed.has(k)) errs.push(`unknown payload field ${k}`);
      if (!isStr(p.summary, 1024)) errs.push('payload.summary must be a string of 1..1024 characters');
      if (!isStr(p.source)) errs.push('payload.source is required');
      if (!ALERT_SEVERITIES.includes(String(p.severity))) errs.push('payload.severity must be critical, error, warning or info');
      if (p.timestamp !== undefined && (!isStr(p.timestamp) || Number.isNaN(Date.parse(p.timestamp)) || !/^\d{4}-\d\d-\d\dT/.test(p.timestamp))) errs.push('payload.timestamp must be ISO 8601');
      for (const k of ['component', 'group', 'class'] as const) if (p[k] !== undefined && !isStr(p[k])) errs.push(`payload.${k} must be a non-empty string`);
      if (p.custom_details !== undefined && !isObj(p.custom_details)) errs.push('payload.custom_details must be an object');
    }
  } else if (e.payload !== undefined && !isObj(e.payload)) errs.push('payload must be an object');
  if (e.links !== undefined && (!Array.isArray(e.links) || e.links.some((l) => !isObj(l) || !isStr(l.href)))) errs.push('links must be [{href, text?}]');
  if (e.images !== undefined && (!Array.isArray(e.images) || e.images.some((l) => !isObj(l) || !isStr(l.src)))) errs.push('images must be [{src, href?, alt?}]');
  if (e.client !== undefined && !isStr(e.client)) errs.push('client must be a string');
  if (e.client_url !== undefined && !isStr(e.client_url)) errs.push('client_url must be a string');
  return errs;
}

function textObject(t: unknown, where: string, max: number, plainOnly = false): string[] {
  if (!isObj(t)) return [`${where} must be a text object`];
  const errs: string[] = [];
  if (plainOnly ? t.type !== 'plain_text' : !['plain_text', 'mrkdwn'].includes(String(t.type))) errs.push(`${where}.type must be ${plainOnly ? 'plain_text' : 'plain_text or mrkdwn'}`);
  if (!isStr(t.text, max)) errs.push(`${where}.text must be 1..${max} characters`);
  return errs;
}

/** Errors of a Slack incoming-webhook message with Block Kit blocks (empty when valid). */
export function validateSlackMessage(m: unknown): string[] {
  if (!isObj(m)) return ['invalid_payload: body must be a JSON object'];
  const errs: string[] = [];
  if (m.text === undefined && m.blocks === undefined) errs.push('no_text: text or blocks is required');
  if (m.text !== undefined && !isStr(m.text, 40_000)) errs.push('text must be a non-empty string');
  if (m.blocks !== undefined) {
    if (!Array.isArray(m.blocks) || m.blocks.length === 0 || m.blocks.length > 50) errs.push('invalid_blocks: blocks must be 1..50 blocks');
    else
      m.blocks.forEach((b, i) => {
        const w = `blocks[${i}]`;
        if (!isObj(b)) {
          errs.push(`${w} must be an object`);
          return;
        }
        switch (b.type) {
          case 'header':
            errs.push(...textObject(b.text, `${w}.text`, 150, true));
            break;
          case 'section':
            if (b.text === undefined && b.fields === undefined) errs.push(`${w} needs text or fields`);
            if (b.text !== undefined) errs.push(...textObject(b.text, `${w}.text`, 3000));
            if (b.fields !== undefined) {
              if (!Array.isArray(b.fields) || b.fields.length === 0 || b.fields.length > 10) errs.push(`${w}.fields must be 1..10`);
              else for (const [j, f] of b.fields.entries()) errs.push(...textObject(f, `${w}.fields[${j}]`, 2000));
            }
            break;
          case 'context':
            if (!Array.isArray(b.elements) || b.elements.length === 0 || b.elements.length > 10) errs.push(`${w}.elements must be 1..10`);
            else for (const [j, el] of b.elements.entries()) errs.push(...textObject(el, `${w}.elements[${j}]`, 3000));
            break;
          case 'divider':
            break;
          case 'actions':
            if (!Array.isArray(b.elements) || b.elements.length === 0 || b.elements.length > 25) errs.push(`${w}.elements must be 1..25`);
            else
              b.elements.forEach((el, j) => {
                if (!isObj(el) || el.type !== 'button') {
                  errs.push(`${w}.elements[${j}] must be a button`);
                  return;
                }
                errs.push(...textObject(el.text, `${w}.elements[${j}].text`, 75, true));
                if (el.url !== undefined && (!isStr(el.url, 3000) || !/^https?:\/\//.test(el.url))) errs.push(`${w}.elements[${j}].url must be an http(s) URL`);
              });
            break;
          default:
            errs.push(`${w}.type ${String(b.type)} is not a supported block`);
        }
      });
  }
  return errs;
}

interface Endpoint {
  requests: ReceivedRequest[];
  behaviour?: Behaviour | undefined;
}

export interface AlertReceivers {
  pagerduty: {
    url: string;
    requests: ReceivedRequest[];
    /** Events answered 202. */
    accepted(): Record<string, unknown>[];
    incidents(): Map<string, Incident>;
    behave(b: Behaviour | undefined): void;
  };
  slack: {
    url(webhook: string): string;
    requests(webhook: string): ReceivedRequest[];
    accepted(webhook: string): { text: string; blocks: Record<string, unknown>[] }[];
    behave(webhook: string, b: Behaviour | undefined): void;
  };
  /** Every request with a shape error (should stay empty). */
  invalid(): ReceivedRequest[];
  close(): Promise<void>;
}

/** Behaviours: answer the first `n` requests with `answer`, then normally. */
export const firstN =
  (n: number, answer: Answer): Behaviour =>
  (i) =>
    i < n ? answer : undefined;
/** Until `until()` is true, answer with `answer`. */
export const whileTrue =
  (until: () => boolean, answer: Answer): Behaviour =>
  () =>
    until() ? answer : undefined;

export async function startAlertReceivers(): Promise<AlertReceivers> {
  const pd: Endpoint = { requests: [] };
  const slack = new Map<string, Endpoint>();
  const incidents = new Map<string, Incident>();
  const sockets = new Set<Socket>();
  const hanging = new Set<ServerResponse>();
  const slackEndpoint = (name: string) => {
    let e = slack.get(name);
    if (!e) slack.set(name, (e = { requests: [] }));
    return e;
  };

  const answer = (res: ServerResponse, a: Exclude<Answer, 'hang' | 'processThenHang'>) => {
    res.statusCode = a.status;
    for (const [k, v] of Object.entries(a.headers ?? {})) res.setHeader(k, v);
    if (typeof a.body === 'object') res.setHeader('content-type', 'application/json');
    res.end(a.body === undefined ? '' : typeof a.body === 'string' ? a.body : JSON.stringify(a.body));
  };

  const handle = (req: IncomingMessage, res: ServerResponse, raw: string) => {
    const path = req.url ?? '/';
    let body: unknown;
    const errors: string[] = [];
    if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) errors.push('content-type must be application/json');
    try {
      body = JSON.parse(raw);
    } catch {
      errors.push('body is not JSON');
    }
    const isPd = path === '/v2/enqueue';
    const slackName = path.startsWith('/services/') ? path.split('/')[2]! : undefined;
    if (!isPd && !slackName) {
      answer(res, { status: 404, body: 'no_service' });
      return;
    }
    const ep = isPd ? pd : slackEndpoint(slackName!);
    if (body !== undefined) errors.push(...(isPd ? validatePagerDutyEvent(body) : validateSlackMessage(body)));
    const r: ReceivedRequest = { at: Date.now(), path, body, errors, status: 0 };
    const n = ep.requests.length;
    ep.requests.push(r);
    const scripted = ep.behaviour?.(n, body);
    const hang = () => {
      r.status = 'hang';
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
    };
    if (scripted === 'hang') return hang();
    if (scripted && scripted !== 'processThenHang') {
      r.status = scripted.status;
      answer(res, scripted);
      return;
    }
    if (errors.length > 0) {
      r.status = 400;
      answer(res, isPd ? { status: 400, body: { status: 'invalid event', message: 'Event object is invalid', errors } } : { status: 400, body: 'invalid_blocks' });
      return;
    }
    r.status = isPd ? 202 : 200;
    const reply =
      scripted === 'processThenHang'
        ? () => {
            r.processed = true;
            hang();
          }
        : undefined;
    if (isPd) {
      const e = body as { routing_key: string; event_action: string; dedup_key: string; payload?: { summary: string; severity: string; custom_details?: Record<string, unknown> } };
      const inc = incidents.get(e.dedup_key);
      if (e.event_action === 'trigger') {
        if (inc && inc.status === 'triggered') inc.triggers++;
        else
          incidents.set(e.dedup_key, {
            dedupKey: e.dedup_key,
            routingKey: e.routing_key,
            status: 'triggered',
            triggers: (inc?.triggers ?? 0) + 1,
            resolves: inc?.resolves ?? 0,
            summary: e.payload!.summary,
            severity: e.payload!.severity,
            customDetails: e.payload!.custom_details ?? {},
          });
      } else if (e.event_action === 'resolve' && inc) {
        inc.resolves++;
        inc.status = 'resolved';
      }
      if (reply) reply();
      else answer(res, { status: 202, body: { status: 'success', message: 'Event processed', dedup_key: e.dedup_key } });
    } else if (reply) reply();
    else answer(res, { status: 200, body: 'ok' });
  };

  const server: Server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (raw += d));
    req.on('end', () => handle(req, res, raw));
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const base = `http://127.0.0.1:${port}`;
  const ok = (r: ReceivedRequest) => r.status === 202 || r.status === 200;

  return {
    pagerduty: {
      url: `${base}/v2/enqueue`,
      requests: pd.requests,
      accepted: () => pd.requests.filter(ok).map((r) => r.body as Record<string, unknown>),
      incidents: () => incidents,
      behave: (b) => {
        pd.behaviour = b;
      },
    },
    slack: {
      url: (w) => `${base}/services/${w}/B000/XXXXXXXX`,
      requests: (w) => slackEndpoint(w).requests,
      accepted: (w) =>
        slackEndpoint(w)
          .requests.filter(ok)
          .map((r) => r.body as { text: string; blocks: Record<string, unknown>[] }),
      behave: (w, b) => {
        slackEndpoint(w).behaviour = b;
      },
    },
    invalid: () => [...pd.requests, ...[...slack.values()].flatMap((e) => e.requests)].filter((r) => r.errors.length > 0),
    async close() {
      for (const res of hanging) res.destroy();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
