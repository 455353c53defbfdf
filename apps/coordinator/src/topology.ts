// The topology every coordinator publishes (leader or not): Topology.Watch / Get /
// ReportMasterLost (proto/hawser/coordination.proto). A snapshot is built from the ZooKeeper
// mirror plus each member's Admin.Status, polled every status.intervalMs for its role,
// epoch and positions (lag = the master's last position - the member's). A new snapshot
// (version + 1) goes to every watcher whenever anything in it changed.
import { grpc, topologyService, SERVER_OPTIONS } from '@hawser/proto';
import type {
  TopologySnapshot, GroupInfo, MemberInfo, CoordinatorInfo, BridgeInfo, WatchRequest, MasterLost, ReportReply, StatusReply,
} from '@hawser/proto';
import { warnEvery, type Logger } from '@hawser/observability';
import type { Links } from './members';
import type { ZkMirror, GroupRecord } from './zk-mirror';

export interface TopologySource {
  mirror(): ZkMirror | undefined;
  stateOf(g: GroupRecord): { state: string; message: string };
  replicasOf(g: GroupRecord): number;
  isLeader(): boolean;
  /** Acts on a report (leader) or forwards it to the leader (follower). */
  reportMasterLost(req: MasterLost): Promise<boolean>;
}

interface Polled { status: StatusReply; at: number; behindSince?: number }

export class Topology {
  private current: TopologySnapshot = { version: 0, groups: [], coordinators: [], gateways: [], bridges: [] };
  private currentKey = '';
  private readonly watchers = new Set<{ group: string; call: grpc.ServerWritableStream<WatchRequest, TopologySnapshot> }>();
  private readonly polled = new Map<string, Polled>();
  private publishTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private polling = false;
  private readonly warn: ReturnType<typeof warnEvery>;
  onPublish: (s: TopologySnapshot) => void = () => undefined;

  constructor(private readonly src: TopologySource, private readonly links: Links, private readonly statusIntervalMs: number, private readonly log: Logger) {
    this.warn = warnEvery(log, 30_000);
  }

  get snapshot(): TopologySnapshot { return this.current; }
  get watcherCount(): number { return this.watchers.size; }

  statusOf(group: string, id: string): StatusReply | undefined {
    return this.polled.get(`${group}/${id}`)?.status;
  }

  startPolling(onStatusChange: (group: string) => void): void {
    const tick = async () => {
      if (this.polling) return;
      this.polling = true;
      try { await this.pollOnce(onStatusChange); } finally { this.polling = false; }
    };
    this.pollTimer = setInterval(() => void tick(), this.statusIntervalMs);
    this.pollTimer.unref();
    void tick();
  }

  private async pollOnce(onStatusChange: (group: string) => void): Promise<void> {
    const m = this.src.mirror();
    if (!m) return;
    const seen = new Set<string>();
    const addresses = new Set<string>();
    const jobs: Array<Promise<void>> = [];
    for (const g of m.groups.values()) {
      for (const mem of g.members.values()) {
        if (!mem.address) continue;
        const key = `${g.name}/${mem.id}`;
        seen.add(key);
        addresses.add(mem.address);
        jobs.push(this.links.status(mem.address, Math.min(1000, Math.max(200, this.statusIntervalMs))).then((st) => {
          const prev = this.polled.get(key);
          this.polled.set(key, { status: st, at: Date.now(), behindSince: prev?.behindSince });
          if (!prev || prev.status.role !== st.role || prev.status.epoch !== st.epoch
            || prev.status.commitPosition !== st.commitPosition || prev.status.lastPosition !== st.lastPosition) onStatusChange(g.name);
        }, (e: Error) => {
          this.warn(`status ${key}`, { group: g.name, member: mem.id, address: mem.address, err: e.message }, 'Admin.Status poll failed');
          if (this.polled.delete(key)) onStatusChange(g.name);
        }));
      }
    }
    await Promise.all(jobs);
    for (const key of [...this.polled.keys()]) if (!seen.has(key)) this.polled.delete(key);
    for (const c of m.coordinators.values()) if (c.address) addresses.add(c.address);
    this.links.retain(addresses);
  }

  /** Schedules a rebuild (coalesced: many changes in one tick make one snapshot). */
  changed(): void {
    if (this.publishTimer) return;
    this.publishTimer = setTimeout(() => { this.publishTimer = undefined; this.rebuild(); }, 5);
  }

  private group(g: GroupRecord): GroupInfo {
    const { state, message } = this.src.stateOf(g);
    const master = g.master;
    const masterMember = master ? g.members.get(master.id) : undefined;
    const masterLast = master ? this.polled.get(`${g.name}/${master.id}`)?.status.lastPosition : undefined;
    const now = Date.now();
    const members: MemberInfo[] = [...g.members.values()].sort((a, b) => (a.id < b.id ? -1 : 1)).map((m) => {
      const p = this.polled.get(`${g.name}/${m.id}`);
      const isMaster = state !== 'electing' && master?.id === m.id && master.epoch === g.epoch && masterMember?.czxid === m.czxid;
      const last = p?.status.lastPosition ?? 0;
      const lagEntries = masterLast !== undefined && p && masterLast > last ? masterLast - last : 0;
      if (p) p.behindSince = lagEntries > 0 ? (p.behindSince ?? now) : undefined;
      return {
        id: m.id, address: m.address,
        role: p?.status.role || (isMaster ? 'master' : state === 'ok' ? 'slave' : 'candidate'),
        epoch: p?.status.epoch ?? 0,
        commitPosition: p?.status.commitPosition ?? 0,
        lastPosition: last,
        lagEntries,
        // seconds since it fell behind, to a resolution of the poll interval
        lagSeconds: p?.behindSince ? Math.round((now - p.behindSince) / 100) / 10 : 0,
        pid: m.pid || p?.status.pid || 0,
        weight: m.weight,
        httpPort: m.httpPort,
      };
    });
    // A recorded master that says it is fenced (out of reach of ZooKeeper, or stepping down) is
    // not named: gateways then wait for the next snapshot naming a master — this one serving
    // again in its epoch (docs/reliability.md D6) or a new one — instead of retrying it.
    const fenced = !!master && this.polled.get(`${g.name}/${master.id}`)?.status.role === 'fenced';
    const showMaster = !!master && state !== 'electing' && master.epoch === g.epoch && g.members.has(master.id) && !fenced;
    return {
      name: g.name, state, epoch: g.epoch,
      masterId: showMaster ? master!.id : '', masterAddress: showMaster ? master!.address : '',
      replicas: this.src.replicasOf(g), members,
      message: fenced && state === 'ok' ? `master ${master!.id} of epoch ${g.epoch} is fenced (out of reach of ZooKeeper, or stepping down); ${message}` : message,
    };
  }

  private rebuild(): void {
    const m = this.src.mirror();
    const groups = m ? [...m.groups.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map((g) => this.group(g)) : this.current.groups;
    const coordinators: CoordinatorInfo[] = m
      ? [...m.coordinators.values()].map((c, i) => ({ id: c.id, address: c.address, leader: i === 0, pid: c.pid, httpPort: c.httpPort }))
      : this.current.coordinators;
    const gateways = m ? [...m.gateways.values()] : this.current.gateways;
    // per link in name order, its lock znodes in sequence order: the first holds the lock
    const bridges: BridgeInfo[] = m
      ? [...m.bridges.keys()].sort().flatMap((link) => m.bridges.get(link)!.map((b, i) => ({
        id: b.id, link, active: i === 0, pid: b.pid, host: b.host, httpPort: b.httpPort, groups: b.groups,
      })))
      : this.current.bridges ?? [];
    const next = { groups, coordinators, gateways, bridges };
    // lagSeconds moves with the clock: leave it out of the comparison so an idle cluster is quiet
    const key = JSON.stringify(next, (k, v: unknown) => (k === 'lagSeconds' ? undefined : v));
    if (key === this.currentKey) return;
    this.currentKey = key;
    this.current = { version: this.current.version + 1, ...next };
    for (const w of this.watchers) this.send(w.call, w.group);
    this.onPublish(this.current);
  }

  private filtered(group: string): TopologySnapshot {
    if (!group) return this.current;
    return {
      ...this.current,
      groups: this.current.groups.filter((g) => g.name === group),
      gateways: this.current.gateways.filter((g) => !g.group || g.group === group),
      // the bridges touching the group (a bridge that published no groups is kept)
      bridges: (this.current.bridges ?? []).filter((b) => !b.groups?.length || b.groups.includes(group)),
    };
  }

  private send(call: grpc.ServerWritableStream<WatchRequest, TopologySnapshot>, group: string): void {
    try { call.write(this.filtered(group)); } catch { /* stream closing */ }
  }

  /** The Topology service implementation for a grpc.Server. */
  service(): grpc.UntypedServiceImplementation {
    return {
      Watch: (call: grpc.ServerWritableStream<WatchRequest, TopologySnapshot>) => {
        const w = { group: call.request?.group ?? '', call };
        this.watchers.add(w);
        const done = () => { this.watchers.delete(w); };
        call.on('cancelled', done);
        call.on('close', done);
        call.on('error', done);
        this.send(call, w.group);
      },
      Get: (call: grpc.ServerUnaryCall<WatchRequest, TopologySnapshot>, cb: grpc.sendUnaryData<TopologySnapshot>) => {
        cb(null, this.filtered(call.request?.group ?? ''));
      },
      ReportMasterLost: (call: grpc.ServerUnaryCall<MasterLost, ReportReply>, cb: grpc.sendUnaryData<ReportReply>) => {
        this.src.reportMasterLost(call.request).then(
          (accepted) => cb(null, { accepted }),
          (e: Error) => { this.log.warn({ err: e.message }, 'ReportMasterLost failed'); cb(null, { accepted: false }); },
        );
      },
    };
  }

  /** Ends every Watch stream (shutdown). */
  close(): void {
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.publishTimer) clearTimeout(this.publishTimer);
    for (const w of this.watchers) { try { w.call.end(); } catch { /* gone */ } }
    this.watchers.clear();
  }
}

export function topologyServiceDefinition(): grpc.ServiceDefinition {
  return topologyService().service;
}

export { SERVER_OPTIONS };
