// Where the gateway's group master is: either fixed (store.address, no failover), or learnt
// from the coordinators' Topology.Watch stream (proto/hawser/coordination.proto), followed
// for the gateway's whole life by @hawser/proto's TopologyWatch (next coordinator after a
// capped backoff; the last known master stays meanwhile).
import { EventEmitter } from 'node:events';
import { TopologyWatch, type GroupInfo, type TopologySnapshot } from '@hawser/proto';
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
  /** Called with the group's member addresses on every snapshot (channels connect ahead to them). */
  onMembers?: (addresses: string[]) => void;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

export class TopologyFollower implements MasterSource {
  readonly failover = true;
  readonly group: string;
  master: MasterInfo | undefined;
  /** The group as last seen (undefined until the first snapshot naming it). */
  groupInfo: GroupInfo | undefined;
  /** Snapshots received (tests). */
  snapshots = 0;
  private readonly events = new EventEmitter();
  private readonly watch: TopologyWatch;

  constructor(private readonly opts: TopologyOptions) {
    if (opts.coordinators.length === 0) throw new Error('TopologyFollower needs at least one coordinator address');
    this.group = opts.group;
    this.events.setMaxListeners(0);
    this.watch = new TopologyWatch({
      coordinators: opts.coordinators, group: opts.group, log: opts.log,
      initialBackoffMs: opts.initialBackoffMs, maxBackoffMs: opts.maxBackoffMs,
      onSnapshot: (snap) => { this.snapshots++; this.apply(snap); },
    });
  }

  start(): this {
    this.watch.start();
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
    if (!this.watch.connected) return this.watch.unreachable();
    return `the coordinators know no group named ${this.group}`;
  }

  onChange(fn: (master: MasterInfo | undefined) => void): () => void {
    this.events.on('change', fn);
    return () => this.events.off('change', fn);
  }

  stop(): void { this.watch.stop(); }

  /** A snapshot from the coordinator: the group's master, or none. */
  apply(snap: TopologySnapshot): void {
    const g = (snap.groups ?? []).find((x) => x.name === this.group);
    this.groupInfo = g;
    if (g && this.opts.onMembers) this.opts.onMembers((g.members ?? []).map((m) => m.address).filter(Boolean));
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
