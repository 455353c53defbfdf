// Where the gateway's group master is: either fixed (store.address, no failover), or learnt
// from the coordinators' Topology.Watch stream (proto/hawser/coordination.proto), followed
// for the gateway's whole life: on a failed or ended stream it dials the next coordinator
// with a capped exponential backoff, keeping the last known master meanwhile (a coordinator
// going away says nothing about the stores).
import { EventEmitter } from 'node:events';
import { grpc, topologyService, CHANNEL_OPTIONS } from '@hawser/proto';
import type { GroupInfo, TopologySnapshot, WatchRequest } from '@hawser/proto';
import type { Logger } from '@hawser/observability';

export interface MasterInfo {
  id: string;
  address: string;
  epoch: number;
}

export interface MasterSource {
  /** The group's master as last known; undefined while there is none (electing, no quorum, unknown). */
  readonly master: MasterInfo | undefined;
  /** Whether sessions move to a new master by themselves (false: a failed store stream ends the client connection). */
  readonly failover: boolean;
  readonly group: string;
  /** Why there is no master, for the client's ERROR (e.g. the coordinator's "Not enough cluster members: ..."). */
  describe(): string;
  /** Calls `fn` after every change of master; returns the unsubscribe function. */
  onChange(fn: (master: MasterInfo | undefined) => void): () => void;
  stop(): void;
}

/** store.address: one fixed store, no coordinators. */
export class StaticMaster implements MasterSource {
  readonly failover = false;
  readonly master: MasterInfo;
  constructor(address: string, readonly group: string) {
    this.master = { id: address, address, epoch: 0 };
  }
  describe(): string { return `the store at ${this.master.address} is unavailable`; }
  onChange(): () => void { return () => undefined; }
  stop(): void {}
}

export interface TopologyOptions {
  coordinators: string[];
  group: string;
  log: Logger;
  /** Called on every change of master (metrics). */
  onMasterChange?: (master: MasterInfo | undefined, previous: MasterInfo | undefined) => void;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

type Watch = grpc.ClientReadableStream<TopologySnapshot>;

export class TopologyFollower implements MasterSource {
  readonly failover = true;
  readonly group: string;
  master: MasterInfo | undefined;
  /** The group as last seen (undefined until the first snapshot naming it). */
  groupInfo: GroupInfo | undefined;
  /** Snapshots received (tests). */
  snapshots = 0;
  private readonly events = new EventEmitter();
  private readonly clients = new Map<string, grpc.Client>();
  private next = 0;
  private backoff: number;
  private call: Watch | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private lastError = '';
  private connected = false;

  constructor(private readonly opts: TopologyOptions) {
    if (opts.coordinators.length === 0) throw new Error('TopologyFollower needs at least one coordinator address');
    this.group = opts.group;
    this.backoff = opts.initialBackoffMs ?? 100;
    this.events.setMaxListeners(0);
  }

  start(): this {
    this.dial();
    return this;
  }

  describe(): string {
    if (this.master) return `master ${this.master.id} at ${this.master.address}`;
    const g = this.groupInfo;
    if (g) {
      if (g.message) return g.message;
      if (g.state === 'electing') return 'election in progress';
      return `group state ${g.state || 'unknown'}, no master`;
    }
    if (!this.connected) {
      return `no coordinator reachable (${this.opts.coordinators.join(', ')})${this.lastError ? `: ${this.lastError}` : ''}`;
    }
    return `the coordinators know no group named ${this.group}`;
  }

  onChange(fn: (master: MasterInfo | undefined) => void): () => void {
    this.events.on('change', fn);
    return () => this.events.off('change', fn);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    try { this.call?.cancel(); } catch { /* gone */ }
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  // ---- the Watch stream ----------------------------------------------------------------------

  private dial(): void {
    if (this.stopped) return;
    const address = this.opts.coordinators[this.next % this.opts.coordinators.length]!;
    this.next++;
    let client = this.clients.get(address);
    if (!client) {
      const Topology = topologyService();
      client = new Topology(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
      this.clients.set(address, client);
    }
    const call = (client as unknown as { Watch(req: WatchRequest): Watch }).Watch({ group: this.group });
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
      this.backoff = Math.min(this.backoff * 2, this.opts.maxBackoffMs ?? 2_000);
      this.opts.log.warn({ coordinator: address, err: why, retryInMs: delay }, 'topology watch lost; trying the next coordinator');
      this.timer = setTimeout(() => this.dial(), delay);
      this.timer.unref();
    };
    call.on('data', (snap: TopologySnapshot) => {
      if (done) return;
      if (!this.connected) this.opts.log.info({ coordinator: address }, 'following the topology');
      this.connected = true;
      this.backoff = this.opts.initialBackoffMs ?? 100;
      this.snapshots++;
      this.apply(snap);
    });
    call.on('error', (e: grpc.ServiceError) => lost(e.details || e.message));
    call.on('end', () => lost('the coordinator ended the watch'));
  }

  /** A snapshot from the coordinator: the group's master, or none. */
  apply(snap: TopologySnapshot): void {
    const g = (snap.groups ?? []).find((x) => x.name === this.group);
    this.groupInfo = g;
    const next: MasterInfo | undefined = g && g.state === 'ok' && g.masterAddress
      ? { id: g.masterId, address: g.masterAddress, epoch: g.epoch }
      : undefined;
    const prev = this.master;
    if (prev?.address === next?.address && prev?.id === next?.id && prev?.epoch === next?.epoch) return;
    this.master = next;
    this.opts.log.info({ group: this.group, master: next, previous: prev, state: g?.state, message: g?.message }, next ? 'group master changed' : 'group has no master');
    this.opts.onMasterChange?.(next, prev);
    this.events.emit('change', next);
  }
}
