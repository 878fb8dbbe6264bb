#!/usr/bin/env node
// npm run verify:runtime — does what the Dockerfile does, without Docker, and checks the result:
//   1. build stage: scripts/build.mjs compiles src/ to <app>/dist (tsc, Lua scripts copied);
//   2. runtime stage: <app> gets package.json, package-lock.json, config/, deploy/recon/ and the
//      production dependencies only, minus the devDependencies npm keeps as optional peers
//      (typescript, an optional peer of viem): by default hard links of the packages of
//      `npm ls --omit=dev` (offline, a second); with --npm-ci a real `npm ci --omit=dev` (network;
//      the @chdb native library is ~0.5 GB);
//   3. asserts no devDependency is there, and runs `node dist/cli/recon.js check-config` on the
//      example configuration with secrets in the environment (exit 0, secrets redacted) and
//      `node dist/cli/recon.js migrate` against embedded chdb (exit 0).
// Exit code 0 when all holds. Usage: node scripts/verifyRuntimeBuild.mjs [--npm-ci] [--keep]
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = new Set(process.argv.slice(2));
const started = Date.now();
const step = (what) => console.error(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${what}`);
const fail = (why) => {
  console.error(`verify:runtime: FAILED: ${why}`);
  process.exitCode = 1;
};

// Under the repository (same file system as node_modules: hard links), ignored by git (.data/).
mkdirSync(join(root, '.data'), { recursive: true });
const app = mkdtempSync(join(root, '.data', 'runtime-'));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const devNames = Object.keys(pkg.devDependencies ?? {});

try {
  step(`build stage: node scripts/build.mjs ${relative(root, join(app, 'dist'))}`);
  execFileSync(process.execPath, [join(root, 'scripts/build.mjs'), join(app, 'dist')], { stdio: 'inherit', cwd: root });

  step('runtime stage: package files, config, production dependencies');
  for (const f of ['package.json', 'package-lock.json']) cpSync(join(root, f), join(app, f));
  cpSync(join(root, 'config'), join(app, 'config'), { recursive: true });
  cpSync(join(root, 'deploy/recon'), join(app, 'deploy/recon'), { recursive: true });
  if (args.has('--npm-ci')) {
    execFileSync('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund'], { stdio: 'inherit', cwd: app });
  } else {
    const dirs = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: root, encoding: 'utf8' })
      .split('\n')
      .filter((d) => d.startsWith(`${join(root, 'node_modules')}/`));
    const link = (from, to) => {
      const s = statSync(from);
      if (s.isDirectory()) {
        mkdirSync(to, { recursive: true });
        for (const e of readdirSync(from)) link(join(from, e), join(to, e));
      } else if (!existsSync(to)) linkSync(from, to);
    };
    for (const d of dirs) link(d, join(app, relative(root, d)));
  }
  // The Dockerfile's own line: devDependencies npm installs as optional peers are removed.
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const prune = /node -e "(for \(const n of Object\.keys\(require\('\.\/package\.json'\)\.devDependencies[^"]+)"/.exec(dockerfile);
  if (!prune) fail('Dockerfile: the devDependency prune line is not where this script expects it');
  else execFileSync(process.execPath, ['-e', prune[1]], { cwd: app, stdio: 'inherit' });
  for (const bin of ['tsc', 'tsserver']) rmSync(join(app, 'node_modules/.bin', bin), { force: true });

  const present = devNames.filter((n) => existsSync(join(app, 'node_modules', n)));
  if (present.length) fail(`devDependencies in the runtime tree: ${present.join(', ')}`);
  for (const lua of ['state/lua/matchOrPark.lua', 'state/lua/lib.lua', 'aml/lua/amlApply.lua']) if (!existsSync(join(app, 'dist', lua))) fail(`dist/${lua} missing`);

  step('node dist/cli/recon.js check-config (example config, secrets in the environment)');
  const secrets = { token: 'natsTokenInUrl42', redis: 'redisPassInUrl42', ch: 'clickhousePw42' };
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    RECON_CONFIG: join(app, 'config/recon.example.yaml'),
    NATS_URL: `nats://${secrets.token}@nats:4222`,
    REDIS_URL: `redis://default:${secrets.redis}@redis:6379`,
    CLICKHOUSE_PASSWORD: secrets.ch,
    NATS_USER: 'recon-daemon',
    NATS_PASSWORD: 'natsUserPw42',
    CHDB_PATH: join(app, 'chdb'),
  };
  const check = spawnSync(process.execPath, ['dist/cli/recon.js', 'check-config'], { cwd: app, env, encoding: 'utf8' });
  if (check.status !== 0) fail(`check-config exited ${check.status}: ${check.stderr}`);
  else {
    for (const s of [...Object.values(secrets), 'natsUserPw42']) if (check.stdout.includes(s)) fail(`check-config printed the secret ${s}`);
    if (!check.stdout.includes('nats://***@nats:4222')) fail('check-config did not print the redacted NATS URL');
  }

  step('node dist/cli/demo.js --help (the generator service)');
  const demo = spawnSync(process.execPath, ['dist/cli/demo.js', '--help'], { cwd: app, env, encoding: 'utf8' });
  if (demo.status !== 0) fail(`demo --help exited ${demo.status}: ${demo.stderr}`);

  step('node dist/cli/recon.js migrate (embedded chdb)');
  const migrate = spawnSync(process.execPath, ['dist/cli/recon.js', 'migrate'], { cwd: app, env: { ...env, LOG_LEVEL: 'warn' }, encoding: 'utf8' });
  if (migrate.status !== 0) fail(`migrate exited ${migrate.status}: ${migrate.stderr}`);

  const size = execFileSync('du', ['-sh', join(app, 'node_modules')], { encoding: 'utf8' }).split('\t')[0];
  step(
    `${process.exitCode ? 'FAILED' : 'ok'}: runtime node_modules ${size} (${readdirSync(join(app, 'node_modules')).length} top-level entries), no devDependency, check-config and migrate run from dist/`,
  );
  writeFileSync(join(app, 'VERIFIED'), new Date().toISOString());
} finally {
  if (!args.has('--keep')) rmSync(app, { recursive: true, force: true });
  else console.error(`kept ${app}`);
}
