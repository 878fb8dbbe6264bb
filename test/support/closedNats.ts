import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { freePort } from '../../src/devchain/anvilNode.js';
import { natsSecurityOptions } from '../../src/config/connectionSecurity.js';
import { parseConfig } from '../../src/config/load.js';

export const NATS_SERVER = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';
export const DEPLOY_NATS_CONF = resolve(import.meta.dirname, '../../deploy/nats/nats.conf');

/** Test passwords of the users of deploy/nats/nats.conf, and the inbox prefix each must use. */
export const USERS = {
  daemon: { user: 'recon-daemon', password: 'test-daemon-pw', inboxPrefix: '_INBOX_recon_daemon' },
  producer: { user: 'core-banking', password: 'test-producer-pw', inboxPrefix: '_INBOX_core_banking' },
  notifier: { user: 'recon-notifier', password: 'test-notifier-pw', inboxPrefix: '_INBOX_recon_notifier' },
  ops: { user: 'recon-ops', password: 'test-ops-pw', inboxPrefix: '_INBOX_recon_ops' },
  demo: { user: 'recon-demo', password: 'test-demo-pw', inboxPrefix: '_INBOX' },
} as const;
export type Role = keyof typeof USERS;

export interface ClosedNats {
  url: string;
  dir: string;
  /** The `nats` section of a config that logs in as `role` (TLS options added when the server has TLS). */
  natsConfig(role: Role): { servers: string[]; auth: { user: string; password: { env: string } }; inboxPrefix: string; tls?: { caFile: string } };
  connectAs(role: Role): Promise<NatsConnection>;
  env: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * A nats-server of its own (the binary, on a free 127.0.0.1 port, JetStream in a temp dir) running
 * deploy/nats/nats.conf as shipped, with test passwords in its environment. `extra` is appended
 * to the configuration (a `tls { … }` block); `caFile` makes clients verify the server with it.
 */
export async function startClosedNats(o: { extra?: string; caFile?: string; dir?: string } = {}): Promise<ClosedNats> {
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'recon-nats-'));
  const port = await freePort();
  const conf = join(dir, 'nats.conf');
  writeFileSync(conf, `${readFileSync(DEPLOY_NATS_CONF, 'utf8')}\n${o.extra ?? ''}\n`);
  const env: Record<string, string> = {
    NATS_DAEMON_PASSWORD: USERS.daemon.password,
    NATS_PRODUCER_PASSWORD: USERS.producer.password,
    NATS_NOTIFIER_PASSWORD: USERS.notifier.password,
    NATS_OPS_PASSWORD: USERS.ops.password,
    NATS_DEMO_PASSWORD: USERS.demo.password,
  };
  const proc: ChildProcess = spawn(NATS_SERVER, ['-c', conf, '-a', '127.0.0.1', '-p', String(port), '-js', '-sd', join(dir, 'js')], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr!.on('data', (d) => {
    stderr += String(d);
  });
  const url = `nats://127.0.0.1:${port}`;
  const secretEnv: Record<string, string> = Object.fromEntries(Object.entries(USERS).map(([role, u]) => [`PW_${role}`, u.password]));
  const natsConfig = (role: Role) => ({
    servers: [url],
    auth: { user: USERS[role].user, password: { env: `PW_${role}` } },
    inboxPrefix: USERS[role].inboxPrefix,
    ...(o.caFile ? { tls: { caFile: o.caFile } } : {}),
  });
  const connectAs = async (role: Role) => connect({ ...natsSecurityOptions(parseConfig({ nats: natsConfig(role) }).nats, { env: secretEnv }), servers: [url], reconnect: false });
  // Ready when it answers: "Server is ready" on stderr, or exit with its reason.
  await new Promise<void>((res, rej) => {
    const t = setTimeout(() => rej(new Error(`nats-server did not start: ${stderr}`)), 15_000);
    const check = () => {
      if (/Server is ready/.test(stderr)) {
        clearTimeout(t);
        res();
      }
    };
    proc.stderr!.on('data', check);
    proc.on('exit', (code) => {
      clearTimeout(t);
      rej(new Error(`nats-server exited ${code}: ${stderr}`));
    });
    check();
  });
  return {
    url,
    dir,
    env: secretEnv,
    natsConfig,
    connectAs,
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
      if (!o.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
