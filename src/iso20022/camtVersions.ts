/**
 * The ISO 20022 cash-management messages this engine reads, by XML namespace: camt.052 (intraday
 * account report), camt.053 (end-of-day statement) and camt.054 (debit/credit notification), each
 * in versions .001.02 to .001.08. A message of a known family in another version is refused by
 * name, never read as if it were a version we know (elements move between versions).
 */
import { DecodeError } from '../lib/errors.js';

export type CamtFamily = 'camt.052' | 'camt.053' | 'camt.054';

export interface CamtVersion {
  family: CamtFamily;
  /** Message version, e.g. 8 for camt.053.001.08. */
  version: number;
  namespace: string;
  /** Element under Document holding the message (BkToCstmrStmt, …). */
  messageElement: string;
  /** Element holding one statement / report / notification (Stmt, Rpt, Ntfctn). */
  reportElement: string;
}

export const MIN_CAMT_VERSION = 2;
export const MAX_CAMT_VERSION = 8;

const FAMILIES: Readonly<Record<CamtFamily, { messageElement: string; reportElement: string }>> = {
  'camt.052': { messageElement: 'BkToCstmrAcctRpt', reportElement: 'Rpt' },
  'camt.053': { messageElement: 'BkToCstmrStmt', reportElement: 'Stmt' },
  'camt.054': { messageElement: 'BkToCstmrDbtCdtNtfctn', reportElement: 'Ntfctn' },
};

const NAMESPACE = /^urn:iso:std:iso:20022:tech:xsd:(camt\.05[234])\.001\.(\d{2})$/;

/** The namespace of a family and version, e.g. `urn:iso:std:iso:20022:tech:xsd:camt.053.001.08`. */
export function camtNamespace(family: CamtFamily, version: number): string {
  return `urn:iso:std:iso:20022:tech:xsd:${family}.001.${String(version).padStart(2, '0')}`;
}

/**
 * The family and version of a Document namespace. Throws `DecodeError` for a namespace that is not
 * camt.052/053/054, and for a version of those outside .001.02–.001.08, naming what is supported.
 */
export function camtVersionOf(namespace: string): CamtVersion {
  const m = NAMESPACE.exec(namespace.trim());
  if (!m) {
    throw new DecodeError(`XML namespace '${namespace.slice(0, 120)}' is not an ISO 20022 camt.052, camt.053 or camt.054 message.`, {
      details: `Supported: ${supportedNamespaces().join(', ')}.`,
    });
  }
  const family = m[1] as CamtFamily;
  const version = Number(m[2]);
  if (version < MIN_CAMT_VERSION || version > MAX_CAMT_VERSION) {
    throw new DecodeError(`${family}.001.${m[2]} is a version of ${family} this engine does not read (supported: .001.02 to .001.08).`, {
      details: 'Ask the bank for a supported version, or add the version after checking what moved in its schema.',
    });
  }
  return { family, version, namespace: camtNamespace(family, version), ...FAMILIES[family] };
}

/** Every namespace this engine reads. */
export function supportedNamespaces(): string[] {
  const out: string[] = [];
  for (const family of Object.keys(FAMILIES) as CamtFamily[]) {
    for (let v = MIN_CAMT_VERSION; v <= MAX_CAMT_VERSION; v++) out.push(camtNamespace(family, v));
  }
  return out;
}
