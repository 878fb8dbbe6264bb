/**
 * `recon aml`: the shadow rule file beside the live one (`aml.shadowRulesFile`).
 *
 *   recon aml shadow-report [--from ISO] [--to ISO]
 *       per rule, alerts of the live and the shadow version in the period (by event time): both,
 *       live only, shadow only (an alert is the same alert when its id is: same rule, subject and
 *       bucket). One JSON line per rule, then a total.
 *   recon aml promote --actor NAME [--reason TEXT]
 *       makes the shadow file the live one: validates it, records the promotion in the audit trail
 *       (versions and the sha256 of both files), writes it over `aml.rulesFile` (atomic rename) and
 *       asks every worker to reload. Exit 0 done, 1 refused (invalid shadow file), 2 usage.
 */
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { ClickHouseClient } from '@clickhouse/client';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { loadRuleFile, type RuleSet } from '../aml/ruleFile.js';
import { AuditLog } from '../cases/auditLog.js';
import type { Config } from '../config/schema.js';
import type { SecretSources } from '../config/secrets.js';
import { natsSecurityOptions } from '../config/connectionSecurity.js';
import { ConfigError } from '../lib/errors.js';
import { createClickHouse } from '../sinks/clickhouse/createClickHouse.js';
import { factWriterFor } from '../sinks/clickhouse/factWriter.js';
import { queryRows } from '../sinks/clickhouse/queries.js';
import { factLogFlushed } from '../sinks/factLog/factLoader.js';
import { connectRedis } from '../state/redisClient.js';

const USAGE = 'usage: recon aml shadow-report [--from ISO] [--to ISO] | recon aml promote --actor NAME [--reason TEXT]';

export interface ShadowReportRow {
  rule_id: string;
  live_version: string;
  shadow_version: string;
  live: number;
  shadow: number;
  both: number;
  live_only: number;
  shadow_only: number;
}

/** Live against shadow alerts per rule over `[from, to)` (epoch ms of event time). */
export async function shadowReport(ch: ClickHouseClient, db: string, from: number, to: number): Promise<ShadowReportRow[]> {
  const rows = await queryRows<Record<keyof ShadowReportRow, string>>(
    ch,
    `SELECT rule_id, anyIf(lv, lv != '') AS live_version, anyIf(sv, sv != '') AS shadow_version,
            countIf(l) AS live, countIf(s) AS shadow, countIf(l AND s) AS both, countIf(l AND NOT s) AS live_only, countIf(s AND NOT l) AS shadow_only
     FROM (
       SELECT alert_id, any(rule_id) AS rule_id, max(src = 'live') AS l, max(src = 'shadow') AS s, anyIf(v, src = 'live') AS lv, anyIf(v, src = 'shadow') AS sv
       FROM (
         SELECT alert_id, rule_id, rule_version AS v, 'live' AS src FROM ${db}.aml_alerts FINAL
         WHERE event_time >= fromUnixTimestamp64Milli({from:Int64}) AND event_time < fromUnixTimestamp64Milli({to:Int64})
         UNION ALL
         SELECT alert_id, rule_id, rule_version AS v, 'shadow' AS src FROM ${db}.aml_shadow_alerts FINAL
         WHERE event_time >= fromUnixTimestamp64Milli({from:Int64}) AND event_time < fromUnixTimestamp64Milli({to:Int64})
       ) GROUP BY alert_id
     ) GROUP BY rule_id ORDER BY rule_id`,
    { from, to },
  );
  return rows.map((r) => ({
    rule_id: r.rule_id,
    live_version: r.live_version,
    shadow_version: r.shadow_version,
    live: Number(r.live),
    shadow: Number(r.shadow),
    both: Number(r.both),
    live_only: Number(r.live_only),
    shadow_only: Number(r.shadow_only),
  }));
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

export async function amlMain(
  argv: readonly string[],
  config: Config,
  o: { secrets?: SecretSources; out?: (line: string) => void; now?: () => number; clickhouse?: ClickHouseClient } = {},
): Promise<number> {
  const out = o.out ?? ((l: string) => void process.stdout.write(`${l}\n`));
  const now = o.now ?? Date.now;
  const [sub, ...rest] = argv;
  let v: { from?: string | undefined; to?: string | undefined; actor?: string | undefined; reason?: string | undefined };
  try {
    v = parseArgs({ args: [...rest], options: { from: { type: 'string' }, to: { type: 'string' }, actor: { type: 'string' }, reason: { type: 'string' } } }).values;
  } catch (e) {
    console.error(`recon aml: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const shadowFile = config.aml.shadowRulesFile;
  if (sub !== 'shadow-report' && sub !== 'promote') {
    console.error(`recon aml: unknown subcommand '${sub ?? ''}'\n${USAGE}`);
    return 2;
  }
  if (shadowFile === undefined) {
    console.error(`recon aml: aml.shadowRulesFile is not set: there is no shadow to ${sub === 'promote' ? 'promote' : 'report on'}`);
    return 2;
  }
  const clickhouse = o.clickhouse ?? createClickHouse(config.clickhouse);
  try {
    if (sub === 'shadow-report') {
      const from = v.from === undefined ? now() - 7 * 86_400_000 : Date.parse(v.from);
      const to = v.to === undefined ? now() + 1 : Date.parse(v.to);
      if (!Number.isFinite(from) || !Number.isFinite(to) || from >= to) {
        console.error(`recon aml: --from and --to are ISO times, from before to\n${USAGE}`);
        return 2;
      }
      const rows = await shadowReport(clickhouse, config.clickhouse.database, from, to);
      for (const r of rows) out(JSON.stringify(r));
      const sum = (k: 'live' | 'shadow' | 'both' | 'live_only' | 'shadow_only') => rows.reduce((s, r) => s + r[k], 0);
      out(
        JSON.stringify({
          total: true,
          from: new Date(from).toISOString(),
          to: new Date(to).toISOString(),
          live: sum('live'),
          shadow: sum('shadow'),
          both: sum('both'),
          live_only: sum('live_only'),
          shadow_only: sum('shadow_only'),
        }),
      );
      return 0;
    }
    if (!v.actor || v.actor.trim() === '') {
      console.error(`recon aml: promote names who promotes (--actor)\n${USAGE}`);
      return 2;
    }
    // A shadow that does not validate is never promoted.
    let shadowRules: RuleSet;
    try {
      shadowRules = loadRuleFile(shadowFile);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      out(JSON.stringify({ ok: false, problem: 'invalid shadow file', detail: e.shortMessage }));
      return 1;
    }
    const liveBytes = readFileSync(config.aml.rulesFile);
    const shadowBytes = readFileSync(shadowFile);
    const liveVersion = (() => {
      try {
        return loadRuleFile(config.aml.rulesFile).version;
      } catch {
        return '(invalid)';
      }
    })();
    const redis = connectRedis(config.redis, o.secrets, { maxRetriesPerRequest: 2 });
    try {
      const audit = new AuditLog({
        redis,
        clickhouse,
        database: config.clickhouse.database,
        writer: factWriterFor(clickhouse, config.clickhouse),
        namespace: config.namespace,
        // Workers may hold audit records in the fact log still: the head is restored after them.
        ...(config.sink.mode === 'log' && { factsLoaded: () => factLogLoadedBy(config, o.secrets) }),
      });
      if ((await audit.head()) === null) await audit.restoreHead();
      // The new file is written beside the live one first (a full disk or a read-only dir stops
      // here, before anything is recorded); then the promotion is recorded, so one that happens is
      // never missing from the trail; then the rename, atomic, makes it live.
      const tmp = `${config.aml.rulesFile}.promote-${process.pid}`;
      writeFileSync(tmp, shadowBytes);
      try {
        await audit.append([
          {
            at: now(),
            actor: v.actor,
            action: 'aml.promote',
            subject: config.aml.rulesFile,
            content: { from: { version: liveVersion, sha256: sha256(liveBytes) }, to: { version: shadowRules.version, sha256: sha256(shadowBytes) }, reason: v.reason ?? '' },
          },
        ]);
      } catch (e) {
        rmSync(tmp, { force: true });
        throw e;
      }
      renameSync(tmp, config.aml.rulesFile);
    } finally {
      redis.disconnect();
    }
    const nc = await connect({ ...natsSecurityOptions(config.nats, o.secrets), servers: config.nats.servers, name: `${config.workerId}-aml-promote`, noAsyncTraces: true });
    try {
      nc.publish(config.aml.reloadSubject, '');
      await nc.flush();
    } finally {
      await nc.close();
    }
    out(JSON.stringify({ ok: true, from: liveVersion, to: shadowRules.version }));
    return 0;
  } finally {
    if (!o.clickhouse) await clickhouse.close().catch(() => undefined);
  }
}

/** Waits until the workers' loader has put every fact of the log into ClickHouse (`sink.mode: log`). */
async function factLogLoadedBy(config: Config, secrets: SecretSources | undefined): Promise<void> {
  const nc = await connect({ ...natsSecurityOptions(config.nats, secrets), servers: config.nats.servers, name: `${config.workerId}-aml-audit`, noAsyncTraces: true });
  try {
    await factLogFlushed(await jetstreamManager(nc), config.sink.log);
  } finally {
    await nc.close();
  }
}
