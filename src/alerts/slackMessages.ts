import type { AlertEvent } from './alertEvent.js';
import { displayAmount, formatDuration, headlineAmount, shortHex, totalAmount, whatToCheck } from './alertText.js';

/**
 * Slack mrkdwn escaping (https://api.slack.com/reference/surfaces/formatting#escaping): `&`, `<`, `>`
 * become entities, so a value from the input can never form a mention (`<!channel>`, `<@U123>`), a
 * link (`<http://evil|click>`) or a date token. Every input-derived value in mrkdwn text, and in the
 * `text` fallback, goes through it; headers are `plain_text`, which Slack never parses.
 */
export const slackEscape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const esc = slackEscape;
/** A value in a code span: escaped, and its backticks dropped so it cannot close the span. */
const code = (s: string) => `\`${esc(s.replace(/`/g, ''))}\``;

/** A Slack incoming-webhook message with Block Kit blocks (https://api.slack.com/messaging/webhooks). */
export interface SlackMessage {
  /** Fallback for notifications and clients without blocks. */
  text: string;
  blocks: SlackBlock[];
}
type Text = { type: 'plain_text'; text: string; emoji?: boolean } | { type: 'mrkdwn'; text: string };
export type SlackBlock =
  | { type: 'header'; text: { type: 'plain_text'; text: string; emoji?: boolean } }
  | { type: 'section'; text?: Text; fields?: Text[] }
  | { type: 'context'; elements: Text[] }
  | { type: 'divider' }
  | { type: 'actions'; elements: { type: 'button'; text: { type: 'plain_text'; text: string }; url: string }[] };

export interface SlackContext {
  grafana?: (a?: AlertEvent) => string | undefined;
  maxListed: number;
  now?: () => number;
}

const ICON: Record<string, string> = { critical: ':red_circle:', error: ':large_orange_circle:', warning: ':large_yellow_circle:', info: ':large_blue_circle:' };
const clip = (s: string, n: number) => (s.length <= n ? s : `${s.slice(0, n - 1)}…`);
const header = (text: string): SlackBlock => ({ type: 'header', text: { type: 'plain_text', text: clip(text, 150), emoji: true } });
const md = (text: string): SlackBlock => ({ type: 'section', text: { type: 'mrkdwn', text: clip(text, 3000) } });
const field = (label: string, value: string): Text => ({ type: 'mrkdwn', text: clip(`*${label}*\n${value || '—'}`, 2000) });
/** Slack renders the date in the reader's time zone; the fallback is UTC. */
const when = (ms: number) => `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} {time}|${new Date(ms).toISOString()}>`;
const tokenOf = (a: AlertEvent) => a.currency || a.tokenKey || '-';
const since = (a: AlertEvent) => a.eventTime || a.at;

function buttons(ctx: SlackContext, a?: AlertEvent): SlackBlock[] {
  const url = ctx.grafana?.(a);
  return url ? [{ type: 'actions', elements: [{ type: 'button', text: { type: 'plain_text', text: 'Open in Grafana' }, url }] }] : [];
}

function line(a: AlertEvent, now: number): string {
  const who = [a.account && esc(a.account), a.wallet && code(shortHex(a.wallet))].filter(Boolean).join(' · ');
  return `• ${esc(headlineAmount(a) || a.kind)} — ${who || esc(a.alertId)} — open ${formatDuration(now - since(a))}`;
}

/**
 * The message for new alerts of one group: a single alert in detail (what, how much, which account
 * and wallet, since when, what to check), several as a digest (count, total, the first
 * `maxListed`, the rest counted) — one message instead of a storm.
 */
export function slackFiring(alerts: readonly AlertEvent[], ctx: SlackContext, extra: { foldedQuietly?: number } = {}): SlackMessage {
  const now = (ctx.now ?? Date.now)();
  const first = alerts[0]!;
  if (alerts.length === 1) {
    const a = first;
    const amount = headlineAmount(a);
    const title = `${ICON[a.severity]} ${a.kind}${amount ? ` · ${amount}` : ''}`;
    return {
      text: esc(`${a.kind}${amount ? ` ${amount}` : ''}${a.account ? ` on ${a.account}` : ''}: ${a.reason || a.summary}`),
      blocks: [
        header(title),
        md(`*${esc(a.summary)}*\n${esc(a.reason)}`),
        {
          type: 'section',
          fields: [
            field('Account', esc(a.account)),
            field('Wallet', a.wallet ? code(a.wallet) : ''),
            field('Expected (bank)', esc(displayAmount(a.expectedAmount, a.amountUnit, a.currency))),
            field('Actual (chain)', esc(displayAmount(a.actualAmount, a.amountUnit, a.currency))),
            field('Since', `${when(since(a))} (${formatDuration(now - since(a))})`),
            field('Severity', esc(a.severity)),
          ],
        },
        md(`*What to check:* ${esc(whatToCheck(a.kind))}`),
        {
          type: 'context',
          elements: [{ type: 'mrkdwn', text: clip(`id ${code(a.alertId)}${a.bankLegId ? ` · bank leg ${code(a.bankLegId)}` : ''}${a.chainLegId ? ` · chain leg ${code(a.chainLegId)}` : ''}`, 3000) }],
        },
        ...buttons(ctx, a),
      ],
    };
  }
  const total = totalAmount(alerts);
  const oldest = Math.min(...alerts.map(since));
  const accounts = new Set(alerts.map((a) => a.account || a.wallet).filter(Boolean)).size;
  const listed = alerts
    .slice(0, ctx.maxListed)
    .map((a) => line(a, now))
    .join('\n');
  const more = alerts.length - Math.min(alerts.length, ctx.maxListed);
  const worst = alerts.find((a) => a.severity === 'critical') ?? alerts.find((a) => a.severity === 'error') ?? first;
  return {
    text: esc(`${alerts.length} × ${first.kind} on ${tokenOf(first)}${total ? ` (${total})` : ''}`),
    blocks: [
      header(`${ICON[worst.severity]} ${alerts.length} × ${first.kind} · ${tokenOf(first)}`),
      md(`*${alerts.length} new ${esc(first.kind)}*${total ? ` totalling *${esc(total)}*` : ''} across ${accounts} account(s)/wallet(s), oldest since ${when(oldest)}.`),
      md(`${listed}${more > 0 ? `\n…and ${more} more (see Grafana)` : ''}`),
      md(`*What to check:* ${esc(whatToCheck(first.kind))}`),
      ...(extra.foldedQuietly ? [{ type: 'context', elements: [{ type: 'mrkdwn', text: `${extra.foldedQuietly} more opened and resolved within the group wait (not posted).` }] } as SlackBlock] : []),
      ...buttons(ctx, first),
    ],
  };
}

/** The follow-up when alerts of a group are resolved. */
export function slackResolved(alerts: readonly AlertEvent[], ctx: SlackContext, openedAt: (a: AlertEvent) => number | undefined = () => undefined): SlackMessage {
  const now = (ctx.now ?? Date.now)();
  const first = alerts[0]!;
  const openFor = (a: AlertEvent) => {
    const t = openedAt(a) ?? since(a);
    return formatDuration((a.at || now) - t);
  };
  if (alerts.length === 1) {
    const a = first;
    const amount = headlineAmount(a);
    return {
      text: esc(`Resolved: ${a.kind}${amount ? ` ${amount}` : ''}${a.account ? ` on ${a.account}` : ''}`),
      blocks: [
        header(`:white_check_mark: Resolved: ${a.kind}${amount ? ` · ${amount}` : ''}`),
        md(`${a.account ? `Account *${esc(a.account)}*` : ''}${a.wallet ? ` wallet ${code(a.wallet)}` : ''} — open for ${openFor(a)}.\n${esc(a.reason)}`),
        { type: 'context', elements: [{ type: 'mrkdwn', text: clip(`id ${code(a.alertId)}`, 3000) }] },
      ],
    };
  }
  const listed = alerts
    .slice(0, ctx.maxListed)
    .map((a) => `• ${esc(headlineAmount(a) || a.kind)} — ${esc(a.account || shortHex(a.wallet) || a.alertId)} — open for ${openFor(a)}`)
    .join('\n');
  const more = alerts.length - Math.min(alerts.length, ctx.maxListed);
  return {
    text: esc(`Resolved: ${alerts.length} × ${first.kind} on ${tokenOf(first)}`),
    blocks: [header(`:white_check_mark: Resolved: ${alerts.length} × ${first.kind} · ${tokenOf(first)}`), md(`${listed}${more > 0 ? `\n…and ${more} more` : ''}`)],
  };
}

/** The reminder for a group whose alerts are still open after the repeat interval. */
export function slackReminder(group: { kind: string; token: string; open: number; oldest: number; total: string }, ctx: SlackContext): SlackMessage {
  const now = (ctx.now ?? Date.now)();
  return {
    text: esc(`Still open: ${group.open} × ${group.kind} on ${group.token}`),
    blocks: [
      header(`:hourglass: Still open: ${group.open} × ${group.kind} · ${group.token}`),
      md(
        `${group.open} ${esc(group.kind)} still open${group.total ? `, totalling *${esc(group.total)}*` : ''}; the oldest since ${when(group.oldest)} (${formatDuration(now - group.oldest)}).\n*What to check:* ${esc(whatToCheck(group.kind))}`,
      ),
      ...buttons(ctx),
    ],
  };
}
