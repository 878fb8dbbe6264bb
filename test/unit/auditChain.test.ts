import { describe, expect, it } from 'vitest';
import { canonicalJson, chainRecord, GENESIS, hashOf, verifyChain, type AuditRecord } from '../../src/cases/auditChain.js';

/** A chain of `n` records: case actions by two people. */
function chain(n: number): AuditRecord[] {
  const out: AuditRecord[] = [];
  for (let i = 0; i < n; i++) {
    out.push(
      chainRecord(out.at(-1) ?? null, {
        at: 1_760_000_000_000 + i * 1_000,
        actor: i % 2 ? 'bob' : 'alice',
        action: 'case.comment',
        subject: `C-${i % 3}`,
        content: { text: `note ${i}`, amountMinor: BigInt(i) * 10n ** 20n },
      }),
    );
  }
  return out;
}

describe('audit hash chain', () => {
  it('links each record to the previous one from GENESIS, and verifies whole and by period', () => {
    const c = chain(10);
    expect(c[0]!.prevHash).toBe(GENESIS);
    expect(c.slice(1).every((r, i) => r.prevHash === c[i]!.hash)).toBe(true);
    expect(verifyChain(c)).toEqual({ ok: true, records: 10, head: { seq: 10, hash: c[9]!.hash } });
    // A period: records 4..7, checked from record 3's hash.
    expect(verifyChain(c.slice(3, 7), c[2]!)).toMatchObject({ ok: true, records: 4, head: { seq: 7 } });
  });

  it('serialises content canonically: key order and bigints never change the hash', () => {
    expect(canonicalJson({ b: 1n, a: { d: [2n, { z: 1, y: 2 }], c: 'x' } })).toBe('{"a":{"c":"x","d":["2",{"y":2,"z":1}]},"b":"1"}');
    const a = chainRecord(null, { at: 1, actor: 'a', action: 'x', subject: 's', content: { p: 1, q: 2 } });
    const b = chainRecord(null, { at: 1, actor: 'a', action: 'x', subject: 's', content: { q: 2, p: 1 } });
    expect(a.hash).toBe(b.hash);
  });

  it('keeps fields apart: moving a character from one field to the next changes the hash', () => {
    const r = chainRecord(null, { at: 1, actor: 'ab', action: 'c', subject: 's', content: {} });
    expect(hashOf({ ...r, actor: 'a', action: 'bc' })).not.toBe(r.hash);
  });

  it('names an edited record', () => {
    const c = chain(8);
    c[4] = { ...c[4]!, content: c[4]!.content.replace('note 4', 'note 44') };
    expect(verifyChain(c)).toMatchObject({ ok: false, seq: 5, problem: 'edited' });
  });

  it('names the link after an edited record whose hash was recomputed', () => {
    const c = chain(8);
    const edited = { ...c[4]!, actor: 'mallory' };
    c[4] = { ...edited, hash: hashOf(edited) };
    expect(verifyChain(c)).toMatchObject({ ok: false, seq: 6, problem: 'broken_link' });
  });

  it('names a deleted record', () => {
    const c = chain(8);
    c.splice(3, 1);
    expect(verifyChain(c)).toMatchObject({ ok: false, seq: 4, problem: 'missing' });
  });

  it('names reordered records', () => {
    const c = chain(8);
    [c[5], c[6]] = [c[6]!, c[5]!];
    expect(verifyChain(c)).toMatchObject({ ok: false, seq: 6, problem: 'missing' });
    const d = chain(8);
    const moved = d.splice(2, 1)[0]!;
    d.push(moved);
    const v = verifyChain(d);
    expect(v.ok).toBe(false);
    expect(v).toMatchObject({ seq: 3 });
  });

  it('catches a whole chain re-hashed after an edit, given a head exported before', () => {
    const c = chain(8);
    const exported = { seq: 6, hash: c[5]!.hash };
    // Rewrite record 3 and re-chain everything after it: every link is consistent again.
    const rewritten: AuditRecord[] = c.slice(0, 2);
    for (const r of c.slice(2)) {
      rewritten.push(chainRecord(rewritten.at(-1)!, { at: r.at, actor: r.seq === 3 ? 'mallory' : r.actor, action: r.action, subject: r.subject, content: JSON.parse(r.content) }));
    }
    expect(verifyChain(rewritten).ok).toBe(true);
    expect(verifyChain(rewritten, null, [exported])).toMatchObject({ ok: false, seq: 6, problem: 'rewritten' });
  });

  it('refuses a period checked from the wrong predecessor', () => {
    const c = chain(6);
    expect(verifyChain(c.slice(3), c[1]!)).toMatchObject({ ok: false, seq: 3, problem: 'missing' });
    expect(verifyChain(c.slice(3), c[4]!)).toMatchObject({ ok: false, seq: 4, problem: 'out_of_order' });
    expect(verifyChain(c.slice(3), { seq: 3, hash: GENESIS })).toMatchObject({ ok: false, seq: 4, problem: 'broken_link' });
  });
});
