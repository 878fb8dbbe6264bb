/**
 * Validation of a camt message against the official XSD of its version (config/iso20022/), with
 * libxml2 compiled to WebAssembly (xmllint-wasm): no native dependency, same answers as xmllint.
 * Optional (`camt.xsdValidation`): it needs the whole document in memory, and costs more than the
 * streaming parse; the business checks of the mapping run either way.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { validateXML } from 'xmllint-wasm';
import { DecodeError, SchemaViolation } from '../lib/errors.js';
import type { CamtVersion } from './camtVersions.js';

/** File name of the XSD of a family and version, e.g. `camt.053.001.08.xsd`. */
export const xsdFileName = (v: Pick<CamtVersion, 'family' | 'version'>) => `${v.family}.001.${String(v.version).padStart(2, '0')}.xsd`;

const cache = new Map<string, Promise<string>>();

/**
 * Validates `xml` (UTF-8) against the XSD of `version` found in `xsdDir`. Throws `SchemaViolation`
 * listing the first errors (line numbers included) when it is not valid, `DecodeError` when no XSD
 * of that version is in the folder.
 */
export async function validateCamtXsd(xml: Uint8Array, version: Pick<CamtVersion, 'family' | 'version'>, xsdDir: string, name: string): Promise<void> {
  const file = xsdFileName(version);
  const path = join(xsdDir, file);
  let schema = cache.get(path);
  if (!schema) {
    schema = readFile(path, 'utf8');
    cache.set(path, schema);
    schema.catch(() => cache.delete(path));
  }
  let xsd: string;
  try {
    xsd = await schema;
  } catch (cause) {
    throw new DecodeError(`${name}: no XSD ${file} in ${xsdDir} to validate ${version.family}.001.0${version.version} against.`, {
      details: 'Add the official XSD of that version, or turn camt.xsdValidation off.',
      cause,
    });
  }
  const pages = Math.min(65_536, Math.max(256, Math.ceil((xml.byteLength * 8) / 65_536)));
  const result = await validateXML({ xml: { fileName: 'message.xml', contents: xml }, schema: { fileName: file, contents: xsd }, maxMemoryPages: pages });
  if (!result.valid) {
    const first = result.errors.slice(0, 5).map((e) => `line ${e.loc?.lineNumber ?? '?'}: ${e.message.trim()}`);
    throw new SchemaViolation(`${name}: not valid against ${file} (${result.errors.length} error${result.errors.length === 1 ? '' : 's'}).`, {
      details: first.join('; '),
    });
  }
}
