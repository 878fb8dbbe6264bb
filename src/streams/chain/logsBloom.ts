/**
 * The 2048-bit logs bloom of a block header (Ethereum yellow paper, M3:2048): each address and
 * topic of each log sets three bits taken from its keccak-256. A bit not set proves absence; all
 * set only suggests presence. Used to check the logs a node returned against the block they claim.
 */
import { hexToBytes, keccak256, type Hex } from 'viem';

/** Whether `bloom` may contain `item` (an address or a topic, as hex). */
export function bloomMayContain(bloom: Hex, item: Hex): boolean {
  const bits = hexToBytes(bloom);
  if (bits.length !== 256) return true; // no usable bloom: cannot prove absence
  const h = hexToBytes(keccak256(item));
  for (let i = 0; i < 6; i += 2) {
    const bit = ((h[i]! << 8) | h[i + 1]!) & 2047;
    // Bit 0 is the lowest-order bit of the last byte.
    if ((bits[255 - (bit >> 3)]! & (1 << (bit & 7))) === 0) return false;
  }
  return true;
}

/** Whether a bloom is all zeros (a block with no logs, or a node that does not fill it in). */
export function isEmptyBloom(bloom: Hex): boolean {
  return /^0x0*$/.test(bloom);
}
