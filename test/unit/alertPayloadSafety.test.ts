import { describe, expect, it } from 'vitest';
import { alertEventSchema, alertOfFact, type AlertEvent } from '../../src/alerts/alertEvent.js';
import { alertsConfigSchema } from '../../src/alerts/alertsConfig.js';
import { DEDUP_KEY_MAX, groupDedupKey, pagerdutyDedupKey, pagerdutyGroupTrigger, pagerdutyResolve, pagerdutyTrigger } from '../../src/alerts/pagerdutyEvents.js';
import { slackEscape, slackFiring, slackReminder, slackResolved, type SlackMessage } from '../../src/alerts/slackMessages.js';
import type { DiscrepancyEventRow } from '../../src/domain/facts.js';
import { validatePagerDutyEvent, validateSlackMessage } from '../support/alertReceivers.js';

const cfg = alertsConfigSchema.parse({});
const KEY = 'R0123456789abcdef0123456789abcde';
const HOSTILE = ['<!channel>', '<!here|here>', '<@U0123ABC>', '<#C0123|general>', '<http://evil.example|click here>', '<!subteam^S123>', '<!date^1^{date}|x>', 'a & b', '`code` *bold*'];
const hostile = HOSTILE.join(' ');

function alertOf(over: Partial<DiscrepancyEventRow> = {}): AlertEvent {
  const row: DiscrepancyEventRow = {
    discrepancy_id: `MISSING_MINT:bank:${hostile}`,
    event_id: 'e:open',
    kind: 'MISSING_MINT',
    status: 'open',
    flow: 'deposit',
    account_id: `ACC ${hostile}`,
    wallet: `0x${hostile}`,
    currency: 'USD',
    token_key: '',
    bank_leg_id: `bank:${hostile}`,
    chain_leg_id: `chain:${hostile}`,
    expected_amount: '200000',
    actual_amount: '',
    reason: `posting memo ${hostile}`,
    event_time: 1_700_000_000_000,
    recorded_at: 1_700_000_100_000,
    ...over,
  };
  return alertOfFact({ table: 'discrepancy_events', row }, cfg)!;
}

/** Every mrkdwn text of a message (the `text` fallback is parsed as mrkdwn too); headers are plain_text. */
function mrkdwnTexts(m: SlackMessage): string[] {
  const out = [m.text];
  for (const b of m.blocks) {
    if (b.type === 'section') {
      if (b.text?.type === 'mrkdwn') out.push(b.text.text);
      for (const f of b.fields ?? []) if (f.type === 'mrkdwn') out.push(f.text);
    }
    if (b.type === 'context') for (const e of b.elements) if (e.type === 'mrkdwn') out.push(e.text);
  }
  return out;
}

/** What a Slack client could parse as a control sequence: `<` … `>` other than our own date tokens. */
const controlSequences = (t: string) => [...t.matchAll(/<([^>]*)>/g)].map((m) => m[1]!).filter((x) => !/^!date\^\d+\^\{date_short_pretty\} \{time\}\|[\d\-T:.Z]+$/.test(x));

describe('Slack messages with hostile input', () => {
  it('escapes &, < and > so no mention, channel, link or date can be injected', () => {
    expect(slackEscape('<!channel> & <http://evil|click>')).toBe('&lt;!channel&gt; &amp; &lt;http://evil|click&gt;');
  });

  const a = alertOf();
  const messages: [string, SlackMessage][] = [
    ['one firing alert', slackFiring([a], { maxListed: 10, now: () => 1_700_000_300_000 })],
    ['a digest', slackFiring([a, alertOf({ discrepancy_id: 'x2' }), alertOf({ account_id: '', discrepancy_id: 'x3' })], { maxListed: 10 })],
    ['a resolve', slackResolved([{ ...a, state: 'resolved' }], { maxListed: 10 })],
    ['a resolved digest', slackResolved([a, { ...a, account: '' }], { maxListed: 10 })],
    ['a reminder', slackReminder({ kind: `K${hostile}`, token: hostile, open: 2, oldest: 1, total: hostile }, { maxListed: 10 })],
  ];
  it.each(messages)('%s: no control sequence from the input, every value still shown (escaped)', (_name, m) => {
    expect(validateSlackMessage(m)).toEqual([]);
    for (const t of mrkdwnTexts(m)) {
      expect(controlSequences(t), t).toEqual([]);
      expect(t).not.toMatch(/&(?!amp;|lt;|gt;)/); // every & is an entity
    }
    expect(JSON.stringify(m)).toContain('&lt;!channel&gt;');
  });

  it('keeps a value in a code span from closing it', () => {
    const m = slackFiring([{ ...a, wallet: '0xab`<!channel>`' }], { maxListed: 10 });
    expect(JSON.stringify(m.blocks)).toContain('`0xab&lt;!channel&gt;`');
  });
});

describe('PagerDuty dedup keys over the API limit', () => {
  const long = `MISSING_MINT:bank:${'x'.repeat(400)}`;

  it('keeps a key that fits and hashes a longer one to at most 255 characters, idempotently', () => {
    expect(pagerdutyDedupKey('MISSING_MINT:bank:e-1')).toBe('MISSING_MINT:bank:e-1');
    expect(pagerdutyDedupKey('k'.repeat(255))).toBe('k'.repeat(255));
    const h = pagerdutyDedupKey(long);
    expect(h.length).toBeLessThanOrEqual(DEDUP_KEY_MAX);
    expect(h).toMatch(/^MISSING_MINT:bank:x+#sha256:[0-9a-f]{64}$/);
    expect(pagerdutyDedupKey(h)).toBe(h);
  });

  it('gives two long keys with a common 255-character prefix different dedup keys (truncation would merge their incidents)', () => {
    expect(pagerdutyDedupKey(`${long}-a`)).not.toBe(pagerdutyDedupKey(`${long}-b`));
    expect(groupDedupKey(`MISSING_MINT|${'t'.repeat(300)}a`)).not.toBe(groupDedupKey(`MISSING_MINT|${'t'.repeat(300)}b`));
  });

  it('triggers and resolves one long-id alert with the same valid key', () => {
    const al = alertEventSchema.parse({ ...alertOf({ discrepancy_id: long }) });
    const trigger = pagerdutyTrigger(al, { routingKey: KEY, source: 'recon/test' });
    const resolve = pagerdutyResolve(al.alertId, { routingKey: KEY });
    expect(trigger.dedup_key).toBe(resolve.dedup_key);
    expect(trigger.dedup_key.length).toBeLessThanOrEqual(255);
    expect(validatePagerDutyEvent(trigger)).toEqual([]);
    expect(validatePagerDutyEvent(resolve)).toEqual([]);
    const group = `MISSING_MINT|${'t'.repeat(300)}`;
    const gt = pagerdutyGroupTrigger(group, [al], 1, { routingKey: KEY, source: 'recon/test' });
    expect(gt.dedup_key).toBe(pagerdutyResolve(groupDedupKey(group), { routingKey: KEY }).dedup_key);
    expect(validatePagerDutyEvent(gt)).toEqual([]);
  });
});
