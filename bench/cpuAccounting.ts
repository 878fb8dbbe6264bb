/**
 * CPU time by component, read from /proc: this process (the daemon with its embedded chdb), the
 * Redis server (by the pid it reports) and every local nats-server. Lets a benchmark say where a
 * message's CPU goes, and how many of the machine's cores a rate needs.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** utime + stime of a process (or of one of its threads) in seconds, or 0 when it is gone or not readable. */
export function processCpuSeconds(pid: number, tid?: number): number {
  try {
    // Fields after the command name (which is in parentheses and may contain spaces).
    const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** Pids of the processes whose command name is `name` (for instance every local nats-server). */
export function pidsNamed(name: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() === name) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Seconds of CPU: `daemon` is this whole process, `main` its JavaScript thread alone (the rest is
 *  the embedded ClickHouse engine, libuv's pool and V8's helper threads). */
export type CpuSample = { daemon: number; main: number; redis: number; nats: number };

export interface CpuAccounting {
  sample(): CpuSample;
  /** CPU seconds each component spent between two samples. */
  since(start: CpuSample): CpuSample;
  /** Where the Redis and NATS figures come from, for the report. */
  sources: { redisPid: number | null; natsPids: number[] };
}

/** Samples this process, the Redis server `redis` is connected to (when local) and local nats-servers. */
export async function cpuAccounting(redis: Redis): Promise<CpuAccounting> {
  const m = /process_id:(\d+)/.exec(await redis.info('server'));
  const redisPid = m ? Number(m[1]) : null;
  const natsPids = pidsNamed('nats-server');
  const sample = (): CpuSample => {
    const u = process.cpuUsage();
    return {
      daemon: (u.user + u.system) / 1e6,
      main: processCpuSeconds(process.pid, process.pid),
      redis: redisPid ? processCpuSeconds(redisPid) : 0,
      nats: natsPids.reduce((s, p) => s + processCpuSeconds(p), 0),
    };
  };
  return {
    sample,
    since: (start) => {
      const now = sample();
      return { daemon: now.daemon - start.daemon, main: now.main - start.main, redis: now.redis - start.redis, nats: now.nats - start.nats };
    },
    sources: { redisPid, natsPids },
  };
}

/** `µs per message` of each component and in all, for `messages` handled in `cpu`. */
export function perMessage(cpu: CpuSample, messages: number): CpuSample & { total: number } {
  const us = (s: number) => Math.round((s * 1e6) / messages);
  return { daemon: us(cpu.daemon), main: us(cpu.main), redis: us(cpu.redis), nats: us(cpu.nats), total: us(cpu.daemon + cpu.redis + cpu.nats) };
}
