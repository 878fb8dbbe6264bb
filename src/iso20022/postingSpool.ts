/**
 * A temporary file of encoded postings between ingestion's validating pass and its publishing
 * pass: the XML is parsed and mapped once, and memory stays bounded whatever the statement's size
 * (a write buffer and a read chunk, never the postings). Records are length-prefixed:
 * `u32 msgID length, msgID, u32 source length, source, u32 subject length, subject, u32 bytes
 * length, bytes` (UTF-8, LE).
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SpooledPosting {
  msgID: string;
  source: string;
  /** The ledger subject to publish it on (its account's partition: src/streams/partitions.ts). */
  subject: string;
  bytes: Uint8Array;
}

export interface PostingSpool {
  append(p: SpooledPosting): Promise<void>;
  /** Flushes and closes the writer; then `read` can be called. */
  finish(): Promise<void>;
  read(): AsyncGenerator<SpooledPosting>;
  /** Deletes the file (idempotent). */
  dispose(): Promise<void>;
}

const FLUSH_BYTES = 1024 * 1024;

/** Creates an empty spool in a fresh temp directory. */
export async function createPostingSpool(): Promise<PostingSpool> {
  const dir = await mkdtemp(join(tmpdir(), 'recon-camt-spool-'));
  const path = join(dir, 'postings.bin');
  let fh: FileHandle | undefined = await open(path, 'w');
  let parts: Buffer[] = [];
  let size = 0;
  const flush = async () => {
    if (size === 0) return;
    await fh!.write(Buffer.concat(parts, size));
    parts = [];
    size = 0;
  };
  const field = (b: Uint8Array) => {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.byteLength);
    parts.push(len, Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    size += 4 + b.byteLength;
  };
  return {
    async append(p) {
      field(Buffer.from(p.msgID));
      field(Buffer.from(p.source));
      field(Buffer.from(p.subject));
      field(p.bytes);
      if (size >= FLUSH_BYTES) await flush();
    },
    async finish() {
      await flush();
      await fh?.close();
      fh = undefined;
    },
    async *read() {
      let buf: Buffer = Buffer.alloc(0);
      for await (const chunk of createReadStream(path, { highWaterMark: 256 * 1024 })) {
        buf = buf.length === 0 ? (chunk as Buffer) : Buffer.concat([buf, chunk as Buffer]);
        let pos = 0;
        for (;;) {
          const fields: Buffer[] = [];
          let at = pos;
          while (fields.length < 4 && at + 4 <= buf.length) {
            const len = buf.readUInt32LE(at);
            if (at + 4 + len > buf.length) break;
            fields.push(buf.subarray(at + 4, at + 4 + len));
            at += 4 + len;
          }
          if (fields.length < 4) break;
          pos = at;
          yield { msgID: fields[0]!.toString(), source: fields[1]!.toString(), subject: fields[2]!.toString(), bytes: fields[3]! };
        }
        buf = buf.subarray(pos);
      }
      if (buf.length > 0) throw new Error(`posting spool ${path} ends with ${buf.length} bytes of an incomplete record`);
    },
    async dispose() {
      await fh?.close().catch(() => undefined);
      fh = undefined;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
