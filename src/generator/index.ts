export * from './random.js';
export * from './trafficPlan.js';
export * from './publishPosting.js';
