import { ReplyError } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { ScriptError } from '../../src/lib/errors.js';
import { failureKind } from '../../src/lib/failureKind.js';
import { asScriptError, inScript } from '../../src/state/scriptErrors.js';

describe('script errors', () => {
  it('names the script of a Redis error reply and keeps the reply as its cause', async () => {
    const reply = new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value');
    const e = await inScript('retract', () => Promise.reject(reply)).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ScriptError);
    expect((e as ScriptError).shortMessage).toBe('The Redis script retract failed.');
    expect((e as ScriptError).details).toMatch(/^WRONGTYPE/);
    expect((e as ScriptError).cause).toBe(reply);
    expect(failureKind(e)).toBe('unanticipated');
  });

  it('keeps a server-state reply a dependency failure, and passes connection errors through', () => {
    expect(failureKind(asScriptError('matchOrPark', new ReplyError('LOADING Redis is loading the dataset in memory')))).toBe('dependency');
    expect(failureKind(asScriptError('matchOrPark', new ReplyError('STATE_LOST t1:{m}:epoch is missing')))).toBe('dependency');
    const closed = new Error('Connection is closed.');
    expect(asScriptError('expire', closed)).toBe(closed);
  });
});
