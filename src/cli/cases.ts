/**
 * `recon cases`: a client of the case API (src/http/caseApi.ts), never a second path into the state.
 *
 *   recon cases list [--status open|resolved|all] [--kind K] [--account A] [--min-amount N] [--cursor C]
 *   recon cases alerts [--status open|disposed|all] [--rule R] [--customer A] [--cursor C]
 *   recon cases show <id>
 *   recon cases act <id> <type> [--assignee X] [--text T] [--legs a,b] [--request-id R] [--disposition D]
 *   recon cases proposal <proposal id> confirm|reject [--text T]
 *   recon cases match <bank leg id> <chain leg id> [--text T]
 *   recon cases unmatch <match id> [--text T]
 *                   [--amount-minor N] [--currency CUR] [--reason-code C] [--idempotency-key K]
 *
 * RECON_API_URL (default http://127.0.0.1:9464) and RECON_API_TOKEN (the bearer token) from the
 * environment. Prints the API's JSON answer; exit 0 when it succeeded, 1 when it refused, 2 usage.
 */
import { parseArgs } from 'node:util';

const USAGE = `usage: recon cases list [--status S] [--kind K] [--account A] [--min-amount N] [--cursor C]
       recon cases alerts [--status open|disposed|all] [--rule R] [--customer A] [--cursor C]
       recon cases show <id>
       recon cases act <id> <type> [--assignee X] [--text T] [--legs a,b] [--request-id R] [--amount-minor N] [--currency CUR] [--reason-code C] [--disposition D] [--idempotency-key K]
       recon cases proposal <proposal id> confirm|reject [--text T]
       recon cases match <bank leg id> <chain leg id> [--text T]
       recon cases unmatch <match id> [--text T]
environment: RECON_API_URL (default http://127.0.0.1:9464), RECON_API_TOKEN`;

export async function casesMain(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, o: { out?: (line: string) => void; fetch?: typeof fetch } = {}): Promise<number> {
  const out =
    o.out ??
    ((l: string) => {
      process.stdout.write(`${l}\n`);
    });
  const doFetch = o.fetch ?? fetch;
  const parse = () =>
    parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        status: { type: 'string' },
        kind: { type: 'string' },
        account: { type: 'string' },
        'min-amount': { type: 'string' },
        cursor: { type: 'string' },
        assignee: { type: 'string' },
        text: { type: 'string' },
        legs: { type: 'string' },
        'request-id': { type: 'string' },
        'amount-minor': { type: 'string' },
        currency: { type: 'string' },
        'reason-code': { type: 'string' },
        disposition: { type: 'string' },
        rule: { type: 'string' },
        customer: { type: 'string' },
        'idempotency-key': { type: 'string' },
      },
    });
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse();
  } catch (e) {
    console.error(`recon cases: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const {
    values: v,
    positionals: [sub, id, type],
  } = parsed;
  const token = env.RECON_API_TOKEN;
  if (!token) {
    console.error(`recon cases: RECON_API_TOKEN is not set\n${USAGE}`);
    return 2;
  }
  const base = (env.RECON_API_URL ?? 'http://127.0.0.1:9464').replace(/\/+$/, '');
  let path: string;
  let init: RequestInit = {};
  if (sub === 'list') {
    const q = new URLSearchParams();
    for (const [k, name] of [
      ['status', 'status'],
      ['kind', 'kind'],
      ['account', 'account'],
      ['min-amount', 'minAmount'],
      ['cursor', 'cursor'],
    ] as const) {
      if (v[k] !== undefined) q.set(name, v[k]!);
    }
    path = `/api/v1/cases${q.size > 0 ? `?${q}` : ''}`;
  } else if (sub === 'alerts') {
    const q = new URLSearchParams();
    for (const k of ['status', 'rule', 'customer', 'cursor'] as const) if (v[k] !== undefined) q.set(k, v[k]!);
    path = `/api/v1/aml/alerts${q.size > 0 ? `?${q}` : ''}`;
  } else if (sub === 'show' && id) {
    path = `/api/v1/cases/${encodeURIComponent(id)}`;
  } else if (sub === 'act' && id && type) {
    const body: Record<string, unknown> = { type };
    if (v.assignee !== undefined) body.assignee = v.assignee;
    if (v.text !== undefined) body.text = v.text;
    if (v.legs !== undefined) body.legIds = v.legs.split(',').filter(Boolean);
    if (v['request-id'] !== undefined) body.requestId = v['request-id'];
    if (v['amount-minor'] !== undefined) body.amountMinor = v['amount-minor'];
    if (v.currency !== undefined) body.currency = v.currency;
    if (v['reason-code'] !== undefined) body.reasonCode = v['reason-code'];
    if (v.disposition !== undefined) body.disposition = v.disposition;
    path = `/api/v1/cases/${encodeURIComponent(id)}/actions`;
    init = {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', ...(v['idempotency-key'] && { 'idempotency-key': v['idempotency-key'] }) },
    };
  } else if (sub === 'match' && id && type) {
    path = '/api/v1/matches';
    init = { method: 'POST', body: JSON.stringify({ bankLegId: id, chainLegId: type, text: v.text ?? '' }), headers: { 'content-type': 'application/json' } };
  } else if (sub === 'unmatch' && id) {
    path = `/api/v1/matches/${encodeURIComponent(id)}/unmatch`;
    init = { method: 'POST', body: JSON.stringify({ text: v.text ?? '' }), headers: { 'content-type': 'application/json' } };
  } else if (sub === 'proposal' && id && (type === 'confirm' || type === 'reject')) {
    path = `/api/v1/proposals/${encodeURIComponent(id)}/${type}`;
    init = { method: 'POST', body: JSON.stringify({ text: v.text ?? '' }), headers: { 'content-type': 'application/json' } };
  } else {
    console.error(`recon cases: ${sub === undefined ? 'a subcommand is needed' : `cannot '${[sub, id, type].filter(Boolean).join(' ')}'`}\n${USAGE}`);
    return 2;
  }
  const res = await doFetch(`${base}${path}`, { ...init, headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${token}` } });
  out(await res.text());
  return res.ok ? 0 : 1;
}
