import type { LegDecision } from '../domain/legs.js';
import { UnmappedIdentity } from '../lib/errors.js';
import type { Metrics } from '../observability/metrics.js';
import type { MatchStore } from '../state/matchStore.js';
import type { MessageStageContext } from './messageStage.js';

/** The labelled histogram child, looked up once per metrics registry (a label lookup per leg shows). */
const matchOrParkTimers = new WeakMap<Metrics, ReturnType<Metrics['redisSeconds']['labels']>>();
function matchOrParkTimer(m: Metrics): ReturnType<Metrics['redisSeconds']['labels']> {
  let t = matchOrParkTimers.get(m);
  if (!t) matchOrParkTimers.set(m, (t = m.redisSeconds.labels({ operation: 'matchOrPark' })));
  return t;
}

/** `store.matchOrPark`, its Redis round trip observed as `recon_redis_duration_seconds{operation="matchOrPark"}`. */
export async function timedMatchOrPark(ctx: MessageStageContext, ...args: Parameters<MatchStore['matchOrPark']>): ReturnType<MatchStore['matchOrPark']> {
  const end = ctx.metrics && matchOrParkTimer(ctx.metrics).startTimer();
  try {
    return await ctx.store.matchOrPark(...args);
  } finally {
    end?.();
  }
}

/** Under `unmappedPolicy: reject` an entry or event of unknown identity is bad input (dead-lettered); otherwise it becomes an ORPHAN_* discrepancy. */
export function orphanOrReject(ctx: MessageStageContext, decision: Extract<LegDecision, { kind: 'orphan' }>, what: string): void {
  if (ctx.unmappedPolicy === 'reject') throw new UnmappedIdentity(`${what}: ${decision.reason}`);
}
