/**
 * Makes sure the two servers the engine needs on a development machine answer: NATS (with
 * JetStream) on 127.0.0.1:4222 and Redis on 127.0.0.1:6379. Whatever does not answer is started
 * from its local binary (`nats-server`, `redis-server`) and left running for later runs.
 *
 * As a script (`tsx src/cli/localServices.ts`) it exits 0 once both answer, 1 otherwise.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface LocalServicesLog {
  info(msg: string): void;
  warn?(msg: string): void;
}

export interface EnsureLocalServicesOptions {
  log?: LocalServicesLog;
  /** Where a started nats-server keeps its JetStream files; default `.data/nats` in the repository. */
  natsStoreDir?: string;
  /** How long to wait for a started server to answer; default 15 s. */
  timeoutMs?: number;
}

export interface LocalServices {
  nats: { url: string; started: boolean };
  redis: { url: string; started: boolean };
}

const HOST = '127.0.0.1';
const NATS_PORT = 4222;
const REDIS_PORT = 6379;
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Connects, writes `send` (if any), and resolves true once the first bytes read satisfy `ok`;
 * false on refusal, timeout or an unexpected answer.
 */
function probe(port: number, ok: (firstBytes: string) => boolean, send?: string, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = connect({ host: HOST, port });
    let buf = '';
    const done = (v: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolvePromise(v);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('error', () => done(false));
    socket.once('connect', () => {
      if (send) socket.write(send);
    });
    socket.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      if (buf.includes('\r\n')) done(ok(buf));
    });
  });
}

/** NATS greets every client with an INFO line; JetStream must be enabled for the engine. */
export async function natsAnswers(): Promise<boolean> {
  return probe(NATS_PORT, (s) => s.startsWith('INFO ') && /"jetstream"\s*:\s*true/.test(s));
}

/** Redis answers PING with +PONG (or -NOAUTH when it wants a password: then it is up, but not ours). */
export async function redisAnswers(): Promise<boolean> {
  return probe(REDIS_PORT, (s) => s.startsWith('+PONG'), 'PING\r\n');
}

/** Full path of an executable on PATH, or null. */
export function findBinary(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} was started but did not answer within ${timeoutMs / 1000}s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Ensures NATS (JetStream) and Redis answer locally, starting them from their binaries when
 * needed; fails with a message naming the missing binary when one cannot be started.
 */
export async function ensureLocalServices(options: EnsureLocalServicesOptions = {}): Promise<LocalServices> {
  const log = options.log ?? { info: () => undefined };
  const timeoutMs = options.timeoutMs ?? 15_000;
  const result: LocalServices = {
    nats: { url: `nats://${HOST}:${NATS_PORT}`, started: false },
    redis: { url: `redis://${HOST}:${REDIS_PORT}`, started: false },
  };

  if (!(await natsAnswers())) {
    if (await probe(NATS_PORT, (s) => s.startsWith('INFO '))) {
      throw new Error(`A NATS server answers on ${HOST}:${NATS_PORT} but without JetStream: restart it with -js.`);
    }
    const bin = findBinary('nats-server');
    if (!bin) {
      throw new Error(
        `Nothing answers on ${HOST}:${NATS_PORT} and nats-server is not installed (not on PATH). ` +
          'Install it (https://docs.nats.io/running-a-nats-service/introduction/installation) or start NATS with JetStream yourself.',
      );
    }
    const storeDir = resolve(options.natsStoreDir ?? join(REPO_ROOT, '.data', 'nats'));
    mkdirSync(storeDir, { recursive: true });
    log.info(`starting ${bin} -a ${HOST} -p ${NATS_PORT} -js -sd ${storeDir}`);
    // Detached and unreferenced: the server outlives this process, like redis-server --daemonize.
    const child = spawn(bin, ['-a', HOST, '-p', String(NATS_PORT), '-js', '-sd', storeDir], { detached: true, stdio: 'ignore' });
    child.unref();
    await waitFor('nats-server', natsAnswers, timeoutMs);
    result.nats.started = true;
  }

  if (!(await redisAnswers())) {
    const bin = findBinary('redis-server');
    if (!bin) {
      throw new Error(
        `Nothing answers PING on ${HOST}:${REDIS_PORT} and redis-server is not installed (not on PATH). ` +
          'Install Redis (e.g. apt-get install redis-server, brew install redis) or start it yourself.',
      );
    }
    log.info(`starting ${bin} --port ${REDIS_PORT} --bind ${HOST} --save "" --appendonly no --daemonize yes`);
    await new Promise<void>((res, rej) => {
      const child = spawn(bin, ['--port', String(REDIS_PORT), '--bind', HOST, '--save', '', '--appendonly', 'no', '--daemonize', 'yes'], { stdio: 'ignore' });
      child.once('error', rej);
      child.once('exit', (code) => (code === 0 ? res() : rej(new Error(`redis-server exited with code ${code}`))));
    });
    await waitFor('redis-server', redisAnswers, timeoutMs);
    result.redis.started = true;
  }
  return result;
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (isMain) {
  ensureLocalServices({ log: { info: (m) => console.error(m) } }).then(
    (s) => {
      console.log(`NATS ${s.nats.url}${s.nats.started ? ' (started)' : ''}, Redis ${s.redis.url}${s.redis.started ? ' (started)' : ''}: both answer`);
      process.exit(0);
    },
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : String(e));
      process.exit(1);
    },
  );
}
