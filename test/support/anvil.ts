// The implementation lives in src so the demo can use it too.
export * from '../../src/streams/chain/anvilNode.js';
