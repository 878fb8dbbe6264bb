import { crashRestartSuite } from '../support/crashRestartSuite.js';

crashRestartSuite('log');
