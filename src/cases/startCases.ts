import type { ClickHouseClient } from '@clickhouse/client';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { resolveSecret, type SecretSources } from '../config/secrets.js';
import { ConfigError } from '../lib/errors.js';
import type { FactWriter } from '../sinks/clickhouse/factWriter.js';
import { caseApi } from '../http/caseApi.js';
import { AuditLog } from './auditLog.js';
import { fourEyesPolicyOf } from './casesConfig.js';
import { CaseStore } from './caseStore.js';
import { createDataStatusTrail, type DataStatusTrail } from './dataStatusTrail.js';
import { decideProposal } from '../matching/proposalDecisions.js';
import { manualMatch } from '../matching/manualMatches.js';
import { startSlaEscalation } from '../jobs/slaEscalation.js';
import { startAuditHeadExport, type AuditHeadExport } from '../jobs/auditHeadExport.js';
import { chainAnchor, type AnchorHead } from './headAnchor.js';
import type { Hex } from 'viem';
import type { AlertOutbox } from '../alerts/alertOutbox.js';
import type { MatchStore } from '../state/matchStore.js';

export interface Cases {
  audit: AuditLog;
  cases: CaseStore;
  /** The SLA escalation job (src/jobs/slaEscalation.ts). */
  sla: { checkNow(): Promise<number>; stop(): Promise<void> };
  /** The scheduled head export (null without `cases.headExport`). */
  headExport: AuditHeadExport | null;
  /** Status changes made by data, into the audit chain (null when `cases.auditDataStatus` is off). */
  dataTrail: DataStatusTrail | null;
  /** The API's request handler for the worker's HTTP server. */
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;
}

/**
 * The case workflow of a worker (`cases.enabled`): the audit trail (records left pending by a
 * crash are written first; a head Redis lost is taken from the last durable record), the case
 * store, and the API with its users' tokens resolved from the configuration.
 */
export async function startCases(o: {
  config: Config;
  redis: Redis;
  clickhouse: ClickHouseClient;
  writer: FactWriter;
  outbox?: AlertOutbox | undefined;
  secrets: SecretSources;
  log: Logger;
  store: MatchStore;
  now?: () => number;
  /** Resolves once every durable fact is in ClickHouse (the fact log loaded); before the audit head is restored. */
  factsLoaded?: () => Promise<void>;
}): Promise<Cases> {
  const { config } = o;
  const database = config.clickhouse.database;
  const users = config.cases.tokens.map((t, i) => {
    const token = resolveSecret(t.token, `cases.tokens.${i}.token`, o.secrets);
    if (token.length < 32) throw new ConfigError(`invalid configuration: cases.tokens.${i}.token: at least 32 characters`);
    return { id: t.id, role: t.role, token };
  });
  const audit = new AuditLog({ redis: o.redis, clickhouse: o.clickhouse, database, writer: o.writer, namespace: config.namespace, ...(o.factsLoaded && { factsLoaded: o.factsLoaded }) });
  const flushed = await audit.flushPending();
  if ((await audit.head()) === null) await audit.restoreHead();
  if (flushed > 0) o.log.warn({ records: flushed }, 'cases: wrote audit records left pending by a previous run');
  const cases = new CaseStore({ redis: o.redis, audit, namespace: config.namespace, policy: fourEyesPolicyOf(config.cases) });
  const handle = caseApi({
    users,
    cases,
    audit,
    redis: o.redis,
    clickhouse: o.clickhouse,
    database,
    namespace: config.namespace,
    decideProposal: (pid, decision, actor, note) => decideProposal({ store: o.store, writer: o.writer, audit }, pid, decision, actor, note),
    manualMatch: (op, bankLegId, chainLegId, actor, note) => manualMatch({ store: o.store, writer: o.writer, audit }, op, bankLegId, chainLegId, actor, note),
    ...(o.factsLoaded && config.sink.mode === 'log' && { factsLoaded: o.factsLoaded }),
  });
  o.log.info({ users: users.map((u) => ({ id: u.id, role: u.role })) }, 'cases: API on /api/v1');
  const sla = startSlaEscalation({
    clickhouse: o.clickhouse,
    database,
    redis: o.redis,
    namespace: config.namespace,
    cases,
    audit,
    outbox: o.outbox,
    rules: config.cases.sla,
    intervalMs: config.cases.slaCheckIntervalMs,
    log: o.log,
    ...(o.now && { now: o.now }),
  });
  const he = config.cases.headExport;
  let headExport: AuditHeadExport | null = null;
  if (he) {
    let anchor: AnchorHead | undefined;
    if (he.anchor) {
      const rpcUrl = he.anchor.rpcUrl ?? config.chains.find((c) => c.chainId === he.anchor!.chainId)?.rpcUrls[0];
      if (!rpcUrl) throw new ConfigError(`invalid configuration: cases.headExport.anchor.rpcUrl: none given and no chains[] entry has chainId ${he.anchor.chainId}`);
      const privateKey = resolveSecret(he.anchor.privateKey, 'cases.headExport.anchor.privateKey', o.secrets);
      if (!/^0x[0-9a-fA-F]{64}$/.test(privateKey)) throw new ConfigError('invalid configuration: cases.headExport.anchor.privateKey: a 32-byte hex key (0x…)');
      anchor = chainAnchor({ rpcUrl, chainId: he.anchor.chainId, privateKey: privateKey as Hex });
    }
    headExport = startAuditHeadExport({
      audit,
      redis: o.redis,
      namespace: config.namespace,
      intervalMs: he.intervalMs,
      file: he.file,
      anchor,
      workerId: config.workerId,
      log: o.log,
      ...(o.now && { now: o.now }),
    });
  }
  const dataTrail = config.cases.auditDataStatus ? createDataStatusTrail({ audit, cases, ...(o.now && { now: o.now }) }) : null;
  return { audit, cases, handle, sla, dataTrail, headExport };
}
