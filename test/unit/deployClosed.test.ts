import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const root = resolve(import.meta.dirname, '../..');
const composeText = readFileSync(resolve(root, 'docker-compose.yml'), 'utf8');
const compose = parse(composeText) as { services: Record<string, { ports?: string[]; environment?: Record<string, string>; image?: string }> };
const natsConf = readFileSync(resolve(root, 'deploy/nats/nats.conf'), 'utf8');

describe('docker-compose and nats.conf are closed by default', () => {
  it('publishes every port on 127.0.0.1 only', () => {
    const ports = Object.entries(compose.services).flatMap(([name, s]) => (s.ports ?? []).map((p) => `${name} ${p}`));
    expect(ports.length).toBeGreaterThan(5);
    for (const p of ports) expect(p).toMatch(/^\S+ 127\.0\.0\.1:\d+:\d+$/);
  });

  // biome-ignore lint/suspicious/noTemplateCurlyInString: the title quotes compose's ${VAR:?…} syntax
  it('requires every password (${VAR:?…}), with no default, and scripts/compose-secrets.sh provides each', () => {
    const required = new Set([...composeText.matchAll(/\$\{([A-Z_]+):\?/g)].map((m) => m[1]!));
    expect([...composeText.matchAll(/\$\{([A-Z_]*PASSWORD[A-Z_]*):-/g)].map((m) => m[1])).toEqual([]);
    for (const v of natsConf.matchAll(/\$(NATS_[A-Z_]+_PASSWORD)/g)) {
      expect(required, v[1]).toContain(v[1]);
      expect(compose.services.nats!.environment![v[1]!], v[1]).toMatch(/^\$\{[A-Z_]+:\?/);
    }
    const generated = execFileSync('sh', [resolve(root, 'scripts/compose-secrets.sh')], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((l) => l.split('='));
    expect(new Set(generated.map(([k]) => k))).toEqual(required);
    for (const [, v] of generated) expect(v!.length).toBeGreaterThanOrEqual(20);
  });

  it('lets no user in anonymously and gives every user of the engine an allow-list', () => {
    expect(natsConf).not.toMatch(/no_auth_user/);
    const users = [...natsConf.matchAll(/\{ user: ([\w-]+), password: \$\w+(?:, permissions: \$(\w+))? \}/g)];
    expect(users.map((u) => u[1])).toEqual(['recon-daemon', 'core-banking', 'recon-notifier', 'recon-ops', 'recon-demo']);
    // Only the demo, alone in its own account, has no permission block.
    expect(users.filter((u) => !u[2]).map((u) => u[1])).toEqual(['recon-demo']);
  });
});
