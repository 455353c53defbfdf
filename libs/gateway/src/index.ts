// @hawser/gateway: the gateway as a library with two homes — the separate service
// (apps/gateway) and each store node (apps/store, in-process on the master).
export { startGateway, type Gateway, type GatewayOptions } from './gateway';
export { schema, type Config } from './config';
export { GatewayError, type GatewayErrorCode } from './errors';
export { WS_SUBPROTOCOLS } from './transports/listeners';
export type { LocalBroker, LocalSession, LocalSessionSink } from './session/local-channel';
export { StaticMaster, TopologyFollower, type MasterSource, type MasterInfo } from './session/masters';
