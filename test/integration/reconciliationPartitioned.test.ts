import { reconciliationSuite } from '../support/reconciliationSuite.js';

// The same scenarios and expectations as the single-stream run, on two stream partitions.
reconciliationSuite('direct', { partitions: 2 });
