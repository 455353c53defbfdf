// Where each linked group's master is: fixed addresses (`stores`, standalone groups), or the
// coordinators' Topology.Watch stream (proto/hawser/coordination.proto), followed for the
// bridge's whole life by @hawser/proto's TopologyWatch (next coordinator after a capped
// backoff; the last known masters stay meanwhile).
import { EventEmitter } from 'node:events';
import { TopologyWatch, type TopologySnapshot } from '@hawser/proto';
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
  private readonly watch: TopologyWatch;

  constructor(coordinators: string[], private readonly groups: readonly string[], private readonly log: Logger) {
    this.events.setMaxListeners(0);
    this.watch = new TopologyWatch({ coordinators, group: '', log, onSnapshot: (snap) => this.apply(snap) });
  }

  master(group: string): MasterInfo | undefined { return this.masters.get(group); }

  describe(group: string): string {
    const m = this.masters.get(group);
    if (m) return `master ${m.id} at ${m.address}`;
    if (!this.watch.connected) return this.watch.unreachable();
    return this.messages.get(group) || `group ${group} has no master`;
  }

  onChange(fn: (group: string, master: MasterInfo | undefined) => void): void { this.events.on('change', fn); }

  start(): void { this.watch.start(); }

  stop(): void { this.watch.stop(); }

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
