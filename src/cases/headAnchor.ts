import { createPublicClient, createWalletClient, fromHex, http, toHex, type Hash, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';

/** An audit head as exported: every record up to `seq` is covered by `hash`. */
export interface ExportedHead {
  seq: number;
  hash: string;
  /** ISO time of the export. */
  at: string;
  /** Where the head was also written on chain, when anchoring is configured. */
  anchor?: { chainId: number; txHash: string; blockNumber: number };
}

const PREFIX = 'recon-audit-head:';

/**
 * The calldata that anchors a head on chain: `recon-audit-head:<seq>:<hash>` as UTF-8, readable
 * in any block explorer, in a zero-value transaction from the anchoring account to itself.
 */
export function anchorData(head: { seq: number; hash: string }): Hex {
  return toHex(`${PREFIX}${head.seq}:${head.hash}`);
}

/** The head a transaction's calldata anchors, or null when it is not an anchor. */
export function parseAnchorData(data: Hex): { seq: number; hash: string } | null {
  let text: string;
  try {
    text = fromHex(data, 'string');
  } catch {
    return null;
  }
  const m = /^recon-audit-head:([1-9]\d{0,15}):([0-9a-f]{64})$/.exec(text);
  return m ? { seq: Number(m[1]), hash: m[2]! } : null;
}

export type AnchorHead = (head: { seq: number; hash: string }) => Promise<NonNullable<ExportedHead['anchor']>>;

/**
 * Anchors heads on an EVM chain with the given key: sends the transaction and waits for its
 * receipt (a reverted or dropped anchor is an error, the export is tried again next time).
 */
export function chainAnchor(o: { rpcUrl: string; chainId: number; privateKey: Hex; timeoutMs?: number }): AnchorHead {
  const account = privateKeyToAccount(o.privateKey);
  const transport = http(o.rpcUrl, { retryCount: 1 });
  const wallet = createWalletClient({ account, transport });
  const client = createPublicClient({ transport });
  return async (head) => {
    const chainId = await client.getChainId();
    if (chainId !== o.chainId) throw new Error(`audit anchor: ${o.rpcUrl} serves chain ${chainId}, configured ${o.chainId}`);
    const txHash: Hash = await wallet.sendTransaction({ chain: null, to: account.address, value: 0n, data: anchorData(head) });
    const receipt = await client.waitForTransactionReceipt({ hash: txHash, timeout: o.timeoutMs ?? 60_000, pollingInterval: 250 });
    if (receipt.status !== 'success') throw new Error(`audit anchor ${txHash} reverted`);
    return { chainId, txHash, blockNumber: Number(receipt.blockNumber) };
  };
}

/** Why an exported head's anchor does not hold, or null when it does. */
export async function checkAnchor(head: ExportedHead, getInput: (chainId: number, txHash: Hash) => Promise<Hex | null>): Promise<string | null> {
  if (!head.anchor) return null;
  const input = await getInput(head.anchor.chainId, head.anchor.txHash as Hash);
  if (input === null) return `anchor ${head.anchor.txHash} of record ${head.seq} is not on chain ${head.anchor.chainId}`;
  const onChain = parseAnchorData(input);
  if (!onChain) return `transaction ${head.anchor.txHash} does not anchor an audit head`;
  if (onChain.seq !== head.seq || onChain.hash !== head.hash) return `record ${head.seq}: the exported head differs from the one anchored on chain (${onChain.seq}:${onChain.hash})`;
  return null;
}
