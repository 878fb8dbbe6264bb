/**
 * `flock /tmp/heavy.lock npm run bench:aml [-- --rounds 3]`: AML cost per message, today's
 * per-event rules against the rule file with its period risk score — without the layering
 * typologies (bipartite, stack) and with them — in the same run, on the IBM
 * AMLSim set (7,805 transfers) through the engine on Redis (the daemon's code path without NATS
 * or ClickHouse). The risk score's period run is timed apart and also amortised per message. The
 * ceiling printed with them, measured in the same run, is one Redis EVAL round trip of a no-op
 * script per message: the floor of any engine whose state is in Redis, one call per event.
 * `--shards 6` keeps the windows in six shards (`redis.shards`; one more script call per shard an
 * event touches), on the same single Redis.
 */
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { loadRuleFile, type RuleSet } from '../src/aml/ruleFile.js';
import { loadAmlSimFixture, replayAmlSim } from '../src/cli/amlSimReport.js';

const { values: argv } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    shards: { type: 'string', default: '1' },
    rules: { type: 'string', default: 'config/aml-rules.yaml' },
    url: { type: 'string', default: 'redis://127.0.0.1:6379' },
  },
});
const d = loadAmlSimFixture();
const rules = loadRuleFile(argv.rules);
const today: RuleSet = { ...rules, risk: undefined, horizonMs: Math.max(0, ...rules.rules.map((r) => ('window' in r ? r.window : 'period' in r ? r.period : 0))) };
const noLayering: RuleSet = { ...rules, risk: rules.risk && { ...rules.risk, layering: false } };
const n = d.events.length;
const shards = Number(argv.shards);

async function ceilingUs(): Promise<number> {
  const r = new Redis(argv.url);
  const t = performance.now();
  for (let i = 0; i < n; i++) await r.eval('return 1', 0);
  const us = ((performance.now() - t) * 1000) / n;
  await r.quit();
  return us;
}

const rows: { round: number; ceiling: number; today: number; risk: number; riskPeriodMs: number; layering: number; layeringPeriodMs: number }[] = [];
const us = (ms: number) => (ms * 1000) / n;
for (let round = 1; round <= Number(argv.rounds); round++) {
  const ceiling = await ceilingUs();
  const a = await replayAmlSim(d, today, argv.url, shards);
  const b = await replayAmlSim(d, noLayering, argv.url, shards);
  const c = await replayAmlSim(d, rules, argv.url, shards);
  rows.push({ round, ceiling, today: us(a.ms), risk: us(b.ms), riskPeriodMs: b.periodMs, layering: us(c.ms), layeringPeriodMs: c.periodMs });
  console.log(
    `round ${round}: ceiling (EVAL no-op) ${ceiling.toFixed(0)} µs/msg; today's rules ${us(a.ms).toFixed(0)} µs/msg; ` +
      `with risk score, no layering ${us(b.ms).toFixed(0)} µs/msg (period run ${b.periodMs.toFixed(0)} ms, ${us(b.periodMs).toFixed(0)} µs/msg amortised); ` +
      `with layering ${us(c.ms).toFixed(0)} µs/msg (period run ${c.periodMs.toFixed(0)} ms, ${us(c.periodMs).toFixed(0)} µs/msg amortised)`,
  );
}
const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const m = (k: keyof (typeof rows)[number]) => med(rows.map((r) => r[k])).toFixed(0);
console.log(
  `\nmedian of ${rows.length}: ceiling ${m('ceiling')} µs/msg, today's rules ${m('today')} µs/msg, with risk score (no layering) ${m('risk')} µs/msg ` +
    `(period run ${m('riskPeriodMs')} ms), with risk score and layering ${m('layering')} µs/msg (period run ${m('layeringPeriodMs')} ms); ${d.accounts.length} customers, ${n} messages, windows in ${shards} shard(s)`,
);
process.exit(0);
