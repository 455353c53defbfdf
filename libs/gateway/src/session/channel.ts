// A client session's channel to its group's master: the one seam between the gateway's
// session layer (link.ts) and wherever the broker core runs (docs/architecture.md: the gateway's two
// homes). Two implementations, one contract:
//   - grpc-channel.ts: a Broker.Session stream to a master in another process (the separate
//     gateway, or the gateway embedded in a slave node);
//   - local-channel.ts: the broker core of this very process (the gateway embedded in the
//     master node): no gRPC, no protobuf, no second process.
// Channels picks one per master address: in-process when the address is this node's own.
import type {
  Open, Send, Subscribe, Unsubscribe, Ack, Nack, Begin, Commit, Abort, Close, SessionEvent, SessionRequest,
} from '@hawser/proto';
import { GrpcChannels } from './grpc-channel';
import { LocalChannel, type LocalBroker } from './local-channel';

/** The payload of each request kind (the oneof members of SessionRequest). */
export interface Payloads {
  open: Open; send: Send; subscribe: Subscribe; unsubscribe: Unsubscribe; ack: Ack; nack: Nack;
  begin: Begin; commit: Commit; abort: Abort; close: Close;
}

export interface ChannelHandlers {
  onEvent(event: SessionEvent): void;
  /** The channel ended or failed without us ending it (store down, master gone). */
  onFailure(error: ChannelError): void;
  /** The channel cannot take more requests for now; resume reading clients on onDrain. */
  onBackpressure?(): void;
  onDrain?(): void;
}

/** One client session on one master. */
export interface SessionChannel {
  /** Opens the channel. Requests queued with request() go out in order, the first being `open`. */
  start(): void;
  /** Queues one request; it goes out with the others of this event-loop turn. */
  request<K extends keyof Payloads>(kind: K, payload: Payloads[K], requestId?: number): void;
  /** Stops taking events (the client cannot take more) until resume(). */
  pause(): void;
  resume(): void;
  /** Half-closes after the queued requests; the master settles the session. Idempotent. */
  end(): void;
  /** Drops the channel at once (client gone hard, moved to another master, shutdown). */
  cancel(): void;
}

export class ChannelError extends Error {
  readonly code = 'STORE_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ChannelError';
  }
}

/** Builds a request in the wire shape (the oneof member named by `kind`). */
export function makeRequest<K extends keyof Payloads>(kind: K, payload: Payloads[K], requestId: number): SessionRequest {
  return { requestId, kind, [kind]: payload } as unknown as SessionRequest;
}

/**
 * Every channel of one gateway: gRPC channels (one HTTP/2 connection per store address,
 * shared by all sessions) and, when the gateway lives in a store node, the in-process one.
 */
export class Channels {
  private readonly grpc = new GrpcChannels();
  constructor(private readonly local?: LocalBroker, private readonly onOpen?: (channel: 'local' | 'grpc') => void) {}

  /** Whether sessions to `address` stay in this process. */
  isLocal(address: string): boolean { return this.local !== undefined && address === this.local.address; }

  open(address: string, handlers: ChannelHandlers): SessionChannel {
    if (this.local && address === this.local.address) {
      this.onOpen?.('local');
      return new LocalChannel(this.local, handlers);
    }
    this.onOpen?.('grpc');
    return this.grpc.open(address, handlers);
  }

  /** False when the way to `address` is known to be failing (readiness). */
  healthy(address: string): boolean {
    if (this.isLocal(address)) return this.local!.serving;
    return this.grpc.healthy(address);
  }

  close(): void { this.grpc.close(); }
}
