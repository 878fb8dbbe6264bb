import { describe, expect, it } from 'vitest';
import { parseRuleSet } from '../../src/aml/ruleFile.js';
import { MAX_WATCHLIST_ENTRIES, parseWatchlistText, parseWatchlistUpdate } from '../../src/aml/watchlist.js';
import { parseConfig } from '../../src/config/load.js';
import { amountLimitsOf, maxAmountMinorOf } from '../../src/domain/inputBounds.js';
import { ConfigError, SchemaViolation } from '../../src/lib/errors.js';

const configError = (input: unknown): string => {
  try {
    parseConfig(input);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).shortMessage;
  }
  throw new Error('expected a ConfigError');
};

describe('config: validation at the door', () => {
  it('defaults limits.maxAmountMinor to 10^15 minor units for every currency', () => {
    const limits = amountLimitsOf(parseConfig({}).limits.maxAmountMinor);
    expect(maxAmountMinorOf(limits, 'USD')).toBe(10n ** 15n);
    expect(maxAmountMinorOf(limits, 'JPY')).toBe(10n ** 15n);
  });

  it('reads per-currency bounds as exact bigints, up to exactly 10^18, and refuses 10^18 + 1', () => {
    const c = parseConfig({ limits: { maxAmountMinor: { default: '1000000000000000000', JPY: '5000', EUR: 250 } } });
    const limits = amountLimitsOf(c.limits.maxAmountMinor);
    expect(maxAmountMinorOf(limits, 'USD')).toBe(10n ** 18n);
    expect(maxAmountMinorOf(limits, 'JPY')).toBe(5_000n);
    expect(maxAmountMinorOf(limits, 'EUR')).toBe(250n);
    expect(configError({ limits: { maxAmountMinor: { USD: '1000000000000000001' } } })).toMatch(/limits\.maxAmountMinor\.USD: 1000000000000000001 exceeds 1000000000000000000/);
  });

  it('refuses a bound of 0, a decimal, a number beyond 19 digits and an unknown currency, naming the key', () => {
    expect(configError({ limits: { maxAmountMinor: { USD: '0' } } })).toMatch(/limits\.maxAmountMinor\.USD/);
    expect(configError({ limits: { maxAmountMinor: { USD: '10.5' } } })).toMatch(/limits\.maxAmountMinor\.USD/);
    expect(configError({ limits: { maxAmountMinor: { USD: '1'.repeat(20) } } })).toMatch(/limits\.maxAmountMinor\.USD/);
    expect(configError({ limits: { maxAmountMinor: { XYZ: '5' } } })).toMatch(/limits\.maxAmountMinor: key "XYZ" must be 'default' or an ISO 4217 code/);
  });

  it('bounds account ids: 128 characters pass, 129, control characters and lone surrogates fail naming the field', () => {
    expect(parseConfig({ accounts: [{ accountId: 'a'.repeat(128) }] }).accounts[0]!.accountId).toHaveLength(128);
    expect(configError({ accounts: [{ accountId: 'a'.repeat(129) }] })).toMatch(/accounts\.0\.accountId: identifier is 129 characters long/);
    expect(configError({ accounts: [{ accountId: 'ACC\u0000' }] })).toMatch(/accounts\.0\.accountId: identifier contains U\+0000/);
    expect(configError({ accounts: [{ accountId: 'ACC\udc00' }] })).toMatch(/accounts\.0\.accountId: identifier is not well-formed Unicode/);
    expect(configError({ accounts: [{ accountId: '' }] })).toMatch(/accounts\.0\.accountId: identifier is empty/);
  });

  it('refuses a token currency this engine has no exponent for', () => {
    const token = { chainId: 1, address: `0x${'11'.repeat(20)}` };
    expect(parseConfig({ tokens: [{ ...token, currency: 'USD' }] }).tokens[0]!.currency).toBe('USD');
    expect(configError({ tokens: [{ ...token, currency: 'XYZ' }] })).toMatch(/tokens\.0\.currency: is not an ISO 4217 code this engine knows/);
  });
});

describe('AML rule file: validation at the door', () => {
  const rule = (over: Record<string, unknown>) => ({ version: 'v1', rules: [{ id: 'big', type: 'large_value', threshold: { '*': '10000' }, ...over }] });
  const refusal = (doc: unknown): string => {
    try {
      parseRuleSet(doc);
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as ConfigError).shortMessage;
    }
    throw new Error('expected a ConfigError');
  };

  it('bounds rule ids to 128 characters', () => {
    expect(parseRuleSet(rule({ id: 'r'.repeat(128) })).rules[0]!.id).toHaveLength(128);
    expect(refusal(rule({ id: 'r'.repeat(129) }))).toMatch(/rules\.0\.id: at most 128 characters/);
  });

  it('keeps descriptions one clean line: a trailing newline is trimmed, a control character or lone surrogate inside is refused', () => {
    expect(parseRuleSet(rule({ description: 'big one\n' })).rules[0]!.description).toBe('big one');
    expect(refusal(rule({ description: 'big\u0007one' }))).toMatch(/rules\.0\.description: text contains control character U\+0007/);
    expect(refusal(rule({ description: 'big \ud800' }))).toMatch(/rules\.0\.description: text is not well-formed Unicode/);
    expect(refusal(rule({ description: 'd'.repeat(1_025) }))).toMatch(/rules\.0\.description: text is 1025 characters long/);
  });

  it('refuses a version that is no identifier and a threshold key that is no currency code', () => {
    expect(refusal({ version: 'v1\u0000', rules: [] })).toMatch(/version/);
    expect(refusal(rule({ threshold: { ['U'.repeat(500)]: '5' } }))).toMatch(/rules\.0\.threshold: key "U{40}"… must be '\*' or an ISO 4217 code/);
  });
});

describe('watch list: validation at the door', () => {
  const refused = (text: string): string => {
    try {
      parseWatchlistUpdate(text);
    } catch (e) {
      expect(e).toBeInstanceOf(SchemaViolation);
      return (e as SchemaViolation).shortMessage;
    }
    throw new Error('expected a SchemaViolation');
  };

  it('accepts add, remove and replace of identifiers of up to 128 characters', () => {
    expect(parseWatchlistUpdate(JSON.stringify({ add: ['0xABC', 'a'.repeat(128)] }))).toEqual({ add: ['0xABC', 'a'.repeat(128)] });
    expect(parseWatchlistUpdate('{"remove":[]}')).toEqual({ remove: [] });
    expect(parseWatchlistUpdate('{"replace":["ACC-1"]}')).toEqual({ replace: ['ACC-1'] });
  });

  it('names the bad entry: 129 characters, a control character, a lone surrogate (JSON \\ud800), an empty string', () => {
    expect(refused(JSON.stringify({ add: ['ok', 'a'.repeat(129)] }))).toMatch(/add\.1: identifier is 129 characters long/);
    expect(refused(JSON.stringify({ remove: ['x\u0007'] }))).toMatch(/remove\.0: identifier contains U\+0007/);
    expect(refused('{"replace":["ok","\\ud800"]}')).toMatch(/replace\.1: identifier is not well-formed Unicode: lone surrogate U\+D800/);
    expect(refused('{"add":[""]}')).toMatch(/add\.0: identifier is empty/);
  });

  it('refuses more than MAX_WATCHLIST_ENTRIES entries, other shapes and non-JSON', () => {
    expect((parseWatchlistUpdate(JSON.stringify({ add: Array(MAX_WATCHLIST_ENTRIES).fill('x') })) as { add: string[] }).add).toHaveLength(MAX_WATCHLIST_ENTRIES);
    expect(refused(JSON.stringify({ add: Array(MAX_WATCHLIST_ENTRIES + 1).fill('x') }))).toMatch(/add: /);
    expect(refused('{"add":["x"],"remove":["y"]}')).toMatch(/must be one of/);
    expect(refused('[1]')).toMatch(/must be one of/);
    expect(refused('{nope')).toMatch(/not JSON/);
  });

  it('file: names the line of a bad entry, lower-cases the good ones', () => {
    expect(parseWatchlistText('# list\n0xABC\n\nACC-1 # note\n')).toEqual(['0xabc', 'acc-1']);
    expect(() => parseWatchlistText('ok\nbad\u0001entry\n')).toThrow(/watch list line 2: identifier contains U\+0001/);
    expect(() => parseWatchlistText(`- ok\n- ${'z'.repeat(129)}\n`)).toThrow(/watch list entry 1: identifier is 129 characters long/);
  });
});
