/**
 * The IBM AMLSim labeled set (test/fixtures/amlsim) as chain transfers between customer wallets
 * (pure: the caller reads the files). Each AMLSim step is one day from 2017-01-01; the transfers
 * of a step are spread evenly over the day in file order. Every account has one wallet; each
 * transfer is a confirmed token transfer alone in its block, so its evidence id is
 * `chain:<chainId>:<blockHash>:0`.
 */
import type { ChainEvent } from '../../domain/types.js';
import { parseDecimalToMinor } from '../../domain/money.js';

const DAY = 86_400_000;
export const AMLSIM_START = Date.UTC(2017, 0, 1);
export const AMLSIM_CHAIN_ID = 31_337;
export const AMLSIM_TOKEN = '0x00000000000000000000000000000000000e0e0e';
export const AMLSIM_CURRENCY = 'EUR';

export interface AmlSimInstance {
  alertId: string;
  typology: string;
  /** Member accounts (main first). */
  members: string[];
  /** Evidence ids of the instance's labeled transfers. */
  eventIds: string[];
}

export interface AmlSimDataset {
  accounts: string[];
  events: ChainEvent[];
  /** Account of each wallet and back. */
  walletOf(account: string): string;
  instances: AmlSimInstance[];
  days: number;
}

const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');

function rows(csv: string): Record<string, string>[] {
  const [head, ...lines] = csv.trim().split(/\r?\n/);
  const cols = head!.split(',');
  return lines.map((l) => {
    const cells = l.split(',');
    return Object.fromEntries(cols.map((c, i) => [c, cells[i] ?? '']));
  });
}

export function parseAmlSim(transactionsCsv: string, alertMembersCsv: string): AmlSimDataset {
  const tx = rows(transactionsCsv);
  const perStep = new Map<number, number>();
  for (const r of tx) perStep.set(Number(r.step), (perStep.get(Number(r.step)) ?? 0) + 1);
  const seen = new Map<number, number>();
  const walletOf = (account: string) => `0x${hex(Number(account) + 1, 40)}`;
  const accounts = new Set<string>();
  const byAlert = new Map<string, string[]>();
  const events: ChainEvent[] = tx.map((r, i) => {
    const step = Number(r.step);
    const k = seen.get(step) ?? 0;
    seen.set(step, k + 1);
    const time = AMLSIM_START + step * DAY + Math.floor((k * DAY) / perStep.get(step)!);
    const blockHash = `0x${hex(i + 1, 64)}`;
    accounts.add(r.orig!).add(r.dest!);
    if (r.alertID !== '-1') byAlert.set(r.alertID!, [...(byAlert.get(r.alertID!) ?? []), `chain:${AMLSIM_CHAIN_ID}:${blockHash}:0`]);
    return {
      eventId: `${AMLSIM_CHAIN_ID}:${blockHash}:0`,
      chainId: AMLSIM_CHAIN_ID,
      token: AMLSIM_TOKEN,
      blockNumber: BigInt(i + 1),
      blockHash,
      blockTime: time,
      txHash: `0x${hex(i + 1, 64)}`,
      logIndex: 0,
      kind: 'transfer',
      from: walletOf(r.orig!),
      to: walletOf(r.dest!),
      value: parseDecimalToMinor(r.amount!, 2),
      decimals: 2,
      reference: null,
    };
  });
  const instances = new Map<string, AmlSimInstance>();
  for (const r of rows(alertMembersCsv)) {
    let inst = instances.get(r.alertID!);
    if (!inst) instances.set(r.alertID!, (inst = { alertId: r.alertID!, typology: r.typology!, members: [], eventIds: byAlert.get(r.alertID!) ?? [] }));
    if (r.isMain === 'true') inst.members.unshift(r.accountID!);
    else inst.members.push(r.accountID!);
  }
  const days = Math.max(...tx.map((r) => Number(r.step))) + 1;
  return { accounts: [...accounts].sort((a, b) => Number(a) - Number(b)), events, walletOf, instances: [...instances.values()], days };
}
