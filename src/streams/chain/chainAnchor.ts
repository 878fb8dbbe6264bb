/**
 * The anchor of a sync's range reads: one block at or above every range read (the final head of
 * the sync), whose hash is read once before any range is read and again after each range has
 * been read. A block's hash fixes every block below it, so when the anchor still has the hash it
 * had before a range's calls were sent, that range's logs and headers all came from one chain,
 * the one the anchor is on (a chain that changed and changed back in between aside, as with any
 * pair of reads).
 *
 * This replaces reading each range's last header before and after its logs: three dependent
 * round trips per range became one (logs and the range's two headers, in parallel), and the
 * checks after the reads are shared. A check started after a range was read answers for it; while
 * one check is in flight, the calls that arrive wait for the next one, started when it settles, so
 * a backfill sends at most one anchor read at a time however many ranges complete meanwhile.
 */
import { ChainReadError, fetchHeader, type BlockHeader, type ReadContext } from './readConfirmedLogs.js';

export class ChainAnchor {
  private first: Promise<BlockHeader> | null = null;
  private inFlight: Promise<void> | null = null;
  private queued: Promise<void> | null = null;

  constructor(
    private readonly ctx: ReadContext,
    /** At or above the last block of every range it anchors. */
    readonly blockNumber: bigint,
  ) {}

  /** The anchor's header as first read (read on the first call); range reads start after it resolves. */
  ready(): Promise<BlockHeader> {
    this.first ??= fetchHeader(this.ctx, this.blockNumber);
    return this.first;
  }

  /**
   * Resolves once a read of the anchor that started after this call found the hash `ready` read;
   * rejects with `ChainReadError` when the hash changed (the chain reorganised at or below the
   * anchor: what was read since `ready` cannot be trusted), or when the read failed.
   */
  confirm(): Promise<void> {
    if (this.queued !== null) return this.queued;
    if (!this.inFlight) return this.check();
    // The check in flight started before this call; the next one answers for every call until it starts.
    const next = this.inFlight
      .catch(() => undefined)
      .then(() => {
        this.queued = null;
        return this.check();
      });
    this.queued = next;
    return next;
  }

  private check(): Promise<void> {
    const p: Promise<void> = this.ready()
      .then(async (was) => {
        const now = await fetchHeader(this.ctx, this.blockNumber);
        if (now.hash !== was.hash) {
          throw new ChainReadError(`block ${this.blockNumber} changed hash while ranges below it were read`, { details: `${was.hash} then ${now.hash}` });
        }
      })
      .finally(() => {
        if (this.inFlight === p) this.inFlight = null;
      });
    this.inFlight = p;
    return p;
  }
}
