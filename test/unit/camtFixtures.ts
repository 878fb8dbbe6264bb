import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { camtConfigSchema, camtMappingOptions, type CamtConfig } from '../../src/iso20022/camtConfig.js';
import type { CamtPosting, StatementBalance, StatementHeader } from '../../src/iso20022/camtMapping.js';
import { walkCamt } from '../../src/iso20022/camtWalk.js';

export const FIXTURES = fileURLToPath(new URL('../fixtures/camt/', import.meta.url));

export const fixture = (name: string) => readFileSync(`${FIXTURES}${name}`);

export interface Walked {
  statements: { header: StatementHeader; accountId: string; balances: StatementBalance[]; postings: CamtPosting[]; net: bigint; entries: number }[];
}

/** Walks XML (a fixture name or the text) into statements with their balances and postings. */
export async function walk(xml: string | Buffer, config: Partial<CamtConfig> = {}, resolveAccount: (a: string) => string | undefined = (a) => a): Promise<Walked> {
  const c = camtConfigSchema.parse(config);
  const out: Walked = { statements: [] };
  // Chunks of 97 bytes: every element boundary falls inside some chunk.
  const bytes = typeof xml === 'string' ? Buffer.from(xml) : xml;
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 97) chunks.push(bytes.subarray(i, i + 97));
  for await (const it of walkCamt(chunks, { name: 'test', mapping: camtMappingOptions(c), resolveAccount })) {
    if (it.t === 'statement') out.statements.push({ header: it.header, accountId: it.accountId, balances: [], postings: [], net: 0n, entries: 0 });
    const s = out.statements[out.statements.length - 1]!;
    if (it.t === 'balance') s.balances.push(it.balance);
    if (it.t === 'posting') s.postings.push(it.posting);
    if (it.t === 'statementEnd') {
      s.net = it.bookedNetMinor;
      s.entries = it.entries;
    }
  }
  return out;
}
