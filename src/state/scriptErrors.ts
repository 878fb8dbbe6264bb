import { ScriptError } from '../lib/errors.js';

/**
 * Runs a Redis script call and turns an error reply into a `ScriptError` naming the script, with
 * the reply as its cause: failureKind.ts still sees through it (a LOADING or STATE_LOST reply is a
 * dependency not ready, anything else unanticipated), and an operator reads which script failed.
 * A connection error is passed through unchanged.
 */
export async function inScript<T>(script: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    throw asScriptError(script, e);
  }
}

/** `e` as a `ScriptError` of `script` when it is a Redis error reply; otherwise `e`. */
export function asScriptError(script: string, e: unknown): unknown {
  if (!(e instanceof Error) || e.name !== 'ReplyError') return e;
  return new ScriptError(`The Redis script ${script} failed.`, { details: e.message, cause: e });
}
