import type { Redis } from 'ioredis';

/** What a channel did with one alert state: the dedup key it was paged under, 'posted', 'dead-lettered' or 'skipped'. */
export type SentValue = string;

export interface OpenAlert {
  groupKey: string;
  kind: string;
  token: string;
  since: number;
  /** Minor units (integer part) when summable, else ''. */
  amountMinor: string;
  currency: string;
  /** Wall clock (ms) when the alert was last recorded open; set by `setOpen`. */
  openedAt?: number;
}

const DAY = 86_400_000;

/**
 * The notifier's memory in Redis (keys share one hash tag, so Redis Cluster works): per channel,
 * which alert states were already delivered (a resend after a crash is skipped), the members of
 * each folded PagerDuty group incident, the open alerts (for repeat reminders) and when each group
 * was last notified. Every key expires after `retentionMs` (delivery records, folds) or its repeat
 * interval (notified); the open-alert hash has one field per alert, so its fields are expired by
 * hand: an alert recorded open longer than `retentionMs` ago without a resolve is forgotten (and
 * logged by the caller) rather than reminded of forever.
 */
export class AlertState {
  private readonly p: string;
  constructor(
    private readonly redis: Redis,
    namespace: string,
    private readonly retentionMs = 30 * DAY,
    private readonly now: () => number = Date.now,
  ) {
    this.p = `${namespace}:{alerts}:`;
  }

  private sentKey = (channel: string, alertId: string, state: string) => `${this.p}sent:${channel}:${state}:${alertId}`;

  /** Delivery records of these alerts' firing and resolved states on one channel. */
  async records(channel: string, alertIds: readonly string[]): Promise<Map<string, { firing?: SentValue; resolved?: SentValue }>> {
    const out = new Map<string, { firing?: SentValue; resolved?: SentValue }>();
    if (alertIds.length === 0) return out;
    const keys = alertIds.flatMap((id) => [this.sentKey(channel, id, 'firing'), this.sentKey(channel, id, 'resolved')]);
    const values = await this.redis.mget(...keys);
    alertIds.forEach((id, i) => {
      const f = values[2 * i];
      const r = values[2 * i + 1];
      out.set(id, { ...(f != null && { firing: f }), ...(r != null && { resolved: r }) });
    });
    return out;
  }

  async markSent(channel: string, state: 'firing' | 'resolved', entries: readonly { alertId: string; value: SentValue }[]): Promise<void> {
    if (entries.length === 0) return;
    const m = this.redis.multi();
    for (const e of entries) m.set(this.sentKey(channel, e.alertId, state), e.value, 'PX', this.retentionMs);
    await m.exec();
  }

  private groupSet = (channel: string, groupKey: string) => `${this.p}fold:${channel}:${groupKey}`;

  async foldedCount(channel: string, groupKey: string): Promise<number> {
    return this.redis.scard(this.groupSet(channel, groupKey));
  }
  /** Adds alerts to a group's folded incident; returns how many it holds now. */
  async fold(channel: string, groupKey: string, alertIds: readonly string[]): Promise<number> {
    const k = this.groupSet(channel, groupKey);
    await this.redis
      .multi()
      .sadd(k, ...alertIds)
      .pexpire(k, this.retentionMs)
      .exec();
    return this.redis.scard(k);
  }
  /** Removes resolved alerts from a group's folded incident; returns how many remain. */
  async unfold(channel: string, groupKey: string, alertIds: readonly string[]): Promise<number> {
    const k = this.groupSet(channel, groupKey);
    if (alertIds.length) await this.redis.srem(k, ...alertIds);
    return this.redis.scard(k);
  }

  async setOpen(alerts: readonly { alertId: string; open: OpenAlert }[]): Promise<void> {
    if (alerts.length === 0) return;
    const at = this.now();
    await this.redis.hset(`${this.p}open`, Object.fromEntries(alerts.map((a) => [a.alertId, JSON.stringify({ ...a.open, openedAt: at })])));
  }
  async clearOpen(alertIds: readonly string[]): Promise<void> {
    if (alertIds.length) await this.redis.hdel(`${this.p}open`, ...alertIds);
  }
  /** The open alerts, after deleting those recorded open more than `retentionMs` ago (returned apart). */
  async openAlerts(): Promise<Map<string, OpenAlert>> {
    return (await this.openAlertsPruned()).open;
  }
  async openAlertsPruned(): Promise<{ open: Map<string, OpenAlert>; expired: string[] }> {
    const all = await this.redis.hgetall(`${this.p}open`);
    const cutoff = this.now() - this.retentionMs;
    const open = new Map<string, OpenAlert>();
    const expired: string[] = [];
    for (const [id, v] of Object.entries(all)) {
      const a = JSON.parse(v) as OpenAlert;
      // Entries written before openedAt existed age from now on (stamped on their next setOpen).
      if (a.openedAt !== undefined && a.openedAt < cutoff) expired.push(id);
      else open.set(id, a);
    }
    if (expired.length > 0) await this.redis.hdel(`${this.p}open`, ...expired);
    return { open, expired };
  }

  /** Notes that a group was notified: no reminder for it within `repeatMs`. */
  async notified(groupKey: string, repeatMs: number): Promise<void> {
    await this.redis.set(`${this.p}notified:${groupKey}`, String(Date.now()), 'PX', repeatMs);
  }
  /** Claims the reminder of a group (true at most once per repeat interval across notifiers). */
  async claimReminder(groupKey: string, repeatMs: number): Promise<boolean> {
    return (await this.redis.set(`${this.p}notified:${groupKey}`, String(Date.now()), 'PX', repeatMs, 'NX')) === 'OK';
  }

  /** Deletes every key of this namespace's alert state (tests). */
  async clear(): Promise<void> {
    const keys = await this.redis.keys(`${this.p}*`);
    if (keys.length) await this.redis.del(...keys);
  }
}
