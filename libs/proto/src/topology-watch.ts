// Following the coordinators' Topology.Watch stream (proto/hawser/coordination.proto) for a
// service's whole life, as the gateway and the bridge do: one stream at a time; a failed or
// ended stream dials the next coordinator after a capped exponential backoff, and the last
// snapshot stays the caller's view meanwhile (a coordinator going away says nothing about the
// stores). The caller decides what a snapshot means (`onSnapshot`).
import * as grpc from '@grpc/grpc-js';
import { topologyService, CHANNEL_OPTIONS } from './index';
import { channelCredentials } from './credentials';
import type { TopologySnapshot, WatchRequest } from './coordination';

/** The two log calls the watch makes (pino's signature). */
export interface WatchLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface TopologyWatchOptions {
  /** Coordinator gRPC addresses, tried in turn. */
  coordinators: readonly string[];
  /** Watch one group ('' = every group). */
  group: string;
  log: WatchLog;
  onSnapshot(snapshot: TopologySnapshot): void;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

export class TopologyWatch {
  private readonly clients = new Map<string, grpc.Client>();
  private call: grpc.ClientReadableStream<TopologySnapshot> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private next = 0;
  private backoff: number;
  private stopped = false;
  /** A stream is open and has delivered a snapshot. */
  connected = false;
  /** Why the last stream ended ("address: reason"), for messages while none is open. */
  lastError = '';

  constructor(private readonly o: TopologyWatchOptions) {
    if (o.coordinators.length === 0) throw new Error('a topology watch needs at least one coordinator address');
    this.backoff = o.initialBackoffMs ?? 100;
  }

  start(): this {
    this.dial();
    return this;
  }

  /** "no coordinator reachable (a, b): <last error>" */
  unreachable(): string {
    return `no coordinator reachable (${this.o.coordinators.join(', ')})${this.lastError ? `: ${this.lastError}` : ''}`;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    try { this.call?.cancel(); } catch { /* gone */ }
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  private dial(): void {
    if (this.stopped) return;
    const address = this.o.coordinators[this.next++ % this.o.coordinators.length]!;
    let client = this.clients.get(address);
    if (!client) {
      const Topology = topologyService();
      client = new Topology(address, channelCredentials(), CHANNEL_OPTIONS);
      this.clients.set(address, client);
    }
    const call = (client as unknown as { Watch(req: WatchRequest): grpc.ClientReadableStream<TopologySnapshot> }).Watch({ group: this.o.group });
    this.call = call;
    let done = false;
    const lost = (why: string) => {
      if (done) return;
      done = true;
      if (this.call === call) this.call = undefined;
      this.connected = false;
      if (this.stopped) return;
      this.lastError = `${address}: ${why}`;
      const delay = this.backoff;
      this.backoff = Math.min(this.backoff * 2, this.o.maxBackoffMs ?? 2_000);
      this.o.log.warn({ coordinator: address, err: why, retryInMs: delay }, 'topology watch lost; trying the next coordinator');
      this.timer = setTimeout(() => this.dial(), delay);
      this.timer.unref();
    };
    call.on('data', (snap: TopologySnapshot) => {
      if (done) return;
      if (!this.connected) this.o.log.info({ coordinator: address }, 'following the topology');
      this.connected = true;
      this.backoff = this.o.initialBackoffMs ?? 100;
      this.o.onSnapshot(snap);
    });
    call.on('error', (e: grpc.ServiceError) => lost(e.details || e.message));
    call.on('end', () => lost('the coordinator ended the watch'));
  }
}
