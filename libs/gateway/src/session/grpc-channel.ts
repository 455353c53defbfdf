// Session channels over gRPC: every session of this gateway to one master travels on ONE
// Broker.Sessions stream (proto/hawser/broker.proto), named by a number this gateway picks.
//
// Requests of all sessions made during one event-loop turn go out as ONE MuxRequests message,
// and the store answers a turn's events for all of them in one MuxEvents: a hundred clients
// cost one write per turn, not a hundred, and an HTTP/2 stream per client is gone. A client
// that reads slowly is paused on its own (its events are held here, bounded by its prefetch);
// the shared stream is never paused for one client.
import { grpc, brokerService, channelCredentials, BATCH_BYTES, CHANNEL_OPTIONS, FRESH_CHANNEL_OPTIONS } from '@hawser/proto';
import type { MuxEvents, MuxRequest, MuxRequests } from '@hawser/proto';
import { ChannelError, makeRequest, PushedEvents, type ChannelHandlers, type Payloads, type SessionChannel } from './channel';

/** The gRPC client of a store. */
export function createBrokerClient(address: string, replacesFailed = false): grpc.Client {
  const Broker = brokerService();
  return new Broker(address, channelCredentials(), replacesFailed ? FRESH_CHANNEL_OPTIONS : CHANNEL_OPTIONS);
}

/** One Broker client (HTTP/2 connection) and one Sessions stream per store address. */
export class GrpcChannels {
  private readonly streams = new Map<string, MuxStream>();

  open(address: string, handlers: ChannelHandlers): SessionChannel { return this.streamTo(address, true).open(handlers); }

  /**
   * Starts connecting to `address` without a stream: a session moved there after an election
   * need not wait for TCP, TLS and HTTP/2 first (up to 1-1.9 s on a loaded machine in the chaos
   * runs, the first time a gateway met a new master). Idempotent: a connected channel stays as is.
   */
  warm(address: string): void { this.streamTo(address, true).client.getChannel().getConnectivityState(true); }

  /** The channel's connectivity state (tests). */
  state(address: string): grpc.connectivityState | undefined {
    return this.streams.get(address)?.client.getChannel().getConnectivityState(false);
  }

  healthy(address: string): boolean {
    return this.streamTo(address).client.getChannel().getConnectivityState(true) !== grpc.connectivityState.TRANSIENT_FAILURE;
  }

  /**
   * The stream (and channel) to `address`. `fresh`: a channel that failed while nothing used it
   * (the store there was down) is replaced — grpc-js would wait out its reconnect backoff (up to
   * grpc.max_reconnect_backoff_ms, 1 s) before trying the store again, and a session moving to
   * a store that came back on that address would wait with it (the 0.4-0.8 s outliers of
   * benchmarks' failover rounds). A new channel connects at once; the callers' own retries pace it.
   */
  private streamTo(address: string, fresh = false): MuxStream {
    let s = this.streams.get(address);
    let replaced = false;
    if (s && fresh && s.unused && s.client.getChannel().getConnectivityState(false) === grpc.connectivityState.TRANSIENT_FAILURE) {
      s.close();
      this.streams.delete(address);
      s = undefined;
      replaced = true;
    }
    if (!s) {
      s = new MuxStream(createBrokerClient(address, replaced));
      this.streams.set(address, s);
    }
    return s;
  }

  /** Sessions open per store address (tests, metrics). */
  sessionCount(address: string): number { return this.streams.get(address)?.size ?? 0; }

  close(): void {
    for (const s of this.streams.values()) s.close();
    this.streams.clear();
  }
}

type Duplex = grpc.ClientDuplexStream<MuxRequests, MuxEvents>;

/** One Broker.Sessions stream and the sessions on it. Opened with the first session, again after a failure. */
class MuxStream {
  private call: Duplex | undefined;
  private readonly sessions = new Map<number, MuxChannel>();
  private pending: MuxRequest[] = [];
  private scheduled = false;
  private nextId = 1;

  constructor(readonly client: grpc.Client) {}

  get size(): number { return this.sessions.size; }

  /** No session and no stream on it. */
  get unused(): boolean { return this.sessions.size === 0 && !this.call; }

  open(handlers: ChannelHandlers): MuxChannel {
    const ch = new MuxChannel(this, this.nextId++, handlers);
    this.sessions.set(ch.id, ch);
    return ch;
  }

  /** The stream, started if there is none. */
  ensure(): void {
    if (this.call) return;
    const call = (this.client as unknown as { Sessions(): Duplex }).Sessions();
    this.call = call;
    call.on('data', (batch: MuxEvents) => {
      for (const it of batch.items ?? []) {
        const ch = this.sessions.get(Number(it.session));
        if (!ch) continue; // ended here already
        if (it.end) {
          this.sessions.delete(ch.id);
          ch.storeEnded();
        } else if (it.event) {
          ch.event(it.event);
        }
      }
    });
    const lost = (why: string, cause?: unknown) => {
      if (this.call !== call) return;
      this.call = undefined;
      this.pending = [];
      const sessions = [...this.sessions.values()];
      this.sessions.clear();
      for (const ch of sessions) ch.lost(new ChannelError(why, { cause }));
    };
    call.on('error', (e: grpc.ServiceError) => lost(e.details || e.message, e));
    call.on('end', () => lost('the store ended the sessions stream'));
    call.on('drain', () => { for (const ch of this.sessions.values()) ch.drained(); });
  }

  enqueue(item: MuxRequest): void {
    this.pending.push(item);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** A session ended here: no more of its events are taken. */
  forget(id: number): void { this.sessions.delete(id); }

  private flush(): void {
    this.scheduled = false;
    const call = this.call;
    if (!call || this.pending.length === 0) return;
    const pending = this.pending;
    this.pending = [];
    try {
      // Cut at BATCH_BYTES of message bodies: a turn of 64 MiB SENDs is not one gRPC message.
      let full = false;
      for (const items of cutBatches(pending)) if (!call.write({ items })) full = true;
      if (full) for (const ch of this.sessions.values()) ch.blocked();
    } catch (e) {
      call.emit('error', Object.assign(new Error(`write failed: ${(e as Error).message}`), { code: grpc.status.UNAVAILABLE }));
    }
  }

  close(): void {
    const call = this.call;
    this.call = undefined;
    this.sessions.clear();
    this.pending = [];
    try { call?.cancel(); } catch { /* gone */ }
    this.client.close();
  }
}

class MuxChannel extends PushedEvents implements SessionChannel {
  constructor(private readonly stream: MuxStream, readonly id: number, handlers: ChannelHandlers) { super(handlers); }

  start(): void { this.stream.ensure(); }

  request<K extends keyof Payloads>(kind: K, payload: Payloads[K], requestId = 0): void {
    if (this.ended || this.closed) return;
    this.stream.enqueue({ session: this.id, request: makeRequest(kind, payload, requestId) });
  }

  /** The master settles the session (what the client had not acked comes back). */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.closed = true;
    this.dropHeld();
    this.stream.forget(this.id);
    this.stream.enqueue({ session: this.id, end: true });
  }

  cancel(): void { this.end(); }

  // ---- from the stream ----
  event(ev: Parameters<ChannelHandlers['onEvent']>[0]): void { this.pushEvents([ev]); }
  storeEnded(): void { this.pushEnd(); }
  lost(err: ChannelError): void { this.pushFailure(err); }
  blocked(): void { if (!this.closed) this.handlers.onBackpressure?.(); }
  drained(): void { if (!this.closed) this.handlers.onDrain?.(); }
}

/** Requests in batches of at most BATCH_BYTES of SEND bodies (a batch holds one request at least). */
function cutBatches(items: MuxRequest[]): MuxRequest[][] {
  const out: MuxRequest[][] = [];
  let batch: MuxRequest[] = [];
  let bytes = 0;
  for (const it of items) {
    const r = it.request;
    const n = r?.kind === 'send' ? r.send.message?.body?.length ?? 0 : 0;
    if (batch.length && bytes + n > BATCH_BYTES) { out.push(batch); batch = []; bytes = 0; }
    batch.push(it);
    bytes += n;
  }
  if (batch.length) out.push(batch);
  return out;
}
