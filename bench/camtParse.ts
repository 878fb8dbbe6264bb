/**
 * `npm run bench:camt`: ISO 20022 camt.053 ingestion of a large statement. Writes a camt.053 of N
 * entries (default 100,000) to a temp file with the generator's camt writer, then measures, in
 * this one run and on the same file:
 *
 * - the ceiling: the bare saxes parse rate (every event, nothing built: what the XML library costs);
 * - the alternative the choice was made against: a DOM parser (@xmldom/xmldom) reading the whole
 *   file into a tree, then counting its entries (its rate and what holding the tree costs in RSS);
 * - the reader (src/iso20022/camtReader.ts: bounded element trees, events);
 * - the reader plus mapping to postings (camtWalk);
 * - ingestion (camtIngest: validating pass that spools the encoded postings, then publishing pass
 *   with every posting acked by a real JetStream on 127.0.0.1:4222, stream of its own, deleted after);
 * - the other ceiling: bare JetStream publishing of the same message, same in-flight bound.
 *
 * Each line gives entries per second and the process's peak RSS during the phase beside the RSS
 * before it. Options: --entries N (default 100000).
 */
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { readFileSync } from 'node:fs';
import { DOMParser } from '@xmldom/xmldom';
import { SaxesParser } from 'saxes';
import { parseConfig } from '../src/config/load.js';
import { writeCamt } from '../src/generator/camtWriter.js';
import { camtMappingOptions } from '../src/iso20022/camtConfig.js';
import { ingestCamt } from '../src/iso20022/camtIngest.js';
import { readCamt } from '../src/iso20022/camtReader.js';
import { walkCamt } from '../src/iso20022/camtWalk.js';
import type { LedgerPosting } from '../src/streams/ledgerCodec.js';
import { ensureStreams } from '../src/streams/jetstreamSetup.js';

const { values: argv } = parseArgs({ options: { entries: { type: 'string', default: '100000' } } });
const N = Number(argv.entries);
const T0 = Date.UTC(2026, 10, 2);

async function measured<T>(f: () => Promise<T>): Promise<{ result: T; seconds: number; peakRss: number; rssBefore: number }> {
  global.gc?.();
  const rssBefore = process.memoryUsage.rss();
  let peakRss = rssBefore;
  const timer = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, 20);
  const t0 = performance.now();
  try {
    const result = await f();
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
    return { result, seconds: (performance.now() - t0) / 1_000, peakRss, rssBefore };
  } finally {
    clearInterval(timer);
  }
}
const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
const open = (path: string) => createReadStream(path, { highWaterMark: 256 * 1024 });

function* postings(): Generator<LedgerPosting> {
  for (let i = 0; i < N; i++) {
    const credit = i % 3 !== 0;
    yield {
      entryId: `BNK-${String(i).padStart(9, '0')}`,
      accountId: 'ACC-BENCH',
      direction: credit ? 'credit' : 'debit',
      amountMinor: BigInt(100 + ((i * 7_919) % 1_000_000)),
      currency: 'EUR',
      bookingTime: T0 + i * 500,
      valueTime: T0 + i * 500,
      status: 'booked',
      txType: credit ? 'deposit' : 'withdrawal',
      endToEndId: `E2E-${i}`,
      remittance: `Invoice ${i} payment`,
      tokenizationRef: i % 2 === 0 ? `TOK-${i}` : null,
    };
  }
}

const dir = mkdtempSync(join(tmpdir(), 'recon-bench-camt-'));
const file = join(dir, 'statement.camt053.xml');
const id = Math.random().toString(36).slice(2, 8);
const config = parseConfig({
  namespace: `bench${id}`,
  nats: {
    ledgerStream: `LEDGER_BENCH_${id}`,
    ledgerSubjects: [`ledger_bench_${id}.>`],
    deadLetterStream: `DL_BENCH_${id}`,
    deadLetterSubjectPrefix: `dl_bench_${id}`,
    chainStream: `CHAIN_BENCH_${id}`,
    chainSubjectPrefix: `chain_bench_${id}`,
    mappingStream: `MAP_BENCH_${id}`,
    mappingSubject: `map_bench_${id}.accounts`,
  },
  camt: { ledgerSubject: `ledger_bench_${id}.camt`, acceptUnlistedAccounts: true },
});
const nc = await connect({ servers: config.nats.servers, noAsyncTraces: true });
const jsm = await jetstreamManager(nc);
try {
  {
    const out = createWriteStream(file);
    for (const chunk of writeCamt(postings(), {
      family: 'camt.053',
      messageId: 'BENCH-1',
      account: 'ACC-BENCH',
      currency: 'EUR',
      openingMinor: 0n,
      electronicSeq: 1n,
      createdAt: T0 + N * 500 + 60_000,
    })) {
      if (!out.write(chunk)) await once(out, 'drain');
    }
    out.end();
    await once(out, 'finish');
  }
  const size = statSync(file).size;
  console.log(`camt.053 of ${N.toLocaleString('en-US')} entries: ${mib(size)} (${file})`);
  const line = (what: string, m: { seconds: number; peakRss: number; rssBefore: number }) =>
    console.log(
      `${what.padEnd(52)} ${Math.round(N / m.seconds)
        .toLocaleString('en-US')
        .padStart(10)} entries/s  ${m.seconds.toFixed(2).padStart(6)} s  peak RSS ${mib(m.peakRss)} (before ${mib(m.rssBefore)})`,
    );

  const bare = await measured(async () => {
    const p = new SaxesParser({ xmlns: true });
    let entries = 0;
    p.on('closetag', (t) => {
      if (t.local === 'Ntry') entries++;
    });
    p.on('text', () => undefined);
    const decoder = new TextDecoder();
    for await (const chunk of open(file)) p.write(decoder.decode(chunk as Buffer, { stream: true }));
    p.close();
    return entries;
  });
  if (bare.result !== N) throw new Error(`bare parse counted ${bare.result} entries`);
  line('ceiling: bare saxes parse (xmlns, text)', bare);

  const reader = await measured(async () => {
    let entries = 0;
    for await (const e of readCamt(open(file))) if (e.t === 'entry') entries++;
    return entries;
  });
  line('camtReader (element trees, events)', reader);

  const walk = await measured(async () => {
    let n = 0;
    for await (const it of walkCamt(open(file), { name: file, mapping: camtMappingOptions(config.camt), resolveAccount: (a) => a })) if (it.t === 'posting') n++;
    return n;
  });
  line('reader + mapping to postings', walk);

  await ensureStreams(jsm, config);
  const js = jetstream(nc);
  const ingest = await measured(() => ingestCamt({ name: file, size, open: () => open(file) }, { js, config }));
  if (!ingest.result.ok || ingest.result.published !== N) throw new Error(`ingest: ${JSON.stringify(ingest.result, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}`);
  line('ingest: validate whole, then publish (acked)', ingest);
  // The other ceiling: publishing alone, same count, same message size and headers, same in-flight bound.
  const sample = (await jsm.streams.getMessage(config.nats.ledgerStream, { last_by_subj: config.camt.ledgerSubject }))!;
  const publishOnly = await measured(async () => {
    let inflight = 0;
    let wake: (() => void) | undefined;
    const done = () => {
      inflight--;
      const w = wake;
      wake = undefined;
      w?.();
    };
    for (let i = 0; i < N; i++) {
      inflight++;
      js.publish(`${config.camt.ledgerSubject}.ceiling`, sample.data, { msgID: `ceiling-${i}`, headers: sample.header }).then(done, done);
      while (inflight >= 512) await new Promise<void>((r) => (wake = r));
    }
    while (inflight > 0) await new Promise<void>((r) => (wake = r));
  });
  line(`ceiling: bare JetStream publish (${sample.data.byteLength} B, acked)`, publishOnly);
  console.log(`ingest / ceiling: ${((bare.seconds / ingest.seconds) * 100).toFixed(1)} % of the bare parse rate (ingest maps, encodes, decodes, spools and publishes each posting)`);

  // The road not taken, last (the tree's memory stays with the process): the whole document as a
  // DOM tree, what most camt parsers do.
  try {
    const dom = await measured(async () => {
      const doc = new DOMParser().parseFromString(readFileSync(file, 'utf8'), 'text/xml');
      return doc.getElementsByTagNameNS('*', 'Ntry').length;
    });
    if (dom.result !== N) throw new Error(`DOM parse counted ${dom.result} entries`);
    line('alternative: DOM parse, whole file (@xmldom/xmldom)', dom);
  } catch (e) {
    console.log(`alternative: DOM parse, whole file (@xmldom/xmldom): failed: ${e instanceof Error ? e.message : String(e)}`);
  }
} finally {
  for (const s of [config.nats.ledgerStream, config.nats.deadLetterStream, config.nats.chainStream, config.nats.mappingStream]) await jsm.streams.delete(s).catch(() => undefined);
  await nc.close();
  rmSync(dir, { recursive: true, force: true });
}
