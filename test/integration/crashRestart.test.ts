import { crashRestartSuite } from '../support/crashRestartSuite.js';

crashRestartSuite('direct');
