// The implementation lives in src so the demo can use it too.
export * from '../../src/devchain/anvilNode.js';
