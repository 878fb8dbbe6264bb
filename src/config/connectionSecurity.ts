import type { RedisOptions } from 'ioredis';
import { credsAuthenticator, nkeyAuthenticator, type Authenticator, type ConnectionOptions } from '@nats-io/nats-core';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { secretRefSchema } from '../alerts/alertsConfig.js';
import { ConfigError } from '../lib/errors.js';
import { redactUrl, registerSecret } from '../lib/redact.js';
import { redactSecretRef, resolveSecret, type SecretSources } from './secrets.js';

/**
 * How a client proves who it is to NATS (deploy/nats/nats.conf defines the users): one of
 * user + password, a token, a `.creds` file (JWT + nkey seed, decentralised auth) or an nkey seed
 * file. Secrets are references (`{ env }`, `{ file }`) or inline values.
 */
export const natsAuthSchema = z
  .object({
    user: z.string().min(1).optional().describe('NATS user name (with `password`; `NATS_USER` overrides).'),
    password: secretRefSchema.optional().describe('Its password: inline, `{ env: NAME }` or `{ file: PATH }` (`NATS_PASSWORD[_FILE]`).'),
    token: secretRefSchema.optional().describe('A token instead of user/password: inline, `{ env }` or `{ file }` (`NATS_TOKEN[_FILE]`).'),
    /** A NATS credentials file (`nsc generate creds`). */
    credsFile: z.string().min(1).optional().describe('A NATS `.creds` file (JWT + nkey seed, `nsc generate creds`; `NATS_CREDS`).'),
    /** A file holding an nkey seed (`SU…`). */
    nkeySeedFile: z.string().min(1).optional().describe('A file holding an nkey seed (`SU…`).'),
  })
  .strict()
  .superRefine((a, ctx) => {
    const kinds = [a.user !== undefined || a.password !== undefined, a.token !== undefined, a.credsFile !== undefined, a.nkeySeedFile !== undefined].filter(Boolean).length;
    if (kinds > 1) ctx.addIssue({ code: 'custom', message: 'use one of user/password, token, credsFile or nkeySeedFile' });
    if ((a.user === undefined) !== (a.password === undefined)) ctx.addIssue({ code: 'custom', path: [a.user === undefined ? 'user' : 'password'], message: 'user and password go together' });
  });

/** TLS to NATS: a CA to verify the server, a client certificate and key for mutual TLS. */
export const natsTlsSchema = z
  .object({
    caFile: z.string().min(1).optional().describe("PEM file of the CA that signed the servers' certificates."),
    certFile: z.string().min(1).optional().describe('Client certificate (PEM) for mutual TLS, with `keyFile`.'),
    keyFile: z.string().min(1).optional().describe('Its private key (PEM).'),
    /** TLS before the NATS INFO line (server `tls { handshake_first: true }`). */
    handshakeFirst: z.boolean().default(false).describe('TLS before the NATS INFO line (server `tls { handshake_first: true }`).'),
  })
  .strict()
  .refine((t) => (t.certFile === undefined) === (t.keyFile === undefined), { message: 'certFile and keyFile go together' });

/** Redis credentials (ACL user or `requirepass`) and TLS; a `rediss://` URL turns TLS on too. */
export const redisSecuritySchema = {
  username: z.string().min(1).optional().describe('Redis ACL user (`REDIS_USERNAME` overrides).'),
  password: secretRefSchema.optional().describe('Redis password: inline, `{ env: NAME }` or `{ file: PATH }` (`REDIS_PASSWORD[_FILE]`).'),
  tls: z
    .object({
      caFile: z.string().min(1).optional().describe('PEM file of the CA that signed the Redis certificate.'),
      certFile: z.string().min(1).optional().describe('Client certificate (PEM) for mutual TLS, with `keyFile`.'),
      keyFile: z.string().min(1).optional().describe('Its private key (PEM).'),
      /** Server name to verify (default: the URL's host). */
      servername: z.string().min(1).optional().describe("Server name to verify (default: the URL's host)."),
    })
    .strict()
    .refine((t) => (t.certFile === undefined) === (t.keyFile === undefined), { message: 'certFile and keyFile go together' })
    .optional()
    .describe('TLS to Redis (also on for a `rediss://` URL).'),
};

export type NatsAuth = z.infer<typeof natsAuthSchema>;
export type NatsTls = z.infer<typeof natsTlsSchema>;
interface NatsSection {
  servers: string[];
  auth?: NatsAuth | undefined;
  tls?: NatsTls | undefined;
  inboxPrefix?: string | undefined;
}
export interface RedisSection {
  url: string;
  /** Redis Cluster seed nodes; empty: a single Redis at `url`. */
  clusterNodes?: readonly string[] | undefined;
  username?: string | undefined;
  password?: z.infer<typeof secretRefSchema> | undefined;
  tls?: { caFile?: string | undefined; certFile?: string | undefined; keyFile?: string | undefined; servername?: string | undefined } | undefined;
}

const readFile = (s: SecretSources, path: string, field: string): string => {
  try {
    return (s.readFile ?? ((p) => readFileSync(p, 'utf8')))(path);
  } catch (e) {
    throw new ConfigError(`invalid configuration: ${field}: cannot read ${path}`, { cause: e });
  }
};

/**
 * The security part of `connect()` options for @nats-io/transport-node: credentials resolved
 * (and registered for redaction), TLS files checked readable, the user's own reply inbox prefix. Spread it into every `connect({...})`
 * of the daemon, the notifier and the CLIs. Credentials embedded in a server URL keep working.
 */
export function natsSecurityOptions(nats: NatsSection, s: SecretSources = { env: process.env }): Partial<ConnectionOptions> {
  const out: Partial<ConnectionOptions> = nats.inboxPrefix ? { inboxPrefix: nats.inboxPrefix } : {};
  const a = nats.auth;
  if (a?.user !== undefined && a.password !== undefined) {
    out.user = a.user;
    out.pass = resolveSecret(a.password, 'nats.auth.password', s);
  } else if (a?.token !== undefined) {
    out.token = resolveSecret(a.token, 'nats.auth.token', s);
  } else if (a?.credsFile !== undefined) {
    const creds = readFile(s, a.credsFile, 'nats.auth.credsFile');
    // The JWT and the seed between the BEGIN/END lines (base64url: may contain '-').
    for (const m of creds.matchAll(/-{5,}BEGIN [^\n]*-{5,}\s*\n\s*(\S+)\s*\n\s*-{5,}END/g)) registerSecret(m[1]);
    out.authenticator = credsAuthenticator(new TextEncoder().encode(creds)) as Authenticator;
  } else if (a?.nkeySeedFile !== undefined) {
    const seed = readFile(s, a.nkeySeedFile, 'nats.auth.nkeySeedFile').trim();
    registerSecret(seed);
    out.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed)) as Authenticator;
  }
  const t = nats.tls;
  if (t) {
    for (const [k, f] of [
      ['caFile', t.caFile],
      ['certFile', t.certFile],
      ['keyFile', t.keyFile],
    ] as const)
      if (f) readFile(s, f, `nats.tls.${k}`);
    out.tls = {
      ...(t.caFile && { caFile: t.caFile }),
      ...(t.certFile && { certFile: t.certFile }),
      ...(t.keyFile && { keyFile: t.keyFile }),
      ...(t.handshakeFirst && { handshakeFirst: true }),
    };
  }
  for (const u of nats.servers) {
    const m = /^[a-z]+:\/\/([^@/]+)@/i.exec(u);
    if (m) registerSecret(m[1]!.includes(':') ? m[1]!.slice(m[1]!.indexOf(':') + 1) : m[1]);
  }
  return out;
}

/**
 * The ioredis options beside `redis.url`: username and password (resolved, registered for
 * redaction), TLS from `redis.tls` or a `rediss://` URL. src/state/redisClient.ts connects with them.
 */
export function redisSecurityOptions(redis: RedisSection, s: SecretSources = { env: process.env }): RedisOptions {
  const out: RedisOptions = {};
  if (redis.username) out.username = redis.username;
  if (redis.password !== undefined) out.password = resolveSecret(redis.password, 'redis.password', s);
  const m = /^rediss?:\/\/[^@/]*:([^@/]+)@/i.exec(redis.url);
  if (m) registerSecret(decodeURIComponent(m[1]!));
  const t = redis.tls;
  if (t || /^rediss:/i.test(redis.url)) {
    out.tls = {
      ...(t?.caFile && { ca: readFile(s, t.caFile, 'redis.tls.caFile') }),
      ...(t?.certFile && { cert: readFile(s, t.certFile, 'redis.tls.certFile') }),
      ...(t?.keyFile && { key: readFile(s, t.keyFile, 'redis.tls.keyFile') }),
      ...(t?.servername && { servername: t.servername }),
    };
  }
  return out;
}

/** The nats and redis sections as `check-config` prints them: URLs redacted, secret values `***`. */
export function redactConnectionSections<N extends NatsSection, R extends RedisSection>(nats: N, redis: R): { nats: N; redis: R } {
  return {
    nats: {
      ...nats,
      servers: nats.servers.map(redactUrl),
      ...(nats.auth && {
        auth: {
          ...nats.auth,
          ...(nats.auth.password !== undefined && { password: redactSecretRef(nats.auth.password) }),
          ...(nats.auth.token !== undefined && { token: redactSecretRef(nats.auth.token) }),
        },
      }),
    },
    redis: { ...redis, url: redactUrl(redis.url), ...(redis.password !== undefined && { password: redactSecretRef(redis.password) }) },
  };
}
