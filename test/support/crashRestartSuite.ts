import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { headers as natsHeaders } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Redis } from 'ioredis';
import type { Address } from 'viem';
import { parseConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { createClickHouse } from '../../src/sinks/clickhouse/createClickHouse.js';
import { countFacts } from '../../src/sinks/clickhouse/queries.js';
import { depositTokenAbi } from '../../src/devchain/depositTokenArtifact.js';
import { ensureConsumers, ensureStreams } from '../../src/streams/jetstreamSetup.js';
import { createLedgerCodec } from '../../src/streams/ledgerCodec.js';
import { deployDepositToken, startAnvil, type AnvilNode } from './anvil.js';
import { spawnDaemon, writeConfig, type DaemonProcess } from './daemonProcess.js';
import { isolatedNames, randomWallet, testSink } from './harness.js';

const ROUNDS = 8;
const PER_ROUND = 40;

/**
 * The real daemon process is SIGKILLed twice in the middle of a stream of deposits and restarted;
 * afterwards ClickHouse holds every fact exactly once (counted raw and with FINAL) and nothing is
 * left unacked.
 */
/** The suite, with facts made durable by `mode` (one test file per mode: one chdb data dir per process). */
export function crashRestartSuite(mode: 'direct' | 'log'): void {
  describe(`crash and restart, sink.mode ${mode}`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'recon-crash-'));
    let anvil: AnvilNode | undefined;
    let daemon: DaemonProcess | undefined;
    const names = isolatedNames();

    afterAll(async () => {
      if (daemon) await daemon.kill('SIGKILL').catch(() => undefined);
      await anvil?.stop();
      const nc = await connect({});
      const jsm = await jetstreamManager(nc);
      for (const s of [...Object.values(names.nats), `FACTS_${names.namespace}`].filter((v) => typeof v === 'string' && /^[A-Z]+_/.test(v))) {
        await jsm.streams.delete(s as string).catch(() => undefined);
      }
      await nc.close();
      const r = new Redis();
      const keys = await r.keys(`${names.namespace}:*`);
      if (keys.length) await r.del(...keys);
      await r.quit();
      rmSync(dir, { recursive: true, force: true });
    });

    it('stores every fact exactly once after SIGKILLs mid-stream and leaves nothing unacked', async () => {
      anvil = await startAnvil();
      const token = await deployDepositToken(anvil, { name: 'USD Deposit Token', symbol: 'USDd', decimals: 18 });
      const N = ROUNDS * PER_ROUND;
      const wallets: Address[] = Array.from({ length: N }, () => randomWallet());
      const input: ConfigInput = {
        namespace: names.namespace,
        nats: { ...names.nats, ackWaitMs: 5_000 },
        clickhouse: { dataDir: join(dir, 'chdb'), database: 'recon' },
        // Long windows: this test is about exactly-once, not about expiry.
        matching: { windowMs: 3_600_000, allowedLatenessMs: 60_000, ledgerIdleMs: 3_600_000 },
        balances: { intervalMs: 3_600_000, onChangeDebounceMs: 3_600_000 },
        sink: testSink(names, { maxBatchRows: 25, maxBatchDelayMs: 20 }, mode),
        chains: [{ chainId: anvil.chainId, rpcUrls: [anvil.rpcUrl], confirmations: 0, pollIntervalMs: 100, maxBlockRange: 20 }],
        tokens: [{ chainId: anvil.chainId, address: token, currency: 'USD' }],
        accounts: wallets.map((w, i) => ({ accountId: `ACC-${i}`, wallets: [w] })),
        http: { port: 0 },
      };
      const config = parseConfig(input);
      const file = writeConfig(dir, input);

      const nc = await connect({});
      const js = jetstream(nc);
      const jsm = await jetstreamManager(nc);
      await ensureStreams(jsm, config);
      await ensureConsumers(jsm, config);
      const codec = createLedgerCodec();
      const subject = names.ledgerSubject;

      daemon = spawnDaemon(file);
      let kills = 0;
      const inFlightAtKill: number[] = [];
      const mintHashes: `0x${string}`[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        for (let j = 0; j < PER_ROUND; j++) {
          const i = round * PER_ROUND + j;
          const now = Date.now();
          const { bytes, headers } = codec.encode({
            entryId: `E-${i}`,
            accountId: `ACC-${i}`,
            direction: 'credit',
            amountMinor: BigInt(1_000 + i),
            currency: 'USD',
            bookingTime: now,
            valueTime: now,
            status: 'booked',
            txType: 'deposit',
            endToEndId: null,
            remittance: null,
            tokenizationRef: null,
          });
          const h = natsHeaders();
          for (const [k, v] of Object.entries(headers)) h.set(k, v);
          await js.publish(subject, bytes, { headers: h, msgID: `E-${i}` });
          // One sender: anvil assigns nonces, so transactions go one after another (automine).
          mintHashes.push(
            await anvil.walletClient.writeContract({
              address: token,
              abi: depositTokenAbi,
              functionName: 'mint',
              args: [wallets[i]!, BigInt(1_000 + i) * 10n ** 16n],
            }),
          );
        }
        if (round === 2 || round === 5) {
          // Kill while the daemon holds unacked work, so the crash lands mid-stream.
          const until = Date.now() + 20_000;
          let inFlight = 0;
          while (Date.now() < until) {
            const l = await jsm.consumers.info(config.nats.ledgerStream, config.nats.consumerName);
            const c = await jsm.consumers.info(config.nats.chainStream, config.nats.consumerName);
            inFlight = l.num_ack_pending + c.num_ack_pending;
            if (inFlight > 0) break;
            await new Promise((r) => setTimeout(r, 2));
          }
          expect(await daemon.kill('SIGKILL')).toBe('SIGKILL');
          inFlightAtKill.push(inFlight);
          kills++;
          daemon = spawnDaemon(file);
        }
      }
      expect(kills).toBe(2);
      expect(Math.max(...inFlightAtKill), 'a kill landed while messages were unacked').toBeGreaterThan(0);

      // Wait until every chain event is published and both consumers are drained. The ingester
      // publishes one message per block, and anvil may mine two of the mints in one block.
      const blocks = new Set((await Promise.all(mintHashes.map((hash) => anvil!.publicClient.waitForTransactionReceipt({ hash, pollingInterval: 50 })))).map((r) => r.blockNumber)).size;
      const deadline = Date.now() + 90_000;
      for (;;) {
        const chain = await jsm.streams.info(config.nats.chainStream, { subjects_filter: '>' });
        const events = chain.state.subjects?.[`${names.nats.chainSubjectPrefix}.${anvil.chainId}.events`] ?? 0;
        const l = await jsm.consumers.info(config.nats.ledgerStream, config.nats.consumerName);
        const c = await jsm.consumers.info(config.nats.chainStream, config.nats.consumerName);
        // With the fact log, a fact is in ClickHouse once the loader has acked its log message too.
        const f = config.sink.mode === 'log' ? await jsm.consumers.info(config.sink.log.stream, config.sink.log.consumerName) : { num_pending: 0, num_ack_pending: 0 };
        if (events === blocks && l.num_pending + l.num_ack_pending + c.num_pending + c.num_ack_pending + f.num_pending + f.num_ack_pending === 0) break;
        if (Date.now() > deadline)
          throw new Error(
            `not drained: ${events}/${blocks} blocks of events, ledger ${l.num_pending}/${l.num_ack_pending}, chain ${c.num_pending}/${c.num_ack_pending}\n${daemon.output().slice(-3000)}`,
          );
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(await daemon.kill('SIGTERM'), daemon.output().slice(-2000)).toBe(0);
      daemon = undefined;
      await nc.close();

      const ch = createClickHouse(config.clickhouse);
      try {
        for (const [table, expected] of [
          ['ledger_entries', N],
          ['chain_events', N],
          ['matches', N],
          ['discrepancy_events', 0],
          ['dead_letters', 0],
        ] as const) {
          expect(await countFacts(ch, 'recon', table, { final: false }), `${table} raw`).toBe(expected);
          expect(await countFacts(ch, 'recon', table, { final: true }), `${table} FINAL`).toBe(expected);
        }
      } finally {
        await ch.close();
      }
      console.info(`crash test (${mode}): ${N} deposits, 2 SIGKILLs with ${inFlightAtKill.join(' and ')} messages unacked at the kill`);
    }, 180_000);
  });
}
