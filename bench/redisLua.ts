import type { Redis } from 'ioredis';

/**
 * Redis's Lua VM as a bench finds it. Every script Redis has cached stays compiled in that one VM
 * until SCRIPT FLUSH or a restart, and the match script's cost grows with the VM's heap: in
 * bench:leg on 2026-12-06, 45 µs per leg on a fresh VM, 58–60 µs with 40 more copies of the match
 * script cached (3.3 MB), ~72 µs after a day of test runs (43 scripts, 5.5 MB). Benches print it so
 * that two runs are compared on the same footing; `--flush-scripts` starts them on a fresh VM
 * (clients that call scripts by sha, as ioredis does, load them again on their next call).
 */
export interface LuaVm {
  scripts: number;
  /** used_memory_lua, in KiB. */
  kib: number;
}

export async function luaVm(redis: Redis, flush: boolean): Promise<LuaVm> {
  if (flush) await redis.script('FLUSH');
  const mem = await redis.info('memory');
  const num = (k: string) => Number(new RegExp(`${k}:(\\d+)`).exec(mem)?.[1] ?? Number.NaN);
  return { scripts: num('number_of_cached_scripts'), kib: Math.round(num('used_memory_lua') / 1024) };
}

export function describeLuaVm(v: LuaVm, flushed: boolean): string {
  return `Redis Lua VM${flushed ? ' (flushed first)' : ''}: ${v.scripts} cached scripts, ${v.kib.toLocaleString('en-US')} KiB (a larger VM makes every script slower: bench/redisLua.ts)`;
}
