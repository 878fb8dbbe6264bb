import { describe, expect, it } from 'vitest';
import { createPostingSpool } from '../../src/iso20022/postingSpool.js';

describe('posting spool', () => {
  it('reads back every record in order, across read chunks and flushes, a record larger than a chunk included', async () => {
    const spool = await createPostingSpool();
    try {
      const records = Array.from({ length: 20_000 }, (_, i) => ({
        msgID: `camt-${i}:BOOKED:${i.toString(16)}`,
        source: `camt.053.001.08:S-${i % 7}`,
        subject: `ledger.${i % 3}.camt`,
        bytes: Uint8Array.from({ length: (i * 37) % 500 }, (_, j) => (i + j) % 256),
      }));
      records.splice(12_345, 0, { msgID: 'big', source: 'é', subject: 'ledger.camt', bytes: new Uint8Array(700_000).fill(7) });
      for (const r of records) await spool.append(r);
      await spool.finish();
      // Compared record by record (a deep toEqual over 20,000 byte arrays took ~20 s alone).
      const differing: number[] = [];
      let n = 0;
      for await (const r of spool.read()) {
        const want = records[n];
        const same = want !== undefined && r.msgID === want.msgID && r.source === want.source && r.subject === want.subject && Buffer.from(r.bytes).equals(want.bytes);
        if (!same) differing.push(n);
        n++;
      }
      expect(n).toBe(records.length);
      expect(differing).toEqual([]);
    } finally {
      await spool.dispose();
    }
  });

  it('reads an empty spool as nothing', async () => {
    const spool = await createPostingSpool();
    await spool.finish();
    const back = [];
    for await (const r of spool.read()) back.push(r);
    expect(back).toEqual([]);
    await spool.dispose();
    await spool.dispose();
  });
});
