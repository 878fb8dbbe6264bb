import { reconciliationSuite } from '../support/reconciliationSuite.js';

reconciliationSuite('log');
