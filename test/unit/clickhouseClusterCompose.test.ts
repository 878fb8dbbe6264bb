import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig, parseConfig } from '../../src/config/load.js';

interface Service {
  profiles?: string[];
  hostname?: string;
  volumes?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, unknown>;
}
const root = resolve(import.meta.dirname, '../..');
const compose = parse(readFileSync(resolve(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service> };
const xml = (name: string) => readFileSync(resolve(root, 'deploy/clickhouse/cluster', name), 'utf8');
const tags = (text: string, tag: string) => [...text.matchAll(new RegExp(`<${tag}>([^<]*)</${tag}>`, 'g'))].map((m) => m[1]!);
const cluster = xml('cluster.xml');
const nodes = ['clickhouse-1', 'clickhouse-2'];

describe('the clickhouse-cluster compose profile', () => {
  it('adds Keeper and two ClickHouse nodes only under its profile', () => {
    for (const name of ['clickhouse-keeper', ...nodes]) expect(compose.services[name]?.profiles, name).toEqual(['clickhouse-cluster']);
    for (const [name, s] of Object.entries(compose.services)) if (!name.startsWith('clickhouse-')) expect(s.profiles ?? [], name).not.toContain('clickhouse-cluster');
  });

  it('defines recon_cluster as one shard whose replicas are the two nodes, replicated internally', () => {
    expect(cluster).toMatch(/<remote_servers>\s*<recon_cluster>\s*<shard>\s*<internal_replication>true<\/internal_replication>/);
    expect(tags(cluster, 'host')).toEqual(['clickhouse-keeper', ...nodes]);
    expect(tags(xml('keeper.xml'), 'hostname')).toEqual(['clickhouse-keeper']);
    expect(compose.services['clickhouse-keeper']!.volumes).toContain('./deploy/clickhouse/cluster/keeper.xml:/etc/clickhouse-keeper/keeper_config.xml:ro');
  });

  it('gives each node the shared cluster config, its own macros and a replica name equal to its host', () => {
    const replicas = new Set<string>();
    for (const n of nodes) {
      const s = compose.services[n]!;
      expect(s.hostname).toBe(n);
      expect(s.volumes).toEqual(
        expect.arrayContaining([
          `./deploy/clickhouse/cluster/cluster.xml:/etc/clickhouse-server/config.d/cluster.xml:ro`,
          `./deploy/clickhouse/cluster/${n}.xml:/etc/clickhouse-server/config.d/node.xml:ro`,
        ]),
      );
      expect(Object.keys(s.depends_on ?? {})).toContain('clickhouse-keeper');
      const own = xml(`${n}.xml`);
      expect(tags(own, 'shard')).toEqual(['01']);
      expect(tags(own, 'replica')).toEqual([n]);
      expect(tags(own, 'interserver_http_host')).toEqual([n]);
      replicas.add(tags(own, 'replica')[0]!);
    }
    expect(replicas.size).toBe(nodes.length);
  });

  it('runs the daemon single-node unless CLICKHOUSE_CLUSTER names the cluster', () => {
    const env = compose.services.recon!.environment!;
    // biome-ignore lint/suspicious/noTemplateCurlyInString: compose interpolation syntax
    expect(env.CLICKHOUSE_CLUSTER).toBe('${CLICKHOUSE_CLUSTER:-}');
    expect(loadConfig({ CLICKHOUSE_URL: 'http://clickhouse:8123', CLICKHOUSE_CLUSTER: '' }).clickhouse.cluster).toBeUndefined();
    const config = loadConfig({ CLICKHOUSE_URL: 'http://clickhouse-1:8123', CLICKHOUSE_CLUSTER: 'recon_cluster' });
    // The default Keeper path uses only macros the nodes define ({shard}) or the server fills in.
    expect(config.clickhouse.cluster).toEqual(parseConfig({ clickhouse: { url: 'http://clickhouse-1:8123', cluster: { name: 'recon_cluster' } } }).clickhouse.cluster);
    expect(config.clickhouse.cluster!.replicaPath.match(/\{(\w+)\}/g)).toEqual(['{shard}', '{database}', '{table}']);
    expect(cluster).toContain(`<${config.clickhouse.cluster!.name}>`);
  });
});
