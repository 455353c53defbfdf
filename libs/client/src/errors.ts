// Errors of the Hawser STOMP client. Every error is a named class with a stable `code`
// and, where one exists, the underlying `cause` (socket error, codec error, ERROR frame).
import type { StompFrame } from '@hawser/stomp';
import { getHeader } from '@hawser/stomp';

export type ClientErrorCode =
  | 'INVALID_URI'          // the broker URI could not be parsed
  | 'CONNECT_TIMEOUT'      // no CONNECTED frame within connectTimeoutMs
  | 'CONNECTION_FAILED'    // the socket could not be opened
  | 'CONNECTION_CLOSED'    // the connection closed while an operation waited for it
  | 'RECEIPT_TIMEOUT'      // a RECEIPT did not come within receiptTimeoutMs
  | 'RECEIVE_TIMEOUT'      // Subscription.next(timeoutMs) got no message in time
  | 'HEARTBEAT_TIMEOUT'    // STOMP 1.1: nothing received within the negotiated interval
  | 'PROTOCOL_ERROR'       // the server sent bytes our codec rejects
  | 'SERVER_ERROR'         // the server sent an ERROR frame
  | 'UNSUPPORTED'          // e.g. NACK on a STOMP 1.0 connection
  | 'INVALID_STATE'        // e.g. send() after disconnect()
  | 'RECONNECT_FAILED'     // failover: maxReconnectAttempts (or startupMaxReconnectAttempts) passes failed
  | 'FAILOVER_TIMEOUT'     // failover: a send/subscribe waited longer than `timeout` while disconnected
  | 'TRANSACTION_ROLLED_BACK' // failover: the connection changed inside a transaction
  | 'ACK_NOT_CONFIRMED';   // failover: an ack with a receipt cannot be (or was not) confirmed by the connection that delivered the message

export class StompClientError extends Error {
  readonly code: ClientErrorCode;
  constructor(code: ClientErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StompClientError';
    this.code = code;
  }
}

export class InvalidUriError extends StompClientError {
  constructor(message: string) {
    super('INVALID_URI', message);
    this.name = 'InvalidUriError';
  }
}

export class ConnectTimeoutError extends StompClientError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CONNECT_TIMEOUT', message, options);
    this.name = 'ConnectTimeoutError';
  }
}

export class ConnectionFailedError extends StompClientError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CONNECTION_FAILED', message, options);
    this.name = 'ConnectionFailedError';
  }
}

export class ConnectionClosedError extends StompClientError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CONNECTION_CLOSED', message, options);
    this.name = 'ConnectionClosedError';
  }
}

export class ReceiptTimeoutError extends StompClientError {
  readonly receiptId: string;
  constructor(receiptId: string, what: string, timeoutMs: number) {
    super('RECEIPT_TIMEOUT', `no RECEIPT for ${what} (receipt ${receiptId}) within ${timeoutMs} ms`);
    this.name = 'ReceiptTimeoutError';
    this.receiptId = receiptId;
  }
}

export class ReceiveTimeoutError extends StompClientError {
  constructor(destination: string, timeoutMs: number) {
    super('RECEIVE_TIMEOUT', `no message on ${destination} within ${timeoutMs} ms`);
    this.name = 'ReceiveTimeoutError';
  }
}

export class HeartbeatTimeoutError extends StompClientError {
  constructor(expectMs: number) {
    super('HEARTBEAT_TIMEOUT', `nothing received from the server for longer than the negotiated heart-beat (${expectMs} ms, with grace)`);
    this.name = 'HeartbeatTimeoutError';
  }
}

export class ProtocolError extends StompClientError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PROTOCOL_ERROR', message, options);
    this.name = 'ProtocolError';
  }
}

export class UnsupportedError extends StompClientError {
  constructor(message: string) {
    super('UNSUPPORTED', message);
    this.name = 'UnsupportedError';
  }
}

export class InvalidStateError extends StompClientError {
  constructor(message: string) {
    super('INVALID_STATE', message);
    this.name = 'InvalidStateError';
  }
}

/**
 * The server sent an ERROR frame. STOMP 1.2: the server closes the connection right after,
 * so every operation still waiting rejects with this error. `serverMessage` is the frame's
 * `message` header (a short description), `details` its body.
 */
export class StompServerError extends StompClientError {
  readonly serverMessage: string;
  readonly details: string;
  readonly receiptId: string | undefined;
  readonly frame: StompFrame;
  constructor(frame: StompFrame) {
    const serverMessage = getHeader(frame, 'message') ?? '(ERROR frame without a message header)';
    const details = frame.body.toString('utf8');
    super('SERVER_ERROR', `server ERROR: ${serverMessage}${details ? ` — ${details.trim().slice(0, 500)}` : ''}`);
    this.name = 'StompServerError';
    this.serverMessage = serverMessage;
    this.details = details;
    this.receiptId = getHeader(frame, 'receipt-id');
    this.frame = frame;
  }
}

/** Failover: every URI failed for maxReconnectAttempts passes (ActiveMQ gives up the same way). */
export class ReconnectFailedError extends StompClientError {
  readonly attempts: number;
  constructor(message: string, attempts: number, options?: { cause?: unknown }) {
    super('RECONNECT_FAILED', message, options);
    this.name = 'ReconnectFailedError';
    this.attempts = attempts;
  }
}

/** Failover: an operation waited longer than the URI's `timeout` option while disconnected. */
export class FailoverTimeoutError extends StompClientError {
  constructor(message: string) {
    super('FAILOVER_TIMEOUT', message);
    this.name = 'FailoverTimeoutError';
  }
}

/**
 * Failover: the connection was replaced inside a transaction, so the broker rolled it back
 * (ActiveMQ's TransactionRolledBackException). Begin a new transaction and redo the work.
 */
export class TransactionRolledBackError extends StompClientError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TRANSACTION_ROLLED_BACK', message, options);
    this.name = 'TransactionRolledBackError';
  }
}

/**
 * Failover: an ACK/NACK that asked for a receipt could not be confirmed, because the message
 * came on a connection that is gone (`sent: false`: nothing was sent, the broker took the
 * message back and redelivers it, marked redelivered), or that connection closed before the
 * RECEIPT came (`sent: true`: it may or may not have taken). Either way the message may come
 * again, marked redelivered; a consumer that must not process it twice dedups by message-id.
 */
export class AckNotConfirmedError extends StompClientError {
  readonly messageId: string;
  readonly sent: boolean;
  constructor(message: string, messageId: string, sent: boolean, options?: { cause?: unknown }) {
    super('ACK_NOT_CONFIRMED', message, options);
    this.name = 'AckNotConfirmedError';
    this.messageId = messageId;
    this.sent = sent;
  }
}
