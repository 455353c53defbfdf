// @hawser/bridge: the bridge service (in-process use for tests; main.ts is the process).
export { Bridge, type BridgeState } from './bridge';
export { schema, validate, type Config } from './config';
export { BridgeError, type BridgeErrorCode } from './errors';
