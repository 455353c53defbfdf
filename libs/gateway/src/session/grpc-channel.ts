// A session channel over gRPC: one client's Broker.Session stream to a master in another
// process (proto/hawser/broker.proto).
//
// Requests are batched: everything a connection asks for during one event-loop turn goes
// out as ONE SessionRequests message (the contract's "one gRPC message per turn"), so a
// client pipelining a hundred SENDs costs one write, not a hundred.
import { grpc, brokerService, CHANNEL_OPTIONS } from '@hawser/proto';
import type { SessionRequest, SessionRequests, SessionEvents } from '@hawser/proto';
import { ChannelError, makeRequest, type ChannelHandlers, type Payloads, type SessionChannel } from './channel';

/** The gRPC client of a store. */
export function createBrokerClient(address: string): grpc.Client {
  const Broker = brokerService();
  return new Broker(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
}

/** One Broker client (HTTP/2 connection) per store address, shared by every session to that store. */
export class GrpcChannels {
  private readonly clients = new Map<string, grpc.Client>();

  open(address: string, handlers: ChannelHandlers): SessionChannel {
    let c = this.clients.get(address);
    if (!c) {
      c = createBrokerClient(address);
      this.clients.set(address, c);
    }
    return new GrpcChannel(c, handlers);
  }

  healthy(address: string): boolean {
    let c = this.clients.get(address);
    if (!c) {
      c = createBrokerClient(address);
      this.clients.set(address, c);
    }
    return c.getChannel().getConnectivityState(true) !== grpc.connectivityState.TRANSIENT_FAILURE;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

type Duplex = grpc.ClientDuplexStream<SessionRequests, SessionEvents>;

export class GrpcChannel implements SessionChannel {
  private call: Duplex | undefined;
  private pending: SessionRequest[] = [];
  private scheduled = false;
  private ended = false;
  private failed = false;

  constructor(private readonly client: grpc.Client, private readonly handlers: ChannelHandlers) {}

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
      this.fail(new ChannelError(e.details || e.message, { cause: e }));
    });
    call.on('end', () => {
      if (!this.ended) this.fail(new ChannelError('the store ended the session'));
    });
    call.on('drain', () => this.handlers.onDrain?.());
  }

  request<K extends keyof Payloads>(kind: K, payload: Payloads[K], requestId = 0): void {
    if (this.ended || this.failed) return;
    this.pending.push(makeRequest(kind, payload, requestId));
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
      this.fail(new ChannelError(`write failed: ${(e as Error).message}`, { cause: e }));
    }
  }

  /** HTTP/2 flow control does the rest. */
  pause(): void { this.call?.pause(); }
  resume(): void { this.call?.resume(); }

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

  cancel(): void {
    this.ended = true;
    this.pending = [];
    try { this.call?.cancel(); } catch { /* ignore */ }
  }

  private fail(error: ChannelError): void {
    if (this.failed || this.ended) return;
    this.failed = true;
    this.pending = [];
    try { this.call?.cancel(); } catch { /* ignore */ }
    this.handlers.onFailure(error);
  }
}
