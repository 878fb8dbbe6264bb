import { describe, expect, it } from 'vitest';
import { generateAmlDataset, TYPOLOGIES } from '../../src/generator/aml/amlDataset.js';
import { scoreAlerts } from '../../src/generator/aml/scoreAlerts.js';

describe('labelled AML data set', () => {
  const o = { seed: 3, startTime: Date.UTC(2025, 0, 1), days: 110, customers: 20, perTypology: 3 };

  it('is reproducible from its seed and labels every typology at known events', () => {
    const a = generateAmlDataset(o);
    const b = generateAmlDataset(o);
    expect(JSON.stringify(a, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))).toBe(JSON.stringify(b, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
    const ids = new Set(a.events.map((e) => (e.t === 'posting' ? `bank:${e.posting.entryId}` : `chain:${e.event.eventId}`)));
    for (const t of TYPOLOGIES) expect(a.instances.filter((i) => i.typology === t && i.positive)).toHaveLength(3);
    for (const i of a.instances) for (const id of i.eventIds) expect(ids.has(id), `${i.id} ${id}`).toBe(true);
    const times = a.events.map((e) => (e.t === 'posting' ? e.posting.bookingTime : e.event.blockTime));
    expect(times).toEqual([...times].sort((x, y) => x - y));
  });

  it('scores alerts by shared evidence', () => {
    const a = generateAmlDataset(o);
    const lv = a.instances.find((i) => i.typology === 'large_value' && i.positive)!;
    const scores = scoreAlerts(a.instances, [
      { rule_type: 'large_value', evidence_event_ids: [lv.eventIds[0]!] },
      { rule_type: 'large_value', evidence_event_ids: ['bank:nothing'] },
    ]);
    expect(scores.find((s) => s.typology === 'large_value')).toMatchObject({ alerts: 2, truePositives: 1, detected: 1, precision: 0.5, recall: 1 / 3 });
  });
});
