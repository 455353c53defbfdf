// A client session's channel to its group's master: the one seam between the gateway's
// session layer (link.ts) and wherever the broker core runs (docs/architecture.md: the gateway's two
// homes). Two implementations, one contract:
//   - grpc-channel.ts: a Broker.Session stream to a master in another process (the separate
//     gateway, or the gateway embedded in a slave node);
//   - local-channel.ts: the broker core of this very process (the gateway embedded in the
//     master node): no gRPC, no protobuf, no second process.
// channels.ts picks one per master address: in-process when the address is this node's own.
import type {
  Open, Send, Subscribe, Unsubscribe, Ack, Nack, Begin, Commit, Abort, Close, SessionEvent, SessionRequest,
} from '@hawser/proto';

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

/**
 * The receiving half every channel shares: events pushed by the master, held while the client
 * cannot take them (pause), then the master's end of the session — in order.
 */
export abstract class PushedEvents {
  /** No more events are taken (we ended or cancelled it, it failed, or the master ended it). */
  protected closed = false;
  /** We ended it (end or cancel): the master's end is not a failure. */
  protected ended = false;
  private paused = false;
  private held: SessionEvent[] = [];
  private heldEnd = false;

  constructor(protected readonly handlers: ChannelHandlers) {}

  pause(): void { this.paused = true; }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const held = this.held;
    this.held = [];
    // Out of the caller's stack: resume() is called from the transport's drain.
    queueMicrotask(() => {
      if (held.length) this.pushEvents(held);
      if (this.heldEnd) { this.heldEnd = false; this.pushEnd(); }
    });
  }

  protected dropHeld(): void { this.held = []; this.heldEnd = false; }

  /** Events from the master. */
  protected pushEvents(items: SessionEvent[]): void {
    if (this.closed) return;
    if (this.paused || this.held.length) { this.held.push(...items); return; }
    for (const ev of items) {
      if (this.closed) return;
      this.handlers.onEvent(ev);
    }
  }

  /** The master ended the session. */
  protected pushEnd(): void {
    if (this.closed) return;
    if (this.paused || this.held.length) { this.heldEnd = true; return; }
    this.closed = true;
    if (!this.ended) this.handlers.onFailure(new ChannelError('the store ended the session'));
  }

  /** The way to the master failed under the session (stream lost). */
  protected pushFailure(err: ChannelError): void {
    if (this.closed || this.ended) return;
    this.closed = true;
    this.dropHeld();
    this.handlers.onFailure(err);
  }
}

/** Builds a request in the wire shape (the oneof member named by `kind`). */
export function makeRequest<K extends keyof Payloads>(kind: K, payload: Payloads[K], requestId: number): SessionRequest {
  return { requestId, kind, [kind]: payload } as unknown as SessionRequest;
}
