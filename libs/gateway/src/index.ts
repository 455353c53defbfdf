// @hawser/gateway as a library: start a gateway in-process (tests, embedded use).
export { startGateway, type Gateway, type GatewayOptions } from './gateway';
export { schema, type Config } from './config';
export { GatewayError, type GatewayErrorCode } from './errors';
export { WS_SUBPROTOCOLS } from './transports/listeners';
