// TypeScript shapes of proto/hawser/broker.proto as loaded with LOADER_OPTIONS.
// Keep in step with the .proto file; broker.spec.ts round-trips every shape.

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

export interface Open { connectionId: string; clientId: string; login: string; gateway: string; network?: boolean }
export interface Send { message: Message; transaction: string }
export interface Subscribe {
  subscriptionId: string;
  destination: string;
  ackMode: AckMode;
  prefetch: number;
  selector: string;
  durableName: string;
  noLocal: boolean;
  /** Consumer priority; default 0 (optional when sending: proto3 default). */
  priority?: number;
}
export interface Unsubscribe { subscriptionId: string; removeDurable: boolean }
export interface Ack { deliveryTag: number; transaction: string }
export interface Nack { deliveryTag: number; transaction: string }
export interface Begin { transaction: string }
export interface Commit { transaction: string }
export interface Abort { transaction: string }
export type Close = Record<string, never>;

export type SessionRequest = { requestId: number } & (
  | { kind: 'open'; open: Open }
  | { kind: 'send'; send: Send }
  | { kind: 'subscribe'; subscribe: Subscribe }
  | { kind: 'unsubscribe'; unsubscribe: Unsubscribe }
  | { kind: 'ack'; ack: Ack }
  | { kind: 'nack'; nack: Nack }
  | { kind: 'begin'; begin: Begin }
  | { kind: 'commit'; commit: Commit }
  | { kind: 'abort'; abort: Abort }
  | { kind: 'close'; close: Close }
);

export interface SessionRequests { items: SessionRequest[] }

export interface Opened { sessionId: string; group: string; node: string; epoch: number }
export interface Receipt { requestId: number }
export interface Delivery {
  subscriptionId: string;
  deliveryTag: number;
  message: Message;
  redelivered: boolean;
  deliveryCount: number;
}
export interface ErrorEvent { requestId: number; code: string; message: string; fatal: boolean }

export type SessionEvent =
  | { kind: 'opened'; opened: Opened }
  | { kind: 'receipt'; receipt: Receipt }
  | { kind: 'delivery'; delivery: Delivery }
  | { kind: 'error'; error: ErrorEvent };

export interface SessionEvents { items: SessionEvent[] }

/** Stable error codes carried in ErrorEvent.code (documented in docs/errors.md). */
export const BrokerErrorCode = {
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
  Internal: 'INTERNAL',
} as const;
export type BrokerErrorCode = (typeof BrokerErrorCode)[keyof typeof BrokerErrorCode];
