/**
 * The `camt` section of the configuration: how ISO 20022 camt.052/053/054 messages become
 * postings (accounts, references, bank transaction codes, business time) and where they come from
 * (drop directory, JetStream subject) and go (the ledger subject). See docs/iso20022.md.
 */
import { z } from 'zod';
import { durationMs } from '../config/duration.js';
import { DEFAULT_FALLBACK, DEFAULT_TRANSACTION_CODES } from './bankTransactionCodes.js';
import type { CamtMappingOptions } from './camtMapping.js';

const txTypeSchema = z.enum(['deposit', 'withdrawal', 'transfer', 'fee']);

const regexString = z.string().superRefine((v, ctx) => {
  try {
    new RegExp(v);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: `is not a valid regular expression: ${(e as Error).message}` });
  }
});

export const camtConfigSchema = z
  .object({
    ledgerSubject: z.string().default('ledger.camt').describe('Subject of the ledger stream the postings of camt messages are published on (Avro, like core banking).'),
    accounts: z.record(z.string(), z.string()).default({}).describe('Statement account (IBAN or `Othr/Id`) → engine account id. Accounts listed under `accounts` are accepted under their own id too.'),
    acceptUnlistedAccounts: z
      .boolean()
      .default(false)
      .describe('Accept a statement account that is neither in `camt.accounts` nor in `accounts` under its own id; off: the message is dead-lettered (unknown account).'),
    businessTime: z
      .enum(['booking', 'value'])
      .default('booking')
      .describe("Which date matching uses as the posting's business time: `booking` (BookgDt) or `value` (ValDt); both are kept in the posting either way."),
    reference: z
      .object({
        sources: z
          .array(z.enum(['creditorReference', 'unstructured', 'endToEndId']))
          .default(['creditorReference'])
          .describe('Where the tokenization reference is looked for, in order: `creditorReference` (RmtInf/Strd/CdtrRefInf/Ref), `unstructured` (RmtInf/Ustrd), `endToEndId`.'),
        pattern: regexString
          .default("^([A-Za-z0-9][A-Za-z0-9:/?().,+' -]{0,63})$")
          .describe('Regular expression applied to each source text; its first group (or whole match) is the reference. The first source that matches wins.'),
      })
      .prefault({})
      .describe('Extraction of the tokenization reference from remittance information.'),
    transactionCodes: z
      .array(
        z.object({
          code: z
            .string()
            .regex(/^(prtry:.+|[A-Z*]{1,4}\/[A-Z*]{1,4}\/[A-Z*]{1,4})$/, 'must be DOMN/FMLY/SUBFMLY (with * wildcards) or prtry:<code>')
            .describe('`DOMN/FMLY/SUBFMLY` with `*` for any part, or `prtry:<code>`.'),
          direction: z.enum(['credit', 'debit']).optional().describe('Only entries of this direction; unset: both.'),
          txType: txTypeSchema.describe('Transaction type of the postings the rule fits.'),
        }),
      )
      .default(DEFAULT_TRANSACTION_CODES.map((r) => ({ ...r })))
      .describe('Bank transaction code → transaction type, first fitting rule wins (defaults in docs/iso20022.md).'),
    fallback: z
      .object({
        credit: txTypeSchema.default(DEFAULT_FALLBACK.credit).describe('Transaction type of a credit no rule fits.'),
        debit: txTypeSchema.default(DEFAULT_FALLBACK.debit).describe('Transaction type of a debit no rule fits.'),
      })
      .prefault({})
      .describe('Transaction type when no rule of `transactionCodes` fits.'),
    xsdValidation: z.boolean().default(false).describe('Validate each message against the official XSD of its version (config/iso20022/) before mapping; slower, off by default.'),
    xsdDir: z.string().default('config/iso20022').describe('Folder of the official camt XSDs, `camt.05N.001.0V.xsd`.'),
    maxMessageBytes: z
      .number()
      .int()
      .positive()
      .default(256 * 1024 * 1024)
      .describe('Largest camt file or message accepted; a larger one is dead-lettered unread.'),
    dropDir: z
      .object({
        pollIntervalMs: durationMs(z.number().int().positive()).default(2_000).describe('How often the drop directory is scanned for new `.xml` files.'),
        settleMs: durationMs(z.number().int().min(0)).default(1_000).describe('A file is read only once its size and mtime have not changed for this long (still being written otherwise).'),
      })
      .prefault({})
      .describe('Watched drop directory: files move to `processed/` or `failed/` (with `<file>.reason.txt`).'),
    inputStream: z.string().default('CAMT').describe('JetStream stream of camt XML messages (one message = one camt document).'),
    inputSubject: z.string().default('camt.in').describe('Subject carrying camt XML; each message is acked only after its postings are durable in the ledger stream.'),
    inputConsumer: z.string().default('recon-camt').describe('Durable consumer of the camt input stream.'),
  })
  .prefault({})
  .describe('ISO 20022 camt.052/053/054 ingestion (docs/iso20022.md).');

export type CamtConfig = z.infer<typeof camtConfigSchema>;

/** The mapping options of a parsed `camt` section (the reference pattern compiled once). */
export function camtMappingOptions(c: CamtConfig): CamtMappingOptions {
  return {
    businessTime: c.businessTime,
    referenceSources: c.reference.sources,
    referencePattern: new RegExp(c.reference.pattern),
    transactionCodes: c.transactionCodes,
    fallback: c.fallback,
  };
}
