/**
 * A real anvil node for tests and the demo: spawns the binary shipped by @foundry-rs/anvil, waits
 * until it answers JSON-RPC, and drives it (deploy the deposit token, mint, burn, transfer, mine).
 * Anvil is killed on `stop()` and, as a last resort, when this process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import {
  createPublicClient,
  createTestClient,
  createWalletClient,
  defineChain,
  http,
  type Address,
  type Chain,
  type Hash,
  type PublicClient,
  type TestClient,
  type Transport,
  type WalletClient,
  type Account,
} from 'viem';
import { depositTokenAbi, depositTokenBytecode } from './depositTokenArtifact.js';

export interface StartAnvilOptions {
  /** TCP port; default a free one. */
  port?: number;
  /** Seconds between blocks; default automine (one block per transaction). */
  blockTime?: number;
  /** Default 31337. */
  chainId?: number;
}

export interface AnvilNode {
  rpcUrl: string;
  chainId: number;
  chain: Chain;
  /** Anvil's unlocked dev accounts; `accounts[0]` is the owner of deployed tokens. */
  accounts: Address[];
  publicClient: PublicClient<Transport, Chain>;
  /** Signs as `accounts[0]` (anvil signs for its unlocked accounts). */
  walletClient: WalletClient<Transport, Chain, Account>;
  testClient: TestClient<'anvil', Transport, Chain>;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: a signal is all we can send, and it is enough.
  process.on('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

/** Path of the anvil binary from the platform package, or null to fall back to `npx anvil`. */
export function resolveAnvilBinary(): string | null {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  const pkg = `@foundry-rs/anvil-${process.platform}-${arch}`;
  const exe = process.platform === 'win32' ? 'anvil.exe' : 'anvil';
  const require = createRequire(import.meta.url);
  try {
    const bin = join(dirname(require.resolve(`${pkg}/package.json`)), 'bin', exe);
    if (existsSync(bin)) return bin;
  } catch {
    // platform package not installed
  }
  return null;
}

/** A TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts anvil and resolves once it answers `eth_chainId`. */
export async function startAnvil(options: StartAnvilOptions = {}): Promise<AnvilNode> {
  const port = options.port ?? (await freePort());
  const chainId = options.chainId ?? 31337;
  const args = ['--host', '127.0.0.1', '--port', String(port), '--chain-id', String(chainId), '--quiet'];
  if (options.blockTime !== undefined) args.push('--block-time', String(options.blockTime));

  const bin = resolveAnvilBinary();
  const child = bin ? spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] }) : spawn('npx', ['--no-install', 'anvil', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  installExitHook();
  live.add(child);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4_000);
  });
  let exited = false;
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      live.delete(child);
      resolve();
    });
  });

  const stop = async (): Promise<void> => {
    if (exited) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
    await exitedPromise;
    clearTimeout(timer);
  };

  const rpcUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exited) throw new Error(`anvil exited before it answered on ${rpcUrl}: ${stderr.trim()}`);
    try {
      const res = await fetch(rpcUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
      });
      const body = (await res.json()) as { result?: string };
      if (body.result && Number(body.result) === chainId) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`anvil did not answer on ${rpcUrl} within 20s: ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  const chain = defineChain({
    id: chainId,
    name: `anvil-${chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
  const transport = http(rpcUrl, { retryCount: 0 });
  const publicClient = createPublicClient({ chain, transport, pollingInterval: 50 });
  const accounts = (await createWalletClient({ chain, transport }).getAddresses()).map((a) => a.toLowerCase() as Address);
  const owner = accounts[0];
  if (!owner) throw new Error('anvil returned no accounts');
  const walletClient = createWalletClient({ chain, transport, account: owner });
  const testClient = createTestClient({ chain, transport, mode: 'anvil' });

  return { rpcUrl, chainId, chain, accounts, publicClient, walletClient, testClient, stop };
}

async function confirm(node: AnvilNode, hash: Hash): Promise<void> {
  const receipt = await node.publicClient.waitForTransactionReceipt({ hash, pollingInterval: 50 });
  if (receipt.status !== 'success') throw new Error(`transaction ${hash} reverted`);
}

export interface DeployDepositTokenParameters {
  name: string;
  symbol: string;
  decimals: number;
}

/** Deploys DepositToken owned by `accounts[0]`; returns its lower-case address. */
export async function deployDepositToken(node: AnvilNode, p: DeployDepositTokenParameters): Promise<Address> {
  const hash = await node.walletClient.deployContract({
    abi: depositTokenAbi,
    bytecode: depositTokenBytecode,
    args: [p.name, p.symbol, p.decimals],
  });
  const receipt = await node.publicClient.waitForTransactionReceipt({ hash, pollingInterval: 50 });
  if (!receipt.contractAddress) throw new Error(`deployment ${hash} created no contract`);
  return receipt.contractAddress.toLowerCase() as Address;
}

/** Owner mints `amount` base units to `to`; resolves when mined. */
export async function mint(node: AnvilNode, token: Address, to: Address, amount: bigint): Promise<Hash> {
  const hash = await node.walletClient.writeContract({ address: token, abi: depositTokenAbi, functionName: 'mint', args: [to, amount] });
  await confirm(node, hash);
  return hash;
}

/** Owner mints with a bytes32 reference (emits Transfer and Minted). */
export async function mintWithReference(node: AnvilNode, token: Address, to: Address, amount: bigint, ref: `0x${string}`): Promise<Hash> {
  const hash = await node.walletClient.writeContract({
    address: token,
    abi: depositTokenAbi,
    functionName: 'mintWithReference',
    args: [to, amount, ref],
  });
  await confirm(node, hash);
  return hash;
}

/** Owner burns `amount` base units held by `from`. */
export async function burn(node: AnvilNode, token: Address, from: Address, amount: bigint): Promise<Hash> {
  const hash = await node.walletClient.writeContract({ address: token, abi: depositTokenAbi, functionName: 'burn', args: [from, amount] });
  await confirm(node, hash);
  return hash;
}

/** `accounts[fromAccountIndex]` transfers `amount` to `to`. */
export async function transfer(node: AnvilNode, token: Address, fromAccountIndex: number, to: Address, amount: bigint): Promise<Hash> {
  const from = node.accounts[fromAccountIndex];
  if (!from) throw new Error(`anvil has no account #${fromAccountIndex}`);
  const hash = await node.walletClient.writeContract({
    address: token,
    abi: depositTokenAbi,
    functionName: 'transfer',
    args: [to, amount],
    account: from,
  });
  await confirm(node, hash);
  return hash;
}

/** Mines `blocks` empty blocks (anvil_mine). */
export async function mine(node: AnvilNode, blocks: number): Promise<void> {
  await node.testClient.mine({ blocks });
}
