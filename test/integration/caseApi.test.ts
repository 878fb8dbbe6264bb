import { caseApiSuite } from '../support/caseApiSuite.js';

caseApiSuite();
