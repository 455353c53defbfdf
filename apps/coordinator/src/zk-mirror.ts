// The coordinator's in-memory copy of the cluster's ZooKeeper state, kept current with
// one-shot watches (re-set on every read). Layout (proto/hawser/coordination.proto header):
//   <zkPath>/coordinators/c-<seq>            CoordinatorInfo JSON (ephemeral sequential)
//   <zkPath>/groups/<group>/members/<nodeId> MemberInfo JSON + "replicas" (ephemeral, the store's session)
//   <zkPath>/groups/<group>/epoch            decimal epoch (the fencing token)
//   <zkPath>/groups/<group>/master           {"id","address","epoch"} JSON
//   <zkPath>/gateways/<gatewayId>            GatewayInfo JSON (ephemeral)
//   <zkPath>/bridges/<link>/lock-<seq>       a bridge process's lock znode (ephemeral sequential):
//                                            {id,pid,host,httpPort,link,groups} JSON (apps/bridge/src/lock.ts)
// Every coordinator (leader or not) runs one; it emits 'change' with what changed.
import { EventEmitter } from 'node:events';
import { ZkError, type ZkClient, type Watcher } from '@hawser/zk';
import type { GatewayInfo } from '@hawser/proto';
import type { MasterRecord } from '@hawser/election';
import type { Logger } from '@hawser/observability';

/** A store's member znode. */
export interface MemberRecord {
  id: string;
  /** creation zxid of the znode: a new value means the store re-registered (restarted) */
  czxid: number;
  address: string;
  replicas?: number;
  weight: number;
  pid: number;
  httpPort: number;
  role: string;
}

/** The master znode; `czxid` (our addition) names the member znode that was elected. */
export interface MasterZnode extends MasterRecord { czxid?: number }

export interface GroupRecord {
  name: string;
  members: Map<string, MemberRecord>;
  epoch: number;
  /** znode version of epoch (-1: no epoch znode) */
  epochVersion: number;
  master?: MasterZnode;
}

export interface CoordinatorRecord { node: string; id: string; address: string; pid: number; httpPort: number }

/** One bridge lock znode. The lowest sequence of its link holds the lock (is active). */
export interface BridgeRecord {
  /** znode name, lock-<seq> */
  node: string;
  link: string;
  id: string;
  pid: number;
  host: string;
  httpPort: number;
  groups: string[];
}

export type MirrorChange = { kind: 'group'; group: string } | { kind: 'coordinators' } | { kind: 'gateways' } | { kind: 'bridges'; link: string };

function num(v: unknown, def = 0): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : def;
}

function parseJson(data: Buffer): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(data.toString('utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The sequence number ZooKeeper appended to an ephemeral sequential znode's name. */
function seqOf(node: string): number {
  const m = /(\d+)$/.exec(node);
  return m ? Number(m[1]) : Number.MAX_SAFE_INTEGER;
}

export class ZkMirror extends EventEmitter {
  readonly coordinators = new Map<string, CoordinatorRecord>();
  readonly groups = new Map<string, GroupRecord>();
  readonly gateways = new Map<string, GatewayInfo>();
  /** link -> its lock znodes in sequence order (the first is active) */
  readonly bridges = new Map<string, BridgeRecord[]>();
  private readonly seqs = new Map<string, number>();
  /** link -> number of the latest readLocks started: an older read finishing later must not win */
  private readonly lockReads = new Map<string, number>();
  private nextSeq = 1;
  private closed = false;

  constructor(private readonly zk: ZkClient, private readonly root: string, private readonly only: readonly string[], private readonly log: Logger) {
    super();
  }

  /** Reads everything once (with watches); resolves when the first full view is in memory. */
  async start(): Promise<void> {
    await Promise.all([
      this.track(`${this.root}/coordinators`, (w) => this.readCoordinators(w)),
      this.track(`${this.root}/gateways`, (w) => this.readGateways(w)),
      this.track(`${this.root}/bridges`, (w) => this.readLinks(w)),
      this.track(`${this.root}/groups`, (w) => this.readGroups(w)),
    ]);
  }

  close(): void {
    this.closed = true;
    this.seqs.clear();
  }

  private changed(c: MirrorChange): void {
    if (!this.closed) this.emit('change', c);
  }

  // Runs `read` with a watch that re-runs it; a newer track()/untrack() of the same path
  // silences older watches, so a path never has two live loops.
  private track(path: string, read: (watch: Watcher) => Promise<void>): Promise<void> {
    const seq = this.nextSeq++;
    this.seqs.set(path, seq);
    const again = () => { if (!this.closed && this.seqs.get(path) === seq) void this.track(path, read); };
    return read(again).catch((e: unknown) => {
      if (this.closed || this.seqs.get(path) !== seq) return;
      if (e instanceof ZkError && (e.code === 'SESSION_EXPIRED' || e.code === 'CLOSED')) return; // the coordinator starts a new session and a new mirror
      this.log.debug({ err: e, path }, 'ZooKeeper read failed; retrying');
      setTimeout(again, 200).unref();
    });
  }

  private untrack(path: string): void {
    this.seqs.set(path, this.nextSeq++);
  }

  /** children() that treats a missing parent as empty and watches for its creation. */
  private async children(path: string, watch: Watcher): Promise<string[]> {
    try {
      return await this.zk.children(path, watch);
    } catch (e) {
      if (!(e instanceof ZkError && e.code === 'NO_NODE')) throw e;
      if (await this.zk.exists(path, watch)) { watch({ type: 'created', path }); return []; }
      return [];
    }
  }

  /** get() that returns undefined for a missing znode and watches for its creation. */
  private async data(path: string, watch: Watcher): Promise<{ data: Buffer; version: number; czxid: number } | undefined> {
    try {
      const n = await this.zk.get(path, watch);
      return { data: n.data, version: n.version, czxid: n.stat.czxid };
    } catch (e) {
      if (!(e instanceof ZkError && e.code === 'NO_NODE')) throw e;
      if (await this.zk.exists(path, watch)) { watch({ type: 'created', path }); }
      return undefined;
    }
  }

  private async readCoordinators(watch: Watcher): Promise<void> {
    const dir = `${this.root}/coordinators`;
    const names = await this.children(dir, watch);
    const next = new Map<string, CoordinatorRecord>();
    await Promise.all(names.map(async (node) => {
      const known = this.coordinators.get(node);
      if (known) { next.set(node, known); return; }
      try {
        const n = await this.zk.get(`${dir}/${node}`);
        const j = parseJson(n.data) ?? {};
        next.set(node, { node, id: String(j.id ?? node), address: String(j.address ?? ''), pid: num(j.pid), httpPort: num(j.httpPort) });
      } catch (e) {
        if (!(e instanceof ZkError && e.code === 'NO_NODE')) throw e;
      }
    }));
    this.coordinators.clear();
    // sequence suffixes are zero-padded, so name order is creation order
    for (const node of [...next.keys()].sort()) this.coordinators.set(node, next.get(node)!);
    this.changed({ kind: 'coordinators' });
  }

  private async readGateways(watch: Watcher): Promise<void> {
    const dir = `${this.root}/gateways`;
    const names = await this.children(dir, watch);
    const next = new Map<string, GatewayInfo>();
    await Promise.all(names.map(async (id) => {
      try {
        const n = await this.zk.get(`${dir}/${id}`);
        const j = parseJson(n.data) ?? {};
        next.set(id, {
          id: String(j.id ?? id), group: String(j.group ?? ''), stompPort: num(j.stompPort), wsPort: num(j.wsPort),
          httpPort: num(j.httpPort), pid: num(j.pid), host: String(j.host ?? ''), node: String(j.node ?? ''),
        });
      } catch (e) {
        if (!(e instanceof ZkError && e.code === 'NO_NODE')) throw e;
      }
    }));
    this.gateways.clear();
    for (const id of [...next.keys()].sort()) this.gateways.set(id, next.get(id)!);
    this.changed({ kind: 'gateways' });
  }

  private async readLinks(watch: Watcher): Promise<void> {
    const links = await this.children(`${this.root}/bridges`, watch);
    const starts: Array<Promise<void>> = [];
    for (const link of links) {
      if (this.bridges.has(link)) continue;
      this.bridges.set(link, []);
      starts.push(this.track(`${this.root}/bridges/${link}`, (w) => this.readLocks(link, w)));
    }
    for (const link of [...this.bridges.keys()]) {
      if (links.includes(link)) continue;
      this.untrack(`${this.root}/bridges/${link}`);
      const had = this.bridges.get(link)!.length > 0;
      this.bridges.delete(link);
      this.lockReads.delete(link);
      if (had) this.changed({ kind: 'bridges', link });
    }
    await Promise.all(starts);
  }

  private async readLocks(link: string, watch: Watcher): Promise<void> {
    const known = this.bridges.get(link);
    if (!known) return;
    const readNo = (this.lockReads.get(link) ?? 0) + 1;
    this.lockReads.set(link, readNo);
    const dir = `${this.root}/bridges/${link}`;
    // the bridge's lock recipe only counts lock-* children (apps/bridge/src/lock.ts)
    const names = (await this.children(dir, watch)).filter((c) => c.startsWith('lock-'));
    const byNode = new Map(known.map((b) => [b.node, b]));
    const next: BridgeRecord[] = [];
    await Promise.all(names.map(async (node) => {
      // a lock znode's data is written once at create: read each znode once
      const had = byNode.get(node);
      if (had) { next.push(had); return; }
      try {
        const n = await this.zk.get(`${dir}/${node}`);
        const j = parseJson(n.data) ?? {};
        next.push({
          node, link, id: String(j.id ?? node), pid: num(j.pid), host: String(j.host ?? ''), httpPort: num(j.httpPort),
          groups: Array.isArray(j.groups) ? j.groups.map((g) => String(g)) : [],
        });
      } catch (e) {
        if (!(e instanceof ZkError && e.code === 'NO_NODE')) throw e;
      }
    }));
    // Same order as the lock recipe: by sequence number (the 10-digit suffix ZooKeeper appends)
    next.sort((a, b) => seqOf(a.node) - seqOf(b.node) || (a.node < b.node ? -1 : 1));
    if (!this.bridges.has(link) || this.lockReads.get(link) !== readNo) return; // removed, or a newer read runs
    const before = this.bridges.get(link)!.map((b) => b.node).join(',');
    this.bridges.set(link, next);
    if (next.map((b) => b.node).join(',') !== before) this.changed({ kind: 'bridges', link });
  }

  private async readGroups(watch: Watcher): Promise<void> {
    const names = (await this.children(`${this.root}/groups`, watch)).filter((g) => this.only.length === 0 || this.only.includes(g));
    const starts: Array<Promise<void>> = [];
    for (const g of names) {
      if (this.groups.has(g)) continue;
      this.groups.set(g, { name: g, members: new Map(), epoch: 0, epochVersion: -1 });
      const base = `${this.root}/groups/${g}`;
      starts.push(this.track(`${base}/members`, (w) => this.readMembers(g, w)));
      starts.push(this.track(`${base}/epoch`, (w) => this.readEpoch(g, w)));
      starts.push(this.track(`${base}/master`, (w) => this.readMaster(g, w)));
    }
    for (const g of [...this.groups.keys()]) {
      if (names.includes(g)) continue;
      const base = `${this.root}/groups/${g}`;
      for (const p of ['members', 'epoch', 'master']) this.untrack(`${base}/${p}`);
      for (const id of this.groups.get(g)!.members.keys()) this.untrack(`${base}/members/${id}`);
      this.groups.delete(g);
      this.changed({ kind: 'group', group: g });
    }
    await Promise.all(starts);
  }

  private async readMembers(g: string, watch: Watcher): Promise<void> {
    const group = this.groups.get(g);
    if (!group) return;
    const dir = `${this.root}/groups/${g}/members`;
    const ids = await this.children(dir, watch);
    const starts: Array<Promise<void>> = [];
    for (const id of ids) {
      // also re-read known members: a store that restarted quickly may have a new znode
      // under the same name; its czxid tells
      starts.push(this.track(`${dir}/${id}`, (w) => this.readMember(g, id, w)));
    }
    let removed = false;
    for (const id of [...group.members.keys()]) {
      if (ids.includes(id)) continue;
      this.untrack(`${dir}/${id}`);
      group.members.delete(id);
      removed = true;
    }
    if (removed) this.changed({ kind: 'group', group: g });
    await Promise.all(starts);
  }

  private async readMember(g: string, id: string, watch: Watcher): Promise<void> {
    const group = this.groups.get(g);
    if (!group) return;
    const n = await this.data(`${this.root}/groups/${g}/members/${id}`, watch);
    if (!n) {
      if (group.members.delete(id)) this.changed({ kind: 'group', group: g });
      return;
    }
    const j = parseJson(n.data);
    if (!j) this.log.warn({ group: g, member: id }, 'member znode data is not JSON; the member cannot be reached');
    const rec: MemberRecord = {
      id, czxid: n.czxid, address: String(j?.address ?? ''),
      replicas: j && j.replicas !== undefined ? num(j.replicas) || undefined : undefined,
      weight: num(j?.weight, 1), pid: num(j?.pid), httpPort: num(j?.httpPort), role: String(j?.role ?? ''),
    };
    const prev = group.members.get(id);
    group.members.set(id, rec);
    if (!prev || JSON.stringify(prev) !== JSON.stringify(rec)) this.changed({ kind: 'group', group: g });
  }

  private async readEpoch(g: string, watch: Watcher): Promise<void> {
    const group = this.groups.get(g);
    if (!group) return;
    const n = await this.data(`${this.root}/groups/${g}/epoch`, watch);
    const epoch = n ? num(n.data.toString('utf8').trim()) : 0;
    const version = n ? n.version : -1;
    if (epoch !== group.epoch || version !== group.epochVersion) {
      group.epoch = epoch;
      group.epochVersion = version;
      this.changed({ kind: 'group', group: g });
    }
  }

  private async readMaster(g: string, watch: Watcher): Promise<void> {
    const group = this.groups.get(g);
    if (!group) return;
    const n = await this.data(`${this.root}/groups/${g}/master`, watch);
    const j = n ? parseJson(n.data) : undefined;
    const master: MasterZnode | undefined = j && j.id
      ? { id: String(j.id), address: String(j.address ?? ''), epoch: num(j.epoch), czxid: j.czxid === undefined ? undefined : num(j.czxid) }
      : undefined;
    if (JSON.stringify(master) !== JSON.stringify(group.master)) {
      group.master = master;
      this.changed({ kind: 'group', group: g });
    }
  }
}
