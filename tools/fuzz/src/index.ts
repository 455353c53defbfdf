// @hawser/fuzz — a fuzzer for a running Hawser cluster (see ../README.md).
export * from './prng';
export * from './frames';
export * from './mutate';
export * from './script';
export * from './stats';
export * from './monitor';
export * from './witness';
export * from './run';
export { grpcMethodPaths, h2Frame } from './grpc-driver';
export { wsFrame } from './ws-driver';
