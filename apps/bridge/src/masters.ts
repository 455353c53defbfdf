// Where each linked group's master is: fixed addresses (`stores`, standalone groups), or the
// coordinators' Topology.Watch stream (proto/hawser/coordination.proto), followed for the
// bridge's whole life. A failed or ended watch dials the next coordinator with a capped
// backoff and keeps the last known masters meanwhile (a coordinator going away says nothing
// about the stores).
import { EventEmitter } from 'node:events';
import { grpc, topologyService, CHANNEL_OPTIONS } from '@hawser/proto';
import type { TopologySnapshot, WatchRequest } from '@hawser/proto';
import type { Logger } from '@hawser/observability';

export interface MasterInfo { id: string; address: string; epoch: number }

export interface MasterDirectory {
  master(group: string): MasterInfo | undefined;
  /** Why `group` has no master (logs). */
  describe(group: string): string;
  /** Called with the group after each change of its master. */
  onChange(fn: (group: string, master: MasterInfo | undefined) => void): void;
  start(): void;
  stop(): void;
}

/** `stores`: "g1=127.0.0.1:61620,g2=127.0.0.1:61621" — one fixed store per group, no failover. */
export class StaticMasters implements MasterDirectory {
  private readonly masters = new Map<string, MasterInfo>();
  constructor(entries: Record<string, string>) {
    for (const [g, address] of Object.entries(entries)) this.masters.set(g, { id: address, address, epoch: 0 });
  }
  master(group: string): MasterInfo | undefined { return this.masters.get(group); }
  describe(group: string): string { return this.masters.has(group) ? 'static store' : `no store address configured for group ${group} (stores)`; }
  onChange(): void {}
  start(): void {}
  stop(): void {}
}

export class TopologyMasters implements MasterDirectory {
  private readonly masters = new Map<string, MasterInfo>();
  private readonly messages = new Map<string, string>();
  private readonly events = new EventEmitter();
  private readonly clients = new Map<string, grpc.Client>();
  private call: grpc.ClientReadableStream<TopologySnapshot> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private next = 0;
  private backoff = 100;
  private stopped = false;
  private connected = false;
  private lastError = '';

  constructor(private readonly coordinators: string[], private readonly groups: readonly string[], private readonly log: Logger) {
    this.events.setMaxListeners(0);
  }

  master(group: string): MasterInfo | undefined { return this.masters.get(group); }

  describe(group: string): string {
    const m = this.masters.get(group);
    if (m) return `master ${m.id} at ${m.address}`;
    if (!this.connected) return `no coordinator reachable (${this.coordinators.join(', ')})${this.lastError ? `: ${this.lastError}` : ''}`;
    return this.messages.get(group) || `group ${group} has no master`;
  }

  onChange(fn: (group: string, master: MasterInfo | undefined) => void): void { this.events.on('change', fn); }

  start(): void { this.dial(); }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    try { this.call?.cancel(); } catch { /* gone */ }
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  private dial(): void {
    if (this.stopped) return;
    const address = this.coordinators[this.next++ % this.coordinators.length]!;
    let client = this.clients.get(address);
    if (!client) {
      const Topology = topologyService();
      client = new Topology(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
      this.clients.set(address, client);
    }
    const call = (client as unknown as { Watch(req: WatchRequest): grpc.ClientReadableStream<TopologySnapshot> }).Watch({ group: '' });
    this.call = call;
    let done = false;
    const lost = (why: string) => {
      if (done) return;
      done = true;
      this.connected = false;
      if (this.stopped) return;
      this.lastError = `${address}: ${why}`;
      const delay = this.backoff;
      this.backoff = Math.min(this.backoff * 2, 2_000);
      this.log.warn({ coordinator: address, err: why, retryInMs: delay }, 'topology watch lost; trying the next coordinator');
      this.timer = setTimeout(() => this.dial(), delay);
      this.timer.unref();
    };
    call.on('data', (snap: TopologySnapshot) => {
      if (done) return;
      if (!this.connected) this.log.info({ coordinator: address }, 'following the topology');
      this.connected = true;
      this.backoff = 100;
      this.apply(snap);
    });
    call.on('error', (e: grpc.ServiceError) => lost(e.details || e.message));
    call.on('end', () => lost('the coordinator ended the watch'));
  }

  /** A snapshot: each linked group's master, or none. */
  apply(snap: TopologySnapshot): void {
    for (const group of this.groups) {
      const g = (snap.groups ?? []).find((x) => x.name === group);
      this.messages.set(group, g?.message || (g ? `group state ${g.state}` : 'the coordinators know no such group'));
      const next = g && g.state === 'ok' && g.masterAddress ? { id: g.masterId, address: g.masterAddress, epoch: g.epoch } : undefined;
      const prev = this.masters.get(group);
      if (prev?.address === next?.address && prev?.id === next?.id && prev?.epoch === next?.epoch) continue;
      if (next) this.masters.set(group, next);
      else this.masters.delete(group);
      this.log.info({ group, master: next, previous: prev, state: g?.state }, next ? 'group master changed' : 'group has no master');
      this.events.emit('change', group, next);
    }
  }
}

/** Parses `stores` ("g1=host:port,g2=host:port"). */
export function parseStores(list: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    if (eq <= 0 || eq === item.length - 1) throw new Error(`expected group=host:port, got '${item}'`);
    out[item.slice(0, eq).trim()] = item.slice(eq + 1).trim();
  }
  return out;
}
