// @hawser/replication: the pure replication core of a group's journal (see README.md).
export * from './types';
export { ReplicaLog } from './log';
export { Replica } from './replica';
