// The session contract: the TypeScript shapes of proto/hawser/broker.proto's session messages
// (as loaded with libs/proto's LOADER_OPTIONS). Defined here, in the pure core, and re-exported
// by @hawser/proto for the services (the core may not import @hawser/proto, which loads gRPC).

export interface Message {
  id: string;
  destination: string;
  headers: Record<string, string>;
  body: Buffer;
  persistent: boolean;
  priority: number;
  expires: number;
  timestamp: number;
}

export type AckMode = 'ACK_MODE_AUTO' | 'ACK_MODE_CLIENT' | 'ACK_MODE_CLIENT_INDIVIDUAL';

export interface Open {
  connectionId: string;
  clientId: string;
  /** Who the session is ('' anonymous), as the gateway authenticated it. */
  login: string;
  /** The login's groups: what the authorization map grants. */
  groups?: string[];
  gateway: string;
  /** A bridge's session (ActiveMQ's network connector): its subscriptions are network demand. */
  network?: boolean;
}
export interface Send { message: Message; transaction: string }
export interface Subscribe {
  subscriptionId: string;
  destination: string;
  ackMode: AckMode;
  prefetch: number;
  selector: string;
  durableName: string;
  noLocal: boolean;
  /**
   * Consumer priority (ActiveMQ's consumer priority): a queue message goes to the highest
   * priority consumer with prefetch room that accepts it; equal priorities share round-robin.
   * Default 0; a bridge subscribes at -1 so local consumers come first.
   */
  priority?: number;
}
export interface Unsubscribe { subscriptionId: string; removeDurable: boolean }
export interface Ack { deliveryTag: number; transaction: string }
export interface Nack { deliveryTag: number; transaction: string }
export interface TxRef { transaction: string }

export type SessionRequest = { requestId: number } & (
  | { kind: 'open'; open: Open }
  | { kind: 'send'; send: Send }
  | { kind: 'subscribe'; subscribe: Subscribe }
  | { kind: 'unsubscribe'; unsubscribe: Unsubscribe }
  | { kind: 'ack'; ack: Ack }
  | { kind: 'nack'; nack: Nack }
  | { kind: 'begin'; begin: TxRef }
  | { kind: 'commit'; commit: TxRef }
  | { kind: 'abort'; abort: TxRef }
  | { kind: 'close'; close: Record<string, never> }
);

export interface Delivery {
  subscriptionId: string;
  deliveryTag: number;
  message: Message;
  redelivered: boolean;
  deliveryCount: number;
}
export interface ErrorEvent { requestId: number; code: string; message: string; fatal: boolean }

export type SessionEvent =
  | { kind: 'opened'; opened: { sessionId: string; group: string; node: string; epoch: number } }
  | { kind: 'receipt'; receipt: { requestId: number } }
  | { kind: 'delivery'; delivery: Delivery }
  | { kind: 'error'; error: ErrorEvent };

/** Stable error codes of ErrorEvent.code (re-exported by @hawser/proto as BrokerErrorCode). */
export const ErrorCode = {
  BadRequest: 'BAD_REQUEST',
  UnknownDelivery: 'UNKNOWN_DELIVERY',
  UnknownTransaction: 'UNKNOWN_TRANSACTION',
  UnknownSubscription: 'UNKNOWN_SUBSCRIPTION',
  DuplicateSubscription: 'DUPLICATE_SUBSCRIPTION',
  InvalidSelector: 'INVALID_SELECTOR',
  InvalidDestination: 'INVALID_DESTINATION',
  NotMaster: 'NOT_MASTER',
  NoQuorum: 'NO_QUORUM',
  Unavailable: 'UNAVAILABLE',
  /** Producer flow control: the broker's memory or store limit is reached (broker.sendFailIfNoSpace). */
  NoSpace: 'NO_SPACE',
  /** A broker limit (broker.maxDestinations) refused the request; the message names the key. */
  LimitExceeded: 'LIMIT_EXCEEDED',
  /** The session's user may not do this (the authorization map, or another user's durable subscription). */
  Forbidden: 'FORBIDDEN',
  /** An MQTT client id whose persistent session belongs to another user (core.ts foreignSessionTopic): CONNACK 5. */
  ClientIdTaken: 'CLIENT_ID_TAKEN',
  Internal: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** A request the core refuses; becomes an ErrorEvent at the session boundary. */
export class BrokerError extends Error {
  readonly code: ErrorCode;
  readonly fatal: boolean;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; fatal?: boolean }) {
    super(message, options);
    this.name = 'BrokerError';
    this.code = code;
    this.fatal = options?.fatal ?? true;
  }
}

/** What the core needs of @hawser/selector (injected: the core takes no I/O and no globals). */
export interface SelectorLike {
  matches(m: { headers: Record<string, string>; id: string; priority: number; timestamp: number; expires: number; persistent: boolean }): boolean;
}
export type CompileSelector = (text: string) => SelectorLike;
