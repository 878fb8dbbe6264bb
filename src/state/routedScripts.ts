import type { Redis } from 'ioredis';

type Script = (...args: (string | number | Buffer)[]) => Promise<unknown>;

/**
 * Defines Lua scripts that are routed by their first argument: the key prefix of the state they
 * touch (`<namespace>:{m}:`, `<namespace>:{aml}:`), whose hash tag names its Redis Cluster slot.
 * Each script is declared with one key (that prefix, as KEYS[1], never read) so that a cluster
 * client sends it to the node holding the slot, and receives the prefix again as ARGV[1] as it
 * always did: the scripts themselves are unchanged. On a single Redis it costs one argument.
 */
export function routedScripts<T extends string>(redis: Redis, scripts: Record<T, string>): Record<T, Script> {
  const out = {} as Record<T, Script>;
  const r = redis as unknown as Record<string, Script | undefined>;
  for (const [name, lua] of Object.entries(scripts) as [T, string][]) {
    const routed = `${name}Routed`;
    if (!r[routed]) redis.defineCommand(routed, { numberOfKeys: 1, lua });
    out[name] = (...args) => (redis as unknown as Record<string, Script>)[routed]!(args[0]!, ...args);
  }
  return out;
}
