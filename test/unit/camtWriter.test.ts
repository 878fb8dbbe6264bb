import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { writeCamt } from '../../src/generator/camtWriter.js';
import { validateCamtXsd } from '../../src/iso20022/xsdValidation.js';
import type { LedgerPosting } from '../../src/streams/ledgerCodec.js';
import { walk } from './camtFixtures.js';

const XSD = fileURLToPath(new URL('../../config/iso20022/', import.meta.url));
const T0 = Date.UTC(2024, 4, 2, 9, 30, 0, 123);

const p = (over: Partial<LedgerPosting> & Pick<LedgerPosting, 'entryId'>): LedgerPosting => ({
  accountId: 'ACC-1',
  direction: 'credit',
  amountMinor: 12_345n,
  currency: 'USD',
  bookingTime: T0,
  valueTime: T0 + 1_000,
  status: 'booked',
  txType: 'deposit',
  endToEndId: 'E2E-1',
  remittance: 'Tokenize <deposit> & more',
  tokenizationRef: 'TOK-1',
  ...over,
});

const postings: LedgerPosting[] = [
  p({ entryId: 'E-1' }),
  p({ entryId: 'E-2', direction: 'debit', txType: 'withdrawal', amountMinor: 2_000n, endToEndId: null, tokenizationRef: null }),
  p({ entryId: 'E-3', direction: 'debit', txType: 'fee', amountMinor: 150n, remittance: null }),
  p({ entryId: 'E-4', direction: 'credit', txType: 'transfer', amountMinor: 999n }),
  p({ entryId: 'E-5', status: 'pending', amountMinor: 500n }),
];

describe('camtWriter', () => {
  it.each([
    ['camt.053', 8],
    ['camt.053', 2],
    ['camt.052', 8],
    ['camt.052', 2],
    ['camt.054', 8],
    ['camt.054', 2],
  ] as const)('writes %s.001.0%i that is valid against the official XSD', async (family, version) => {
    const xml = writeCamt(postings, { family, version, messageId: 'M-1', account: 'ACC-1', currency: 'USD', openingMinor: 1_000n, electronicSeq: 7n, createdAt: T0 + 60_000 }).join('');
    await validateCamtXsd(Buffer.from(xml), { family, version }, XSD, `${family}.${version}`);
  });

  it('reads back to the same postings, with the entry id as AcctSvcrRef, and balances that add up', async () => {
    const xml = writeCamt(postings, { family: 'camt.053', messageId: 'M-1', account: 'ACC-1', currency: 'USD', openingMinor: 1_000n, createdAt: T0 + 60_000 }).join('');
    const [s] = (await walk(xml)).statements;
    expect(s!.postings.map((x) => [x.details.accountServicerRef, x.direction, x.amountMinor, x.txType, x.status, x.bookingTime, x.valueTime, x.endToEndId, x.remittance, x.tokenizationRef])).toEqual([
      ['E-1', 'credit', 12_345n, 'deposit', 'booked', T0, T0 + 1_000, 'E2E-1', 'Tokenize <deposit> & more', 'TOK-1'],
      ['E-2', 'debit', 2_000n, 'withdrawal', 'booked', T0, T0 + 1_000, null, 'Tokenize <deposit> & more', null],
      ['E-3', 'debit', 150n, 'fee', 'booked', T0, T0 + 1_000, 'E2E-1', 'TOK-1', 'TOK-1'],
      ['E-4', 'credit', 999n, 'transfer', 'booked', T0, T0 + 1_000, 'E2E-1', 'Tokenize <deposit> & more', 'TOK-1'],
    ]);
    expect(s!.balances.map((b) => [b.type, b.amountMinor])).toEqual([
      ['OPBD', 1_000n],
      ['CLBD', 1_000n + 12_345n - 2_000n - 150n + 999n],
    ]);
  });

  it('a camt.052 keeps the pending entry as pending', async () => {
    const xml = writeCamt(postings, { family: 'camt.052', messageId: 'M-2', account: 'ACC-1', currency: 'USD', createdAt: T0 + 60_000 }).join('');
    const [s] = (await walk(xml)).statements;
    expect(s!.postings.map((x) => x.status)).toEqual(['booked', 'booked', 'booked', 'booked', 'pending']);
  });
});
