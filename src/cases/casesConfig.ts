import { z } from 'zod';
import { durationMs } from '../config/duration.js';
import { secretRefSchema } from '../alerts/alertsConfig.js';
import { CURRENCY_EXPONENTS } from '../domain/currencies.js';
import type { FourEyesPolicy } from './caseLifecycle.js';

// A bigint too: a parsed configuration is parsed again when a caller derives one from it.
const minorUnits = z
  .union([
    z.string().regex(/^(0|[1-9][0-9]{0,18})$/, 'a whole number of minor units, as a string'),
    z.number().int().min(0),
    z
      .bigint()
      .min(0n)
      .max(10n ** 19n - 1n),
  ])
  .transform((v) => BigInt(v));

/** The `cases` section: the operators' API, its users and the four-eyes thresholds (docs/cases.md). */
export const casesConfigSchema = z
  .object({
    enabled: z.boolean().default(false).describe("Serve the case API (`/api/v1/…`) on the worker's HTTP server."),
    /** API users: a bearer token each, with a role. */
    tokens: z
      .array(
        z.object({
          id: z
            .string()
            .regex(/^[A-Za-z0-9._@-]{1,64}$/, 'letters, digits and . _ @ - only, at most 64')
            .describe('Who this is: recorded on every action and audit record.'),
          role: z.enum(['viewer', 'operator', 'approver', 'admin']).describe('viewer reads; operator works cases; approver also approves write-offs and adjustments; admin everything.'),
          token: secretRefSchema.describe('The bearer token: `{ env: NAME }` or `{ file: PATH }` (inline only for tests); at least 32 characters.'),
        }),
      )
      .default([])
      .describe('API users, each with a bearer token and a role.'),
    fourEyes: z
      .object({
        thresholdMinor: z
          .record(
            z.string().refine((c) => CURRENCY_EXPONENTS[c] !== undefined, 'an ISO 4217 code this engine knows'),
            minorUnits,
          )
          .default({})
          .describe('Per currency: a write-off or adjustment above this many minor units needs an approver who is not the requester.'),
        defaultMinor: minorUnits.default(0n).describe('The threshold of currencies not listed (0: every write-off and adjustment is approved by a second person).'),
      })
      .prefault({})
      .describe('Four eyes on write-offs and adjustments.'),
    sla: z
      .array(
        z.object({
          kinds: z.array(z.string()).default([]).describe('Discrepancy kinds this rule covers; empty: every kind.'),
          minAmountMinor: minorUnits.default(0n).describe('Lower bound of the amount band, minor units (the larger side of the discrepancy).'),
          acknowledgeWithinMs: durationMs(z.number().int().positive()).describe('A case still open (not acknowledged) this long after it opened breaches.'),
          resolveWithinMs: durationMs(z.number().int().positive()).describe('A case unresolved this long after it opened breaches.'),
        }),
      )
      .default([
        { kinds: [], minAmountMinor: 0n, acknowledgeWithinMs: 4 * 3_600_000, resolveWithinMs: 24 * 3_600_000 },
        { kinds: [], minAmountMinor: 100_000_000n, acknowledgeWithinMs: 30 * 60_000, resolveWithinMs: 4 * 3_600_000 },
      ])
      .describe('Service levels per kind and amount band (the highest band a case reaches applies); a breach escalates through the alert outbox once.'),
    slaCheckIntervalMs: durationMs(z.number().int().positive()).default(60_000).describe('How often open cases are checked against their service level.'),
    headExport: z
      .object({
        intervalMs: durationMs(z.number().int().positive()).default(3_600_000).describe('How often the head is exported (only when it moved since the last export).'),
        file: z.string().min(1).optional().describe('JSON-lines file the heads are appended to (fsynced): keep it, or a copy, where whoever could rewrite ClickHouse cannot.'),
        anchor: z
          .object({
            chainId: z.number().int().positive().describe('Chain to anchor on.'),
            rpcUrl: z.string().url().optional().describe('Its JSON-RPC endpoint (default: the first of `chains[]` with this id).'),
            privateKey: secretRefSchema.describe('Key of the account that sends the anchoring transactions (to itself, zero value): `{ env: NAME }` or `{ file: PATH }`.'),
          })
          .optional()
          .describe('Also write each exported head on an EVM chain (`recon-audit-head:<seq>:<hash>` as calldata), recorded in the exported line.'),
      })
      .refine((h) => h.file !== undefined || h.anchor !== undefined, { message: 'an export needs a file, an anchor, or both' })
      .optional()
      .describe('Scheduled export of the audit head (`recon audit verify --heads FILE [--anchors]` checks the trail against it).'),
    auditDataStatus: z
      .boolean()
      .default(true)
      .describe('Chain every discrepancy status change made by data (opened, resolved, re-opened) into the audit trail, and move the cases operators hold along with it.'),
  })
  .describe("Case workflow: the operators' API, users and four eyes (docs/cases.md).");

export type CasesConfig = z.infer<typeof casesConfigSchema>;

export const fourEyesPolicyOf = (c: CasesConfig): FourEyesPolicy => ({ thresholdMinor: c.fourEyes.thresholdMinor, defaultMinor: c.fourEyes.defaultMinor });
