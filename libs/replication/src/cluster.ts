// A simulated shell around a group of Replica cores, for the scenario and simulation specs:
// an in-memory "disk" per node (promised epoch, snapshot, journal) written through an ordered
// write queue, a crash that loses the queue and the memory, a network of envelopes the test
// delivers, drops or duplicates, and the invariant checks run as actions come out.
// Pure like the core (no timers, no I/O): the specs drive it.
import { Replica } from './replica';
import { Action, Entry, Event, Message, ReplicaId, ReplicaOptions, SyncMode } from './types';

export type Envelope =
  | { kind: 'message'; from: ReplicaId; to: ReplicaId; message: Message }
  | { kind: 'snapshot'; from: ReplicaId; to: ReplicaId; masterEpoch: number; epoch: number; position: number; state: Entry[] };

type WriteOp =
  | { kind: 'persist'; entries: readonly Entry[] }
  | { kind: 'truncate'; from: number }
  | { kind: 'reset'; epoch: number; position: number; state: Entry[] };

export interface Disk {
  promisedEpoch: number;
  /** The snapshot: in this simulation the state is the list of entries it covers. */
  state: Entry[];
  entries: Entry[];
}

export class InvariantError extends Error {
  readonly code = 'INVARIANT';
  constructor(message: string) { super(message); this.name = 'InvariantError'; }
}

export function sameEntry(a: Entry | undefined, b: Entry | undefined): boolean {
  if (!a || !b || a.epoch !== b.epoch || a.position !== b.position || a.data.length !== b.data.length) return false;
  for (let i = 0; i < a.data.length; i++) if (a.data[i] !== b.data[i]) return false;
  return true;
}

export function show(e: Entry | undefined): string {
  if (!e) return '-';
  if (e.noop) return `${e.epoch}:noop`;
  const printable = e.data.every((b) => b >= 0x21 && b < 0x7f);
  return `${e.epoch}:${printable ? String.fromCharCode(...e.data) : '0x' + Array.from(e.data, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

export class SimNode {
  replica: Replica;
  alive = true;
  incarnation = 0;
  disk: Disk = { promisedEpoch: 0, state: [], entries: [] };
  writes: WriteOp[] = [];
  /** Disk reads the core asked for (`read`), oldest first. */
  reads: Array<Extract<Action, { type: 'read' }>> = [];
  staged: Envelope | undefined;
  /** Every action emitted, for scenario expectations (cleared by the test when it wants). */
  actions: Action[] = [];
  lastCrashStep = -1;
  /** The snapshot as the core sees it (ahead of `disk.state` while a resetLog is queued). */
  memState: Entry[] = [];
  /** Per epoch, the position acknowledged so far (invariant bookkeeping). */
  ackedUpTo = new Map<number, number>();

  constructor(readonly id: ReplicaId, private readonly options: Omit<ReplicaOptions, 'id' | 'restored' | 'incarnation'>) {
    this.replica = new Replica({ ...options, id });
  }

  diskEntry(position: number): Entry | undefined {
    if (position <= this.disk.state.length) return this.disk.state[position - 1];
    return this.disk.entries[position - this.disk.state.length - 1];
  }

  /** The node's memory log and snapshot, as one lookup (released entries: from its disk, as the store reads them). */
  memEntry(position: number): Entry | undefined {
    const r = this.replica;
    if (position <= r.snapshotPosition) return this.memState[position - 1];
    if (position < r.heldFrom) return this.diskEntry(position);
    return r.entry(position);
  }

  crash(): void {
    this.alive = false;
    this.writes = [];
    this.reads = [];
    this.staged = undefined;
  }

  restart(): void {
    this.alive = true;
    this.incarnation++;
    this.memState = this.disk.state;
    const base = this.disk.state.length;
    this.replica = new Replica({
      ...this.options, id: this.id, incarnation: this.incarnation,
      restored: {
        promisedEpoch: this.disk.promisedEpoch,
        snapshotPosition: base,
        snapshotEpoch: base ? this.disk.state[base - 1].epoch : 0,
        entries: this.disk.entries.slice(),
      },
    });
  }
}

export interface ClusterOptions {
  ids: ReplicaId[];
  sync?: SyncMode;
  heartbeatMs?: number;
  masterTimeoutMs?: number;
  snapshotTimeoutMs?: number;
  maxBatch?: number;
}

export interface AckRecord { entry: Entry; exempt: boolean }

export class Cluster {
  readonly nodes = new Map<ReplicaId, SimNode>();
  readonly ids: ReplicaId[];
  readonly quorum: number;
  readonly sync: SyncMode;
  /** Messages and snapshots in flight (the scenario network; the simulation replaces `transport`). */
  pending: Envelope[] = [];
  transport: (env: Envelope) => void = (env) => { this.pending.push(env); };
  /** Called for actions the coordinator cares about (promise, refuse, role, masterLost). */
  onControl: (node: SimNode, action: Action) => void = () => {};
  /** Called when a node's write queue goes from empty to non-empty. */
  onWriteQueued: (node: SimNode) => void = () => {};
  /** Called when a node's core asks for a disk read (`read`). */
  onReadQueued: (node: SimNode) => void = () => {};

  // invariant bookkeeping
  readonly committed = new Map<number, Entry>();
  maxCommitted = 0;
  readonly acked = new Map<number, AckRecord>();
  readonly epochMaster = new Map<number, ReplicaId>();
  readonly commitOwner = new Map<number, ReplicaId>();
  readonly created = new Map<string, number>();
  stepCount = 0;
  stats = { proposed: 0, acknowledged: 0, committed: 0, snapshots: 0, truncations: 0, exempt: 0, crashes: 0, reads: 0 };

  constructor(readonly options: ClusterOptions) {
    this.ids = options.ids.slice();
    this.quorum = Math.floor(this.ids.length / 2) + 1;
    this.sync = options.sync ?? 'quorum_mem';
    for (const id of this.ids) {
      this.nodes.set(id, new SimNode(id, {
        replicas: this.ids.length, sync: this.sync, heartbeatMs: options.heartbeatMs,
        masterTimeoutMs: options.masterTimeoutMs, snapshotTimeoutMs: options.snapshotTimeoutMs, maxBatch: options.maxBatch,
      }));
    }
  }

  node(id: ReplicaId): SimNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  master(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes.values()) {
      if (n.alive && n.replica.role === 'master' && (!best || n.replica.epoch > best.replica.epoch)) best = n;
    }
    return best;
  }

  /** Feed one event to a live node and execute what comes out. */
  step(id: ReplicaId, event: Event): Action[] {
    const n = this.node(id);
    if (!n.alive) return [];
    this.stepCount++;
    const actions = n.replica.step(event);
    for (const a of actions) this.execute(n, a);
    return actions;
  }

  deliver(env: Envelope): void {
    const n = this.node(env.to);
    if (!n.alive) return;
    if (env.kind === 'message') {
      this.step(env.to, { type: 'receive', message: env.message });
    } else {
      n.staged = env;
      this.step(env.to, { type: 'installSnapshot', from: env.from, masterEpoch: env.masterEpoch, position: env.position, epoch: env.epoch });
      n.staged = undefined; // not reset: the shell drops it
    }
  }

  /** Complete the oldest queued write of a node. Returns false if none. */
  completeWrite(id: ReplicaId): boolean {
    const n = this.node(id);
    const op = n.writes.shift();
    if (!op || !n.alive) return false;
    const d = n.disk;
    const base = d.state.length;
    if (op.kind === 'persist') {
      const first = op.entries[0].position;
      if (first !== base + d.entries.length + 1) {
        throw new InvariantError(`${id}: persist at ${first} but disk ends at ${base + d.entries.length}`);
      }
      d.entries.push(...op.entries);
      const last = op.entries[op.entries.length - 1];
      this.step(id, { type: 'persisted', epoch: last.epoch, position: last.position });
    } else if (op.kind === 'truncate') {
      if (op.from <= base) throw new InvariantError(`${id}: truncate at ${op.from} below snapshot ${base}`);
      d.entries.length = Math.min(d.entries.length, op.from - base - 1);
    } else {
      d.state = op.state;
      d.entries = [];
      this.step(id, { type: 'persisted', epoch: op.epoch, position: op.position });
    }
    return true;
  }

  crash(id: ReplicaId): void {
    const n = this.node(id);
    if (!n.alive) return;
    this.stats.crashes++;
    n.crash();
    n.lastCrashStep = this.stepCount;
    this.checkExemptions();
  }

  restart(id: ReplicaId): void {
    const n = this.node(id);
    if (n.alive) return;
    n.restart();
    this.checkNodeLog(n, 1);
  }

  /** Complete the oldest disk read of a node: its entries from the simulated disk. Returns false if none. */
  completeRead(id: ReplicaId): boolean {
    const n = this.node(id);
    const a = n.reads.shift();
    if (!a || !n.alive) return false;
    const entries: Entry[] = [];
    let bytes = 0;
    for (let p = a.from; p <= a.upTo && entries.length < a.max; p++) {
      const e = n.diskEntry(p);
      if (!e || p <= n.disk.state.length) break; // compacted meanwhile: the core falls back to a snapshot
      if (entries.length && bytes + e.data.length > a.maxBytes) break;
      entries.push(e);
      bytes += e.data.length;
    }
    this.stats.reads++;
    this.step(id, { type: 'entriesRead', to: a.to, from: a.from, entries });
    return true;
  }

  /** The store let entries up to `position` (persisted and committed) leave memory. */
  release(id: ReplicaId, position: number): boolean {
    const n = this.node(id);
    const r = n.replica;
    if (!n.alive || position < r.heldFrom || position > Math.min(r.persistedPosition, r.commitPosition)) return false;
    this.step(id, { type: 'release', position });
    return true;
  }

  /** The store took a snapshot of its state up to `position` (persisted and committed). */
  compact(id: ReplicaId, position: number): boolean {
    const n = this.node(id);
    const r = n.replica;
    if (!n.alive || position <= r.snapshotPosition || position > Math.min(r.persistedPosition, r.commitPosition)) return false;
    const d = n.disk;
    const k = position - d.state.length;
    d.state = d.state.concat(d.entries.slice(0, k));
    d.entries = d.entries.slice(k);
    n.memState = d.state;
    this.step(id, { type: 'compact', position });
    return true;
  }

  propose(id: ReplicaId, data: Uint8Array[]): Action[] {
    return this.step(id, { type: 'propose', data });
  }

  // --- executing actions --------------------------------------------------------------------
  private execute(n: SimNode, a: Action): void {
    n.actions.push(a);
    const r = n.replica;
    switch (a.type) {
      case 'saveEpoch': n.disk.promisedEpoch = a.epoch; break;
      case 'persist':
        // Not checked against the committed entries: a slave may hold an old master's tail
        // until it is truncated, and a cut-off old master may still append (never commit).
        if (r.role === 'master') for (const e of a.entries) this.created.set(`${e.epoch}:${e.position}`, this.stepCount);
        if (r.role === 'master') this.stats.proposed += a.entries.length;
        this.queueWrite(n, { kind: 'persist', entries: a.entries });
        break;
      case 'truncate': {
        this.stats.truncations++;
        this.queueWrite(n, { kind: 'truncate', from: a.fromPosition });
        break;
      }
      case 'resetLog': {
        const staged = n.staged;
        if (!staged || staged.kind !== 'snapshot' || staged.position !== a.position) throw new InvariantError(`${n.id}: resetLog without the staged snapshot`);
        n.memState = staged.state;
        this.queueWrite(n, { kind: 'reset', epoch: a.epoch, position: a.position, state: staged.state });
        this.checkNodeLog(n, 1);
        break;
      }
      case 'send':
        this.transport({ kind: 'message', from: n.id, to: a.to, message: a.message });
        break;
      case 'read':
        n.reads.push(a);
        if (n.reads.length === 1) this.onReadQueued(n);
        break;
      case 'sendSnapshot': {
        if (n.disk.state.length !== a.position) throw new InvariantError(`${n.id}: sendSnapshot ${a.position} but disk snapshot is ${n.disk.state.length}`);
        this.stats.snapshots++;
        this.transport({ kind: 'snapshot', from: n.id, to: a.to, masterEpoch: r.epoch, epoch: a.epoch, position: a.position, state: n.disk.state });
        break;
      }
      case 'commit': this.onCommit(n, a.position); break;
      case 'acknowledge': this.onAcknowledge(n, a.epoch, a.position); break;
      case 'role':
        if (a.role === 'master') this.onBecameMaster(n);
        this.onControl(n, a);
        break;
      case 'promise': case 'refuse': case 'masterLost':
        this.onControl(n, a);
        break;
      case 'proposalRejected': break;
    }
  }

  private queueWrite(n: SimNode, op: WriteOp): void {
    n.writes.push(op);
    if (n.writes.length === 1) this.onWriteQueued(n);
  }

  // --- invariants ----------------------------------------------------------------------------
  private fail(msg: string): never { throw new InvariantError(msg); }

  /** A node's entry at a committed position must be the committed entry. */
  private checkEntry(n: SimNode, e: Entry, verb: string): void {
    const c = this.committed.get(e.position);
    if (c && !sameEntry(c, e)) this.fail(`${n.id} ${verb} ${show(e)} at ${e.position} where ${show(c)} was committed`);
  }

  /** What a node counts as committed (from `from` on) must be what was committed. */
  checkNodeLog(n: SimNode, from: number): void {
    const r = n.replica;
    for (let p = Math.max(from, r.firstPosition); p <= r.commitPosition; p++) this.checkEntry(n, n.memEntry(p)!, 'holds as committed');
    for (let p = from; p <= r.snapshotPosition; p++) this.checkEntry(n, n.memState[p - 1], 'has in its snapshot');
  }

  private onBecameMaster(n: SimNode): void {
    const e = n.replica.epoch;
    // Invariant 2: one master per epoch.
    const prev = this.epochMaster.get(e);
    if (prev !== undefined && prev !== n.id) this.fail(`two masters in epoch ${e}: ${prev} and ${n.id}`);
    this.epochMaster.set(e, n.id);
    this.checkMaster(n);
  }

  /** Invariant 1 on a master (the current one by default). */
  checkMaster(n: SimNode | undefined = this.master()): void {
    if (!n) return;
    const e = n.replica.epoch;
    // Invariant 1: a new master holds every committed and every quorum-acknowledged entry.
    if (n.replica.lastPosition < this.maxCommitted) this.fail(`master ${n.id} of epoch ${e} ends at ${n.replica.lastPosition} below commit ${this.maxCommitted}`);
    for (const [p, c] of this.committed) {
      if (!sameEntry(n.memEntry(p), c)) this.fail(`master ${n.id} of epoch ${e} lost committed ${show(c)} at ${p} (has ${show(n.memEntry(p))})`);
    }
    for (const [p, rec] of this.acked) {
      if (!rec.exempt && !sameEntry(n.memEntry(p), rec.entry)) {
        this.fail(`master ${n.id} of epoch ${e} lost acknowledged (${this.sync}) ${show(rec.entry)} at ${p} (has ${show(n.memEntry(p))})`);
      }
    }
  }

  private onCommit(n: SimNode, position: number): void {
    const r = n.replica;
    if (r.role === 'master') {
      const owner = this.commitOwner.get(r.epoch);
      if (owner !== undefined && owner !== n.id) this.fail(`two masters commit in epoch ${r.epoch}: ${owner} and ${n.id}`);
      this.commitOwner.set(r.epoch, n.id);
    }
    const from = Math.max(r.firstPosition, position - 256);
    for (let p = from; p <= position; p++) {
      const e = n.memEntry(p)!;
      const c = this.committed.get(p);
      if (c) { if (!sameEntry(c, e)) this.fail(`${n.id} commits ${show(e)} at ${p} where ${show(c)} was committed`); continue; }
      if (r.role !== 'master') continue; // a slave's commit is the master's: recorded there
      this.committed.set(p, e);
      this.stats.committed++;
      const rec = this.acked.get(p);
      if (rec) {
        if (!rec.exempt && !sameEntry(rec.entry, e)) this.fail(`committed ${show(e)} at ${p} replaces acknowledged ${show(rec.entry)}`);
        this.acked.delete(p); // the committed check covers it from now on
      }
    }
    if (r.role === 'master') this.maxCommitted = Math.max(this.maxCommitted, position);
  }

  private onAcknowledge(m: SimNode, epoch: number, upto: number): void {
    const from = (m.ackedUpTo.get(epoch) ?? 0) + 1;
    m.ackedUpTo.set(epoch, upto);
    const needDiskMaster = this.sync === 'local_disk' || this.sync === 'quorum_disk';
    const remoteNeed = this.ids.length === 1 ? 0
      : this.sync === 'remote_mem' || this.sync === 'remote_disk' ? 1
      : this.sync === 'quorum_mem' || this.sync === 'quorum_disk' ? this.quorum - 1 : 0;
    const remoteDisk = this.sync === 'remote_disk' || this.sync === 'quorum_disk';
    for (let p = Math.max(from, m.replica.firstPosition); p <= upto; p++) {
      const e = m.memEntry(p)!;
      if (e.noop || e.epoch !== epoch) continue; // older entries are not this master's proposals
      this.stats.acknowledged++;
      // The sync mode's promise holds right now: count who has the entry.
      if (needDiskMaster && !sameEntry(m.diskEntry(p), e)) this.fail(`${m.id} acknowledges ${show(e)} at ${p} (${this.sync}) not on its disk`);
      if (remoteNeed > 0) {
        const created = this.created.get(`${e.epoch}:${p}`) ?? 0;
        let holders = 0;
        for (const x of this.nodes.values()) {
          if (x === m) continue;
          if (remoteDisk ? sameEntry(x.diskEntry(p), e) : (x.alive && sameEntry(x.memEntry(p), e)) || sameEntry(x.diskEntry(p), e) || x.lastCrashStep >= created) holders++;
        }
        if (holders < remoteNeed) this.fail(`${m.id} acknowledges ${show(e)} at ${p} (${this.sync}) held by ${holders} slave(s), needs ${remoteNeed}`);
      }
      if (this.sync === 'quorum_mem' || this.sync === 'quorum_disk') {
        const c = this.committed.get(p);
        if (c) { if (!sameEntry(c, e)) this.fail(`acknowledged ${show(e)} at ${p} differs from committed ${show(c)}`); }
        else this.acked.set(p, { entry: e, exempt: false });
      }
    }
    // A slave may have crashed between its ack and this acknowledgement.
    this.checkExemptions();
  }

  /**
   * quorum_mem promises survival of a minority's failure, not of a quorum crashing at once
   * (ActiveMQ's documented trade-off): an acknowledged entry whose live-or-persisted holders
   * fall below a quorum (checked at each crash and at acknowledgement) is no longer held to
   * invariant 1.
   */
  private checkExemptions(): void {
    if (this.sync !== 'quorum_mem') return;
    for (const [p, rec] of this.acked) {
      if (rec.exempt) continue;
      let holders = 0;
      for (const x of this.nodes.values()) {
        if (sameEntry(x.diskEntry(p), rec.entry) || (x.alive && sameEntry(x.memEntry(p), rec.entry))) holders++;
      }
      if (holders < this.quorum) { rec.exempt = true; this.stats.exempt++; }
    }
  }

  /** Invariant 3: every live replica's log equals the master's. Returns a reason or ''. */
  divergence(): string {
    const m = this.master();
    if (!m) return 'no master';
    const mr = m.replica;
    for (const n of this.nodes.values()) {
      if (n === m || !n.alive) continue;
      const r = n.replica;
      if (r.role !== 'slave' || r.epoch !== mr.epoch) return `${n.id} is ${r.role} in epoch ${r.epoch}, master ${m.id} in ${mr.epoch}`;
      if (r.lastPosition !== mr.lastPosition) return `${n.id} ends at ${r.lastPosition}, master at ${mr.lastPosition}`;
      if (r.commitPosition !== mr.commitPosition) return `${n.id} commit ${r.commitPosition}, master ${mr.commitPosition}`;
      if (n.writes.length) return `${n.id} has writes pending`;
      for (let p = 1; p <= mr.lastPosition; p++) {
        if (!sameEntry(n.memEntry(p), m.memEntry(p))) return `${n.id} has ${show(n.memEntry(p))} at ${p}, master ${show(m.memEntry(p))}`;
        if (!sameEntry(n.diskEntry(p), n.memEntry(p))) return `${n.id} disk has ${show(n.diskEntry(p))} at ${p}, memory ${show(n.memEntry(p))}`;
      }
    }
    if (mr.commitPosition !== mr.lastPosition) return `master commit ${mr.commitPosition} below last ${mr.lastPosition}`;
    return '';
  }
}
