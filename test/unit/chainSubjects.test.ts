import { describe, expect, it } from 'vitest';
import { CHAIN_SUBJECT_KINDS, chainStreamSubjects, chainSubject, parseChainSubject } from '../../src/streams/chain/chainSubjects.js';

describe('chain subjects', () => {
  it('round-trips every kind through the builder and the parser', () => {
    for (const kind of CHAIN_SUBJECT_KINDS) {
      const s = chainSubject('demo.chain', 31337, kind);
      expect(s).toBe(`demo.chain.31337.${kind}`);
      expect(parseChainSubject(s, 'demo.chain')).toEqual({ chainId: 31337, kind });
      expect(parseChainSubject(s)).toEqual({ chainId: 31337, kind });
    }
  });

  it('refuses unknown kinds, other prefixes, and chain ids that are not positive integers', () => {
    expect(parseChainSubject('chain.1.gossip')).toBeNull();
    expect(parseChainSubject('other.1.events', 'chain')).toBeNull();
    expect(parseChainSubject('chain.0.events')).toBeNull();
    expect(parseChainSubject('chain.01.events')).toBeNull();
    expect(parseChainSubject('chain.x.events')).toBeNull();
    expect(parseChainSubject('events')).toBeNull();
  });

  it('gives the stream a filter that holds every subject it builds', () => {
    expect(chainStreamSubjects('chain')).toEqual(['chain.>']);
  });
});
