/**
 * `flock /tmp/bench.lock npm run bench:aml [-- --rounds 3]`: AML cost per message, today's
 * per-event rules against the rule file with its period risk score, in the same run, on the IBM
 * AMLSim set (7,805 transfers) through the engine on Redis (the daemon's code path without NATS
 * or ClickHouse). The risk score's period run is timed apart and also amortised per message. The
 * ceiling printed with them, measured in the same run, is one Redis EVAL round trip of a no-op
 * script per message: the floor of any engine whose state is in Redis, one call per event.
 */
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { loadRuleFile, type RuleSet } from '../src/aml/ruleFile.js';
import { loadAmlSimFixture, replayAmlSim } from '../src/cli/amlSimReport.js';

const { values: argv } = parseArgs({
  options: { rounds: { type: 'string', default: '3' }, rules: { type: 'string', default: 'config/aml-rules.yaml' }, url: { type: 'string', default: 'redis://127.0.0.1:6379' } },
});
const d = loadAmlSimFixture();
const rules = loadRuleFile(argv.rules);
const today: RuleSet = { ...rules, risk: undefined, horizonMs: Math.max(0, ...rules.rules.map((r) => ('window' in r ? r.window : 'period' in r ? r.period : 0))) };
const n = d.events.length;

async function ceilingUs(): Promise<number> {
  const r = new Redis(argv.url);
  const t = performance.now();
  for (let i = 0; i < n; i++) await r.eval('return 1', 0);
  const us = ((performance.now() - t) * 1000) / n;
  await r.quit();
  return us;
}

const rows: { round: number; ceiling: number; today: number; withRisk: number; periodMs: number }[] = [];
for (let round = 1; round <= Number(argv.rounds); round++) {
  const ceiling = await ceilingUs();
  const a = await replayAmlSim(d, today, argv.url);
  const b = await replayAmlSim(d, rules, argv.url);
  rows.push({ round, ceiling, today: (a.ms * 1000) / n, withRisk: (b.ms * 1000) / n, periodMs: b.periodMs });
  console.log(
    `round ${round}: ceiling (EVAL no-op) ${ceiling.toFixed(0)} µs/msg; today's rules ${((a.ms * 1000) / n).toFixed(0)} µs/msg; ` +
      `with risk score ${((b.ms * 1000) / n).toFixed(0)} µs/msg (period run ${b.periodMs.toFixed(0)} ms of it, ${((b.periodMs * 1000) / n).toFixed(0)} µs/msg amortised)`,
  );
}
const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
console.log(
  `\nmedian of ${rows.length}: ceiling ${med(rows.map((r) => r.ceiling)).toFixed(0)} µs/msg, today's rules ${med(rows.map((r) => r.today)).toFixed(0)} µs/msg, ` +
    `with risk score ${med(rows.map((r) => r.withRisk)).toFixed(0)} µs/msg (period run ${med(rows.map((r) => r.periodMs)).toFixed(0)} ms for ${d.accounts.length} customers, ${n} messages)`,
);
process.exit(0);
