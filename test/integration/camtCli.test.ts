import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { camtMain } from '../../src/cli/camt.js';
import { parseConfig } from '../../src/config/load.js';
import { CAMT_DEAD_LETTER_SCHEMA } from '../../src/iso20022/statementMessage.js';
import type { Config } from '../../src/config/schema.js';
import { isolatedNames } from '../support/harness.js';
import { fixture } from '../unit/camtFixtures.js';

describe('recon camt ingest (real NATS and Redis)', () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let config: Config;
  const names = isolatedNames();

  beforeAll(async () => {
    nc = await connect({ servers: ['127.0.0.1:4222'] });
    jsm = await jetstreamManager(nc);
    config = parseConfig({ namespace: names.namespace, nats: names.nats, log: { level: 'silent' }, camt: { ledgerSubject: names.ledgerSubject, accounts: { NL26VAYB8060476890: 'ACC-NL' } } });
  });
  afterAll(async () => {
    for (const s of [names.nats.ledgerStream, names.nats.deadLetterStream, names.nats.chainStream, names.nats.mappingStream]) await jsm.streams.delete(s).catch(() => undefined);
    await nc.close();
  });

  it('ingests each file, prints one JSON line per file, and exits 1 when one was refused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'camt-cli-'));
    const good = join(dir, 'good.xml');
    const bad = join(dir, 'bad.xml');
    await writeFile(good, fixture('camt053.v2.multi.statement.xml'));
    await writeFile(bad, fixture('camt052.v2.xml'));
    const lines: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((l: string) => void lines.push(l));
    try {
      expect(await camtMain(['ingest', good, bad], config)).toBe(1);
    } finally {
      log.mockRestore();
    }
    const [g, b] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(g).toMatchObject({
      file: good,
      ok: true,
      postings: 2,
      published: 2,
      statements: [{ id: '253EURNL26VAYB8060476890', kind: 'camt.053.001.02', account: 'ACC-NL' }, { id: '254EURNL26VAYB8060476890' }],
    });
    expect(b).toMatchObject({ file: bad, ok: false, code: 'UNMAPPED_IDENTITY' });
    const info = await jsm.streams.info(names.nats.ledgerStream, { subjects_filter: '>' });
    expect(info.state.subjects?.[names.ledgerSubject]).toBe(2);
    // Two statements' records, and the refused file's dead-letter record for the workers.
    expect(info.state.subjects?.[`${names.ledgerSubject}.statement`]).toBe(3);
    const js = jetstream(nc);
    const last = await (await js.streams.get(names.nats.ledgerStream)).getMessage({ last_by_subj: `${names.ledgerSubject}.statement` });
    expect(last?.header.get('Recon-Schema')).toBe(CAMT_DEAD_LETTER_SCHEMA);
    expect(last?.json<{ code: string; source: string }>()).toMatchObject({ code: 'UNMAPPED_IDENTITY', source: bad });
  });

  it('answers usage errors with exit code 2', async () => {
    const err = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      expect(await camtMain(['ingest'], config)).toBe(2);
      expect(await camtMain(['watch'], config)).toBe(2);
      expect(await camtMain(['nonsense'], config)).toBe(2);
    } finally {
      err.mockRestore();
    }
  });
});
