import { describe, expect, it } from 'vitest';
import { parseRuleSet } from '../../src/aml/ruleFile.js';
import { replayAmlSim } from '../../src/cli/amlSimReport.js';
import { parseAmlSim } from '../../src/generator/amlsim/amlSimDataset.js';

/**
 * The period risk score through the engine on real Redis (the daemon's code path): transfers in
 * AMLSim's format become chain events, the engine keeps the customer windows in Redis, and the
 * period run reads them back. A fan-in of one-off payers is alerted; a weekly payroll and two
 * trading partners, alongside it, are not.
 */
describe('AML risk period on Redis', () => {
  it('alerts the fan-in hub with its transfers and leaves payroll and trading partners alone', async () => {
    const lines = ['step,amount,orig,dest,isSAR,alertID'];
    [1, 5, 9, 13, 17].forEach((step, i) => {
      lines.push(`${step},${300 + i}.50,${10 + i},1,1,0`);
    });
    for (const week of [0, 7, 14, 21]) for (let e = 0; e < 6; e++) lines.push(`${week + 2},2000.00,2,${20 + e},0,-1`);
    for (let d = 0; d < 28; d += 2) lines.push(`${d},900.00,3,4,0,-1`, `${d + 1},880.00,4,3,0,-1`);
    const members = ['alertID,typology,accountID,isMain,startStep,endStep', '0,fan_in,1,true,1,17', ...[10, 11, 12, 13, 14].map((a) => `0,fan_in,${a},false,1,17`)];
    const d = parseAmlSim(lines.join('\n'), members.join('\n'));
    const rules = parseRuleSet({ version: 't1', risk: { currency: 'EUR' } });
    const run = await replayAmlSim(d, rules, 'redis://127.0.0.1:6379');
    const risk = run.alerts.filter((a) => a.rule_id === 'risk-score');
    expect(risk.map((a) => a.subject)).toEqual(['1']);
    expect([...risk[0]!.evidence_event_ids].sort()).toEqual([...d.instances[0]!.eventIds].sort());
    expect(run.ranking[0]).toBe('1');
    const rank = (c: string) => run.ranking.indexOf(c);
    for (const normal of ['2', '3', '4']) expect(rank(normal)).toBeGreaterThan(rank('14'));
  });
});
