// @hawser/chaos: workload, history, checker, faults (see README.md).
export * from './checker';
export * from './history';
export * from './rng';
export * from './faults';
export * from './workload';
export * from './local';
export * from './run';
export * from './activemq';
