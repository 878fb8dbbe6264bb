/**
 * One pass over a camt message: the reader's events turned into statements, balances and postings
 * (pure apart from reading `chunks`). Ingestion walks a message twice, once to validate it whole
 * and once to publish, so neither pass holds more than one entry in memory.
 */
import { SchemaViolation, UnmappedIdentity } from '../lib/errors.js';
import { mapBalance, mapEntry, mapStatementHeader, type CamtMappingOptions, type CamtPosting, type StatementBalance, type StatementHeader } from './camtMapping.js';
import { readCamt } from './camtReader.js';
import type { CamtVersion } from './camtVersions.js';
import type { XmlNode } from './xmlNode.js';

export type CamtItem =
  | { t: 'statement'; header: StatementHeader; accountId: string }
  | { t: 'balance'; header: StatementHeader; accountId: string; balance: StatementBalance }
  | { t: 'posting'; header: StatementHeader; posting: CamtPosting }
  /** The statement's end, with its entries' net movement (booked entries only) and counts. */
  | { t: 'statementEnd'; header: StatementHeader; accountId: string; bookedNetMinor: bigint; entries: number; postings: number; info: number };

export interface CamtWalkOptions {
  name: string;
  mapping: CamtMappingOptions;
  /** Engine account id of a statement account, or undefined when unknown (the message is refused). */
  resolveAccount(account: string): string | undefined;
}

/**
 * Walks a camt message. Throws `DecodeError` (not camt XML), `SchemaViolation` (a business rule)
 * or `UnmappedIdentity` (a statement account no mapping knows), each naming the element.
 */
export async function* walkCamt(chunks: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>, options: CamtWalkOptions): AsyncGenerator<CamtItem> {
  let version: CamtVersion | undefined;
  let groupHeader: XmlNode | undefined;
  let statements = 0;
  let current: { header: StatementHeader; accountId: string; net: bigint; entries: number; postings: number; info: number } | undefined;
  for await (const ev of readCamt(chunks, { name: options.name })) {
    switch (ev.t) {
      case 'message':
        version = ev.version;
        groupHeader = ev.groupHeader;
        break;
      case 'report': {
        if (!version || !groupHeader) throw new SchemaViolation(`${options.name}: ${ev.header.name} before GrpHdr.`);
        const header = mapStatementHeader(ev.header, groupHeader, version);
        const accountId = options.resolveAccount(header.account);
        if (accountId === undefined) {
          throw new UnmappedIdentity(`${options.name}: statement ${header.reportId} is for account ${header.account.slice(0, 64)}, which no camt.accounts entry or account mapping knows.`, {
            details: 'Add it to camt.accounts (statement account → engine account id), or set camt.acceptUnlistedAccounts.',
          });
        }
        statements++;
        current = { header, accountId, net: 0n, entries: 0, postings: 0, info: 0 };
        yield { t: 'statement', header, accountId };
        break;
      }
      case 'balance':
        if (!current) throw new SchemaViolation(`${options.name}: balance outside a statement.`);
        yield { t: 'balance', header: current.header, accountId: current.accountId, balance: mapBalance(ev.node, `${current.header.family} ${current.header.reportId}`) };
        break;
      case 'entry': {
        if (!current) throw new SchemaViolation(`${options.name}: entry outside a statement.`);
        const postings = mapEntry(ev.node, { header: current.header, accountId: current.accountId, entryIndex: ev.index }, options.mapping);
        current.entries++;
        if (postings.length === 0) current.info++;
        for (const p of postings) {
          current.postings++;
          if (p.status === 'booked') current.net += p.direction === 'credit' ? p.amountMinor : -p.amountMinor;
          yield { t: 'posting', header: current.header, posting: p };
        }
        break;
      }
      case 'reportEnd':
        if (current) {
          yield { t: 'statementEnd', header: current.header, accountId: current.accountId, bookedNetMinor: current.net, entries: current.entries, postings: current.postings, info: current.info };
        }
        current = undefined;
        break;
    }
  }
  if (statements === 0) throw new SchemaViolation(`${options.name}: ${version ? `${version.family} message has no <${version.reportElement}>` : 'has no camt message'}; nothing to ingest.`);
}
