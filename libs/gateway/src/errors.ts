// Errors the gateway itself raises about a client connection. Each has a stable code; like
// the codec's StompError, it becomes an ERROR frame whose `message` header is the message
// (one boundary: StompConnection.fail) and the connection is closed.
export type GatewayErrorCode =
  | 'NOT_CONNECTED'        // a frame other than CONNECT/STOMP before CONNECT
  | 'ALREADY_CONNECTED'    // a second CONNECT/STOMP
  | 'LOGIN_FAILED'         // wrong login/passcode, or anonymous access off (auth.*)
  | 'LOGIN_THROTTLED'      // too many failed logins from the address (auth.maxFailures)
  | 'UNKNOWN_DELIVERY'     // ACK/NACK for a message id that is not outstanding
  | 'ACK_NOT_CONFIRMED'    // an ACK/NACK of a previous master's delivery that could not be carried over (docs/reliability.md D2)
  | 'MAX_CONNECTIONS'      // limits.maximumConnections reached
  | 'MAX_CONNECTIONS_PER_ADDRESS' // limits.maxConnectionsPerAddress reached for the client's address
  | 'LIMIT_EXCEEDED'       // a per-connection cap (limits.maxSubscriptions, maxTransactions, maxMessageIdLength)
  | 'IDLE_TIMEOUT'         // nothing from the client for heartbeat.idleTimeout
  | 'SHUTTING_DOWN'        // the gateway is stopping
  | 'BROKER_UNAVAILABLE'   // the store stream failed or did not answer
  | 'NO_MASTER'            // failover: the group had no master within failover.maxWaitMs
  | 'INTERNAL';            // a bug: logged with its stack

export class GatewayError extends Error {
  readonly code: GatewayErrorCode;
  constructor(code: GatewayErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GatewayError';
    this.code = code;
  }
}

/** A limit of the gateway refused a request or a connection; `limit` is its config key (a metric label). */
export class LimitExceededError extends GatewayError {
  constructor(readonly limit: string, message: string, code: GatewayErrorCode = 'LIMIT_EXCEEDED') {
    super(code, message);
    this.name = 'LimitExceededError';
  }
}

/** An ErrorEvent from the store (proto/hawser/broker.proto Error), with the store's stable code. */
export class StoreRejectedError extends Error {
  readonly code: string;
  /** The store ended the session with it (broker.proto Error.fatal); false: the session goes on. */
  readonly fatal: boolean;
  constructor(code: string, message: string, fatal = true) {
    super(message);
    this.name = 'StoreRejectedError';
    this.code = code;
    this.fatal = fatal;
  }
}

/**
 * An ACK/NACK the gateway could not confirm: it named a delivery of a master that is gone, and
 * the message did not come again to this session within failover.ackWaitMs (it went to another
 * consumer, or was acked after all), or the session ended first. Answers the client's receipt
 * instead of a RECEIPT (docs/reliability.md D2); the session goes on where the protocol allows.
 */
export class AckNotConfirmedError extends StoreRejectedError {
  constructor(message: string) {
    super('ACK_NOT_CONFIRMED', message, false);
    this.name = 'AckNotConfirmedError';
  }
}
