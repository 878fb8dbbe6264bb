import type { Fact } from '../domain/facts.js';
import type { AmlEngine, AmlResult } from './engine.js';

/** The live engine's result with the shadow's beside it. */
interface ShadowedResult extends AmlResult {
  shadow: AmlResult;
}

/**
 * Runs a shadow rule-file version beside the live one on the same events (Marble's test runs):
 * the live engine's alerts are what they always were; the shadow's, decided on its own window
 * state, are stored as `aml_shadow_alerts` facts, which nothing sends. Both are facts of the
 * message that carried the event, so they are durable before it is acked and once on a replay.
 */
export function withShadow(live: AmlEngine, shadow: AmlEngine): AmlEngine {
  const both = async (l: Promise<AmlResult>, s: () => Promise<AmlResult>): Promise<ShadowedResult> => {
    const liveResult = await l;
    const shadowResult = await s();
    return { ...liveResult, replayed: liveResult.replayed || shadowResult.replayed, shadow: shadowResult };
  };
  return {
    onLedgerEntry: (e) => both(live.onLedgerEntry(e), () => shadow.onLedgerEntry(e)),
    onChainEvent: (ev) => both(live.onChainEvent(ev), () => shadow.onChainEvent(ev)),
    facts(r: AmlResult): Fact[] {
      const s = (r as Partial<ShadowedResult>).shadow;
      const shadowFacts: Fact[] = s ? s.alerts.map((row) => ({ table: 'aml_shadow_alerts', row })) : [];
      return [...live.facts(r), ...shadowFacts];
    },
  };
}
