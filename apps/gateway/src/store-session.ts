// One client's Broker.Session stream to the store (proto/hawser/broker.proto).
//
// Requests are batched: everything a connection asks for during one event-loop turn goes
// out as ONE SessionRequests message (the contract's "one gRPC message per turn"), so a
// client pipelining a hundred SENDs costs one write, not a hundred.
import { grpc, brokerService, CHANNEL_OPTIONS } from '@hawser/proto';
import type {
  SessionRequest, SessionRequests, SessionEvent, SessionEvents,
  Open, Send, Subscribe, Unsubscribe, Ack, Nack, Begin, Commit, Abort, Close,
} from '@hawser/proto';

/** The payload of each request kind (the oneof members of SessionRequest). */
export interface Payloads {
  open: Open; send: Send; subscribe: Subscribe; unsubscribe: Unsubscribe; ack: Ack; nack: Nack;
  begin: Begin; commit: Commit; abort: Abort; close: Close;
}

export interface StoreSessionHandlers {
  onEvent(event: SessionEvent): void;
  /** The stream ended or failed without us ending it (store down, master gone). */
  onFailure(error: StoreStreamError): void;
  /** The stream cannot take more writes for now; resume reading clients on onDrain. */
  onBackpressure?(): void;
  onDrain?(): void;
}

export class StoreStreamError extends Error {
  readonly code = 'STORE_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreStreamError';
  }
}

/** The gRPC client of the store: one channel per gateway, shared by every session. */
export function createBrokerClient(address: string): grpc.Client {
  const Broker = brokerService();
  return new Broker(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
}

/** One Broker client (gRPC channel) per store address, shared by every session to that store. */
export class BrokerClients {
  private readonly clients = new Map<string, grpc.Client>();
  get(address: string): grpc.Client {
    let c = this.clients.get(address);
    if (!c) {
      c = createBrokerClient(address);
      this.clients.set(address, c);
    }
    return c;
  }
  /** The client of `address` if one was made (readiness checks). */
  peek(address: string): grpc.Client | undefined { return this.clients.get(address); }
  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

type Duplex = grpc.ClientDuplexStream<SessionRequests, SessionEvents>;

export class StoreSession {
  private call: Duplex | undefined;
  private pending: SessionRequest[] = [];
  private scheduled = false;
  private ended = false;
  private failed = false;

  constructor(private readonly client: grpc.Client, private readonly handlers: StoreSessionHandlers) {}

  /** Starts the stream. Requests queued with request() go out in order, the first being `open`. */
  start(): void {
    const call = (this.client as unknown as { Session(): Duplex }).Session();
    this.call = call;
    call.on('data', (batch: SessionEvents) => {
      for (const ev of batch.items ?? []) {
        if (this.failed) return;
        this.handlers.onEvent(ev);
      }
    });
    call.on('error', (e: grpc.ServiceError) => {
      if (this.ended && e.code === grpc.status.CANCELLED) return;
      this.fail(new StoreStreamError(e.details || e.message, { cause: e }));
    });
    call.on('end', () => {
      if (!this.ended) this.fail(new StoreStreamError('the store ended the session'));
    });
    call.on('drain', () => this.handlers.onDrain?.());
  }

  /** Queues one request; it is written with the others of this event-loop turn. */
  request<K extends keyof Payloads>(kind: K, payload: Payloads[K], requestId = 0): void {
    if (this.ended || this.failed) return;
    this.pending.push({ requestId, kind, [kind]: payload } as unknown as SessionRequest);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    if (!this.call || this.pending.length === 0 || this.failed) return;
    const items = this.pending;
    this.pending = [];
    try {
      const ok = this.call.write({ items });
      if (!ok) this.handlers.onBackpressure?.();
    } catch (e) {
      this.fail(new StoreStreamError(`write failed: ${(e as Error).message}`, { cause: e }));
    }
  }

  /** Stops reading events (the client cannot take more); HTTP/2 flow control does the rest. */
  pause(): void { this.call?.pause(); }
  resume(): void { this.call?.resume(); }

  /** Half-closes the stream after the queued requests. Idempotent. */
  end(): void {
    if (this.ended) return;
    this.flush();
    this.ended = true;
    if (this.call && !this.failed) {
      try { this.call.end(); } catch { /* already gone */ }
      // The store answers the half-close by ending its side; don't wait on it forever.
      const call = this.call;
      setTimeout(() => call.cancel(), 5_000).unref();
    }
  }

  /** Drops the stream at once (client gone hard, shutdown). */
  cancel(): void {
    this.ended = true;
    this.pending = [];
    try { this.call?.cancel(); } catch { /* ignore */ }
  }

  private fail(error: StoreStreamError): void {
    if (this.failed || this.ended) return;
    this.failed = true;
    this.pending = [];
    try { this.call?.cancel(); } catch { /* ignore */ }
    this.handlers.onFailure(error);
  }
}
