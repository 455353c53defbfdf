// One Broker.Session stream (proto/hawser/broker.proto) from the bridge to a group's master.
// Requests of one event-loop turn go out as one SessionRequests batch (the contract's "one
// gRPC message per turn"); events come back batched the same way.
import { grpc, brokerService, channelCredentials, CHANNEL_OPTIONS } from '@hawser/proto';
import type {
  SessionRequest, SessionRequests, SessionEvent, SessionEvents,
  Open, Send, Subscribe, Unsubscribe, Ack, Nack, Close,
} from '@hawser/proto';
import { BridgeError } from './errors';

export interface Payloads { open: Open; send: Send; subscribe: Subscribe; unsubscribe: Unsubscribe; ack: Ack; nack: Nack; close: Close }

export interface SessionHandlers {
  onEvent(event: SessionEvent): void;
  /** The stream failed or ended without us ending it. Called once. */
  onFailure(error: BridgeError): void;
}

/** One gRPC channel per store address, shared by the sessions to it. */
export class BrokerClients {
  private readonly clients = new Map<string, grpc.Client>();
  get(address: string): grpc.Client {
    let c = this.clients.get(address);
    if (!c) {
      const Broker = brokerService();
      c = new Broker(address, channelCredentials(), CHANNEL_OPTIONS);
      this.clients.set(address, c);
    }
    return c;
  }
  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

type Duplex = grpc.ClientDuplexStream<SessionRequests, SessionEvents>;

export class NetworkSession {
  private call: Duplex | undefined;
  private pending: SessionRequest[] = [];
  private scheduled = false;
  private done = false;
  private nextRequestId = 1;

  constructor(private readonly client: grpc.Client, private readonly handlers: SessionHandlers) {}

  get closed(): boolean { return this.done; }

  start(): this {
    const call = (this.client as unknown as { Session(): Duplex }).Session();
    this.call = call;
    call.on('data', (batch: SessionEvents) => {
      for (const ev of batch.items ?? []) {
        if (this.done) return;
        this.handlers.onEvent(ev);
      }
    });
    call.on('error', (e: grpc.ServiceError) => this.fail(new BridgeError('STORE_UNAVAILABLE', e.details || e.message, { cause: e })));
    call.on('end', () => this.fail(new BridgeError('STORE_UNAVAILABLE', 'the store ended the session')));
    return this;
  }

  /** Queues a request for this turn's batch; returns its request id (0 when `receipt` is false). */
  request<K extends keyof Payloads>(kind: K, payload: Payloads[K], receipt = false): number {
    if (this.done) return 0;
    const requestId = receipt ? this.nextRequestId++ : 0;
    this.pending.push({ requestId, kind, [kind]: payload } as unknown as SessionRequest);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    return requestId;
  }

  private flush(): void {
    this.scheduled = false;
    if (!this.call || this.pending.length === 0 || this.done) return;
    const items = this.pending;
    this.pending = [];
    try {
      this.call.write({ items });
    } catch (e) {
      this.fail(new BridgeError('STORE_UNAVAILABLE', `write failed: ${(e as Error).message}`, { cause: e }));
    }
  }

  /** Ends the session: queued requests (acks) go out first, then the half-close. */
  end(): void {
    if (this.done) return;
    this.flush();
    this.done = true;
    const call = this.call;
    if (!call) return;
    try { call.end(); } catch { /* gone */ }
    setTimeout(() => { try { call.cancel(); } catch { /* gone */ } }, 2_000).unref();
  }

  /** Drops the stream at once. */
  cancel(): void {
    this.done = true;
    this.pending = [];
    try { this.call?.cancel(); } catch { /* gone */ }
  }

  private fail(error: BridgeError): void {
    if (this.done) return;
    this.done = true;
    this.pending = [];
    try { this.call?.cancel(); } catch { /* gone */ }
    this.handlers.onFailure(error);
  }
}
