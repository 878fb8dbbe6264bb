import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { validateCamtXsd } from '../../src/iso20022/xsdValidation.js';
import { DecodeError, SchemaViolation } from '../../src/lib/errors.js';
import { fixture } from './camtFixtures.js';

const XSD = fileURLToPath(new URL('../../config/iso20022/', import.meta.url));

describe('XSD validation (official camt schemas, xmllint-wasm)', () => {
  it('accepts the public samples of camt.052, 053 and 054', async () => {
    await validateCamtXsd(fixture('camt053.v2.minimal.xml'), { family: 'camt.053', version: 2 }, XSD, 'a');
    await validateCamtXsd(fixture('camt053.v8.xml'), { family: 'camt.053', version: 8 }, XSD, 'b');
    await validateCamtXsd(fixture('camt052.v6.xml'), { family: 'camt.052', version: 6 }, XSD, 'c');
    await validateCamtXsd(fixture('camt054.v8.xml'), { family: 'camt.054', version: 8 }, XSD, 'd');
  });

  it('refuses a statement message without a statement, naming the missing element and its line', async () => {
    const e = await validateCamtXsd(fixture('camt053.v2.wrong.xml'), { family: 'camt.053', version: 2 }, XSD, 'wrong.xml').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SchemaViolation);
    expect(String((e as Error).message)).toMatch(/not valid against camt\.053\.001\.02\.xsd[\s\S]*line 3[\s\S]*Stmt/);
  });

  it('refuses to validate a version whose XSD is not shipped', async () => {
    await expect(validateCamtXsd(fixture('camt053.v8.xml'), { family: 'camt.053', version: 7 }, XSD, 'x')).rejects.toThrow(DecodeError);
  });
});
