// TypeScript shapes of proto/hawser/broker.proto as loaded with LOADER_OPTIONS. The session
// messages are the broker core's own types (libs/broker/src/types.ts, one definition for the
// core, the store and the gateway); this file adds the wire-only wrappers. Keep both in step
// with the .proto file; broker.spec.ts round-trips every shape.
import { ErrorCode, type SessionEvent, type SessionRequest, type TxRef } from '@hawser/broker';

export type {
  Message, AckMode, Open, Send, Subscribe, Unsubscribe, Ack, Nack, SessionRequest,
  Delivery, ErrorEvent, SessionEvent,
} from '@hawser/broker';

export type Begin = TxRef;
export type Commit = TxRef;
export type Abort = TxRef;
export type Close = Record<string, never>;

export interface SessionRequests { items: SessionRequest[] }

export type Opened = Extract<SessionEvent, { kind: 'opened' }>['opened'];
export type Receipt = Extract<SessionEvent, { kind: 'receipt' }>['receipt'];

export interface SessionEvents { items: SessionEvent[] }

/** Broker.Sessions: one gateway's sessions on one stream, each named by the gateway's number. */
export interface MuxRequest { session: number; request?: SessionRequest | null; end?: boolean }
export interface MuxRequests { items: MuxRequest[] }
export interface MuxEvent { session: number; event?: SessionEvent | null; end?: boolean }
export interface MuxEvents { items: MuxEvent[] }

/** Stable error codes carried in ErrorEvent.code (documented in docs/errors.md): the core's. */
export const BrokerErrorCode = ErrorCode;
export type BrokerErrorCode = ErrorCode;
