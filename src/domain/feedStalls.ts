/**
 * Feed stalls: a source that has been silent on the wall clock for longer than the stall period
 * (the bank feed, or the chain's confirmed progress, which the ingester publishes on every poll)
 * is a problem of its own. The episode id is derived from when the source was last seen, which
 * stays fixed for the whole stall, so every worker and every sweep names it the same.
 */
export type FeedSource = 'ledger' | 'chain';

export interface FeedStallDecision {
  /** Episode to open (no-op if already open). */
  open?: string;
  /** Open episodes of this source to resolve (the feed is moving again). */
  resolve: string[];
}

export const feedStallId = (source: FeedSource, lastSeenAt: number) => `FEED_STALLED:${source}:${lastSeenAt}`;

/** What a sweep should do for `source`, last seen at `lastSeenAt` (< 0: never), with these episodes open. */
export function feedStallDecision(source: FeedSource, lastSeenAt: number, openIds: readonly string[], stallMs: number, now: number): FeedStallDecision {
  const mine = openIds.filter((id) => id.startsWith(`FEED_STALLED:${source}:`));
  if (lastSeenAt < 0) return { resolve: [] };
  const current = feedStallId(source, lastSeenAt);
  if (now - lastSeenAt > stallMs) return { open: current, resolve: mine.filter((id) => id !== current) };
  return { resolve: mine };
}
