// What the page shows, as plain data, and how it changes: the topology as the coordinators
// publish it, joined with what the console measured itself (health and numbers from /metrics,
// destinations from the masters' Admin.Destinations), and the log of what happened to each
// group (elections as they happen). Pure: snapshots and samples in, view out — no I/O here.
import type { DestinationInfo, TopologySnapshot } from '@hawser/proto';

export type Health = 'up' | 'down' | 'unknown';

export interface MemberView {
  id: string; address: string; role: string; epoch: number; commitPosition: number; lastPosition: number;
  lagEntries: number; lagSeconds: number; pid: number; httpPort: number; health: Health;
}
export interface GroupView {
  name: string; state: string; epoch: number; masterId: string; masterAddress: string; replicas: number; message: string;
  members: MemberView[];
}
export interface DestinationView extends DestinationInfo {
  group: string;
  kind: 'queue' | 'topic' | 'durable' | 'other';
  dlq: boolean;
  /** messages per second over the last poll (undefined: not measured yet). */
  enqueueRate?: number;
  dequeueRate?: number;
}
export interface EventView { at: number; group: string; text: string; kind: 'election' | 'master' | 'state' | 'member' }

export interface ClusterView {
  at: number;
  /** Where the topology comes from. */
  source: 'coordinators' | 'stores';
  /** The topology is current (a watch is open / the stores answered). */
  connected: boolean;
  error: string;
  version: number;
  groups: GroupView[];
  coordinators: Array<{ id: string; address: string; leader: boolean; pid: number; httpPort: number; health: Health }>;
  gateways: Array<{ id: string; group: string; node: string; host: string; stompPort: number; wsPort: number; httpPort: number; pid: number; health: Health; connections: Record<string, number> }>;
  bridges: Array<{ id: string; link: string; active: boolean; groups: string[]; host: string; httpPort: number; pid: number; health: Health; forwardedPerSecond?: number }>;
  destinations: DestinationView[];
  /** Groups whose destinations could not be read, with why. */
  destinationErrors: Record<string, string>;
  events: EventView[];
  deadLetterQueue: string;
}

/** Fills what proto3 defaults may leave out. */
export function normalize(s: Partial<TopologySnapshot>): TopologySnapshot {
  return {
    version: s.version ?? 0,
    groups: (s.groups ?? []).map((g) => ({ ...g, members: g.members ?? [] })),
    coordinators: s.coordinators ?? [],
    gateways: s.gateways ?? [],
    bridges: (s.bridges ?? []).map((b) => ({ ...b, groups: b.groups ?? [] })),
  };
}

export function destinationKind(name: string): DestinationView['kind'] {
  if (name.startsWith('/queue/')) return 'queue';
  if (name.startsWith('/topic/')) return 'topic';
  if (name.startsWith('durable:')) return 'durable';
  return 'other';
}

/** A dead-letter queue: the store's configured one, or any queue named like one (ActiveMQ's DLQ.* / *.DLQ). */
export function isDlq(name: string, deadLetterQueue: string): boolean {
  if (name === deadLetterQueue) return true;
  return /^\/queue\/(.*\.)?DLQ(\..*)?$/.test(name);
}

/**
 * What changed between two snapshots that an operator wants to see happen: a group's state
 * (ok -> electing -> ok), a new master or epoch, members joining and leaving.
 */
export function topologyEvents(prev: TopologySnapshot | undefined, next: TopologySnapshot, at: number, lastMaster: Map<string, string> = new Map()): EventView[] {
  const out: EventView[] = [];
  const before = new Map((prev?.groups ?? []).map((g) => [g.name, g]));
  for (const g of next.groups) {
    const p = before.get(g.name);
    if (!p) {
      out.push({ at, group: g.name, kind: 'state', text: `group ${g.name}: ${g.state}${g.masterId ? `, master ${g.masterId} (epoch ${g.epoch})` : ''}` });
      continue;
    }
    const gone = p.members.filter((m) => !g.members.some((x) => x.id === m.id));
    const came = g.members.filter((m) => !p.members.some((x) => x.id === m.id));
    for (const m of gone) out.push({ at, group: g.name, kind: 'member', text: `${m.id} left the group${m.id === p.masterId ? ' (it was the master)' : ''}` });
    for (const m of came) out.push({ at, group: g.name, kind: 'member', text: `${m.id} joined the group` });
    if (p.state !== g.state) {
      out.push({ at, group: g.name, kind: g.state === 'electing' ? 'election' : 'state', text: `state ${p.state} -> ${g.state}${g.message ? `: ${g.message}` : ''}` });
    }
    if (p.masterId !== g.masterId) {
      // "was": the last master the group had, also across a moment without one (an election).
      const was = p.masterId || lastMaster.get(g.name) || '';
      out.push({
        at, group: g.name, kind: 'master',
        text: g.masterId ? `${g.masterId} is master in epoch ${g.epoch}${was ? ` (was ${was})` : ''}` : `no master (was ${p.masterId})`,
      });
    } else if (p.epoch !== g.epoch) {
      out.push({ at, group: g.name, kind: 'election', text: `epoch ${p.epoch} -> ${g.epoch}` });
    }
  }
  for (const g of prev?.groups ?? []) if (g.masterId) lastMaster.set(g.name, g.masterId);
  for (const p of prev?.groups ?? []) {
    if (!next.groups.some((g) => g.name === p.name)) out.push({ at, group: p.name, kind: 'state', text: `group ${p.name} is gone from the topology` });
  }
  return out;
}
