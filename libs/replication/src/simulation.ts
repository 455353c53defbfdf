// Randomized, deterministic simulation of a replicated group (FoundationDB / etcd style): one
// seeded PRNG drives message delays, loss, duplication and reordering, disk latency, crashes
// that lose unpersisted memory, restarts, compaction, proposals and elections run by a
// simulated coordinator that follows docs/architecture.md (bump the epoch, prepare
// every live member, with a quorum of promises pick the highest (lastEpoch, lastPosition) then
// the lowest id). The invariants are checked by ./cluster.ts as actions come out; at the end
// the group is healed and must converge. Pure: virtual time only.
import { Cluster, Envelope, InvariantError, SimNode } from './cluster';
import { Action, Event, ReplicaId, SYNC_MODES, SyncMode } from './types';

/** mulberry32: small, fast, good enough to pick schedules. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SimulationOptions {
  nodes: number;
  sync?: SyncMode;
  /** Virtual ms of chaos before healing. Default 1500. */
  durationMs?: number;
  /** Virtual ms allowed to converge after healing. Default 15000. */
  settleMs?: number;
  lossRate?: number;
  duplicateRate?: number;
}

export interface SimulationResult {
  seed: number;
  nodes: number;
  sync: SyncMode;
  events: number;
  elections: number;
  settledAtMs: number;
  stats: Cluster['stats'];
}

export class SimulationError extends Error {
  readonly code = 'SIMULATION_FAILED';
  constructor(readonly seed: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SimulationError';
  }
}

type SimEvent =
  | { t: number; kind: 'deliver'; env: Envelope }
  | { t: number; kind: 'disk'; id: ReplicaId; inc: number }
  | { t: number; kind: 'read'; id: ReplicaId; inc: number }
  | { t: number; kind: 'tick'; id: ReplicaId }
  | { t: number; kind: 'coord' }
  | { t: number; kind: 'chaos' }
  | { t: number; kind: 'control'; id: ReplicaId; event: Event }
  | { t: number; kind: 'reply'; id: ReplicaId; action: Action };

/** A binary heap ordered by (t, insertion order): same seed, same schedule. */
class Queue {
  private heap: Array<{ t: number; s: number; e: SimEvent }> = [];
  private seq = 0;
  get size(): number { return this.heap.length; }
  push(e: SimEvent): void {
    const h = this.heap;
    h.push({ t: e.t, s: this.seq++, e });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p].t < h[i].t || (h[p].t === h[i].t && h[p].s < h[i].s)) break;
      [h[p], h[i]] = [h[i], h[p]];
      i = p;
    }
  }
  pop(): SimEvent {
    const h = this.heap;
    const top = h[0];
    const last = h.pop()!;
    if (h.length) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < h.length && (h[l].t < h[m].t || (h[l].t === h[m].t && h[l].s < h[m].s))) m = l;
        if (r < h.length && (h[r].t < h[m].t || (h[r].t === h[m].t && h[r].s < h[m].s))) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i], h[m]];
        i = m;
      }
    }
    return top.e;
  }
}

const TICK_MS = 20;
const HEARTBEAT_MS = 50;
const MASTER_TIMEOUT_MS = 300;
const ELECTION_TIMEOUT_MS = 150;

export function simulate(seed: number, options: SimulationOptions): SimulationResult {
  const rnd = prng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
  const sync = options.sync ?? SYNC_MODES[seed % SYNC_MODES.length];
  const ids = Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`);
  const duration = options.durationMs ?? 1500;
  const settle = options.settleMs ?? 15000;
  let loss = options.lossRate ?? 0.03;
  let dup = options.duplicateRate ?? 0.02;
  let chaos = true;

  const c = new Cluster({ ids, sync, heartbeatMs: HEARTBEAT_MS, masterTimeoutMs: MASTER_TIMEOUT_MS, maxBatch: 8 });
  const q = new Queue();
  let now = 0;
  let events = 0;
  let elections = 0;
  let payload = 0;
  const trace: string[] = [];
  const note = (s: string) => { trace.push(`${now}ms ${s}`); if (trace.length > 40) trace.shift(); };

  // --- the world's plumbing ------------------------------------------------------------------
  // A cut node (a network partition around it) neither sends nor receives, while its
  // ZooKeeper session, hence the coordinator's view of it, stays up.
  const cutUntil = new Map<ReplicaId, number>();
  const isCut = (id: ReplicaId) => (cutUntil.get(id) ?? -1) > now;
  c.transport = (env) => {
    if (rnd() < loss || isCut(env.from) || isCut(env.to)) return;
    const lo = env.kind === 'snapshot' ? 10 : 1, hi = env.kind === 'snapshot' ? 40 : 15;
    q.push({ t: now + int(lo, hi), kind: 'deliver', env });
    if (rnd() < dup) q.push({ t: now + int(lo, hi * 2), kind: 'deliver', env });
  };
  c.onWriteQueued = (n) => q.push({ t: now + int(1, 10), kind: 'disk', id: n.id, inc: n.incarnation });
  c.onReadQueued = (n) => q.push({ t: now + int(1, 10), kind: 'read', id: n.id, inc: n.incarnation });
  c.onControl = (n, a) => {
    if (a.type === 'promise' || a.type === 'refuse' || a.type === 'masterLost' || a.type === 'role') if (!isCut(n.id)) q.push({ t: now + int(1, 25), kind: 'reply', id: n.id, action: a });
  };
  // Coordinator -> store calls go to whatever process is at the address now (a restarted one
  // too), and are lost for a node cut off by a partition.
  const control = (id: ReplicaId, event: Event) => {
    if (!isCut(id)) q.push({ t: now + int(1, 25), kind: 'control', id, event });
  };

  // --- the coordinator -------------------------------------------------------------------------
  let zkEpoch = 0;
  // `inc` stands for the master's ZooKeeper session: a restarted process is a new session.
  let master: { id: ReplicaId; epoch: number; inc: number } | undefined;
  let masterLost = false;
  // An election ends when the winner confirms it took the role (its store publishes it).
  let election: { epoch: number; startedAt: number; promises: Map<ReplicaId, [number, number]>; winner?: ReplicaId } | undefined;
  let lastTopology = 0;
  const live = () => ids.filter((id) => c.node(id).alive);

  const startElection = () => {
    if (live().length < c.quorum) { election = undefined; return; } // no-quorum: wait
    zkEpoch++;
    elections++;
    master = undefined;
    masterLost = false;
    election = { epoch: zkEpoch, startedAt: now, promises: new Map() };
    note(`coordinator: election epoch ${zkEpoch}`);
    for (const id of live()) control(id, { type: 'prepare', epoch: zkEpoch });
  };
  const decide = () => {
    const e = election!;
    let best: [ReplicaId, number, number] | undefined;
    for (const [id, [le, lp]] of e.promises) {
      if (!best || le > best[1] || (le === best[1] && lp > best[2]) || (le === best[1] && lp === best[2] && id < best[0])) best = [id, le, lp];
    }
    e.winner = best![0];
    note(`coordinator: ${e.winner} wins epoch ${e.epoch}`);
    control(e.winner, { type: 'becomeMaster', epoch: e.epoch, members: ids });
  };
  const publishTopology = () => {
    lastTopology = now;
    if (master) for (const id of live()) if (id !== master.id) control(id, { type: 'becomeSlave', epoch: master.epoch, masterId: master.id });
  };
  const onReply = (id: ReplicaId, a: Action) => {
    if (a.type === 'promise') {
      if (!election || a.epoch !== election.epoch || election.winner) return;
      election.promises.set(id, [a.lastEpoch, a.lastPosition]);
      const n = election.promises.size;
      if (n >= c.quorum && (n >= live().length || rnd() < 0.5)) decide();
    } else if (a.type === 'refuse') {
      if (a.event === 'becomeMaster' && election && election.winner === id && election.epoch === a.epoch) { startElection(); }
    } else if (a.type === 'role') {
      if (a.role === 'master' && election && election.winner === id && a.epoch === election.epoch) {
        master = { id, epoch: a.epoch, inc: c.node(id).incarnation };
        election = undefined;
        note(`coordinator: ${id} is master of epoch ${a.epoch}`);
        publishTopology();
      }
    } else if (a.type === 'masterLost') {
      if (master && a.epoch === master.epoch) masterLost = true;
    }
  };
  const coordTick = () => {
    if (election) {
      if (now - election.startedAt > ELECTION_TIMEOUT_MS) startElection();
      return;
    }
    if (!master || !c.node(master.id).alive || c.node(master.id).incarnation !== master.inc || masterLost) startElection();
    else if (now - lastTopology >= 200) publishTopology(); // the topology watch re-syncs
    else if (chaos && rnd() < 0.003) startElection(); // a spurious election (e.g. a ZooKeeper session blip)
  };

  // --- chaos --------------------------------------------------------------------------------------
  const maxDownNormal = options.nodes - c.quorum;
  const chaosStep = () => {
    const r = rnd() * 10;
    if (r < 5) {
      // Producers talk to whoever believes it is master, stale ones included.
      const masters = ids.map((id) => c.node(id)).filter((n) => n.alive && n.replica.role === 'master');
      if (!masters.length) return;
      const m = pick(masters);
      const data: Uint8Array[] = [];
      for (let k = int(1, 3); k > 0; k--) {
        payload++;
        data.push(Uint8Array.of(payload & 0xff, (payload >> 8) & 0xff, (payload >> 16) & 0xff));
      }
      c.propose(m.id, data);
    } else if (r < 5.5) {
      const down = ids.filter((id) => !c.node(id).alive).length;
      if (down < maxDownNormal + (rnd() < 0.15 ? 1 : 0)) {
        const id = pick(live());
        note(`crash ${id}`);
        c.crash(id);
      }
    } else if (r < 6.5) {
      const dead = ids.filter((id) => !c.node(id).alive);
      if (dead.length) restart(pick(dead));
    } else if (r < 7.5) {
      const id = pick(ids);
      cutUntil.set(id, now + int(50, 400));
      note(`cut ${id} off`);
    } else if (r < 8.2) {
      const n = c.node(pick(ids));
      const hi = Math.min(n.replica.persistedPosition, n.replica.commitPosition);
      // Half the time the store lets entries leave memory (catch-up then reads them from disk), else compacts.
      if (rnd() < 0.5) { if (n.alive && hi >= n.replica.heldFrom) c.release(n.id, int(n.replica.heldFrom, hi)); }
      else if (n.alive && hi > n.replica.snapshotPosition) c.compact(n.id, int(n.replica.snapshotPosition + 1, hi));
    }
  };
  const restart = (id: ReplicaId) => {
    note(`restart ${id}`);
    c.restart(id);
    c.step(id, { type: 'tick', now });
    // The topology watch tells a returning member who the master is.
    if (master) control(id, { type: 'becomeSlave', epoch: master.epoch, masterId: master.id });
  };

  // --- the loop ------------------------------------------------------------------------------------
  for (const id of ids) q.push({ t: int(0, TICK_MS), kind: 'tick', id });
  q.push({ t: 0, kind: 'coord' });
  q.push({ t: 5, kind: 'chaos' });

  const dispatch = (e: SimEvent) => {
    switch (e.kind) {
      case 'deliver': if (!isCut(e.env.to)) c.deliver(e.env); break;
      case 'disk': {
        const n: SimNode = c.node(e.id);
        if (!n.alive || n.incarnation !== e.inc) break;
        c.completeWrite(e.id);
        if (n.writes.length) q.push({ t: now + int(1, 10), kind: 'disk', id: e.id, inc: e.inc });
        break;
      }
      case 'read': {
        const n: SimNode = c.node(e.id);
        if (!n.alive || n.incarnation !== e.inc) break;
        c.completeRead(e.id);
        if (n.reads.length) q.push({ t: now + int(1, 10), kind: 'read', id: e.id, inc: e.inc });
        break;
      }
      case 'tick':
        c.step(e.id, { type: 'tick', now });
        q.push({ t: now + TICK_MS, kind: 'tick', id: e.id });
        break;
      case 'coord':
        coordTick();
        q.push({ t: now + TICK_MS, kind: 'coord' });
        break;
      case 'chaos':
        if (!chaos) break;
        chaosStep();
        q.push({ t: now + int(2, 15), kind: 'chaos' });
        break;
      case 'control':
        if (!isCut(e.id)) c.step(e.id, e.event);
        break;
      case 'reply': onReply(e.id, e.action); break;
    }
  };

  try {
    let healedAt = -1;
    let nextCheck = 0;
    while (q.size) {
      const e = q.pop();
      now = e.t;
      events++;
      dispatch(e);
      if (chaos && now >= duration) {
        // Heal: no more faults, everyone back; the group must converge (invariant 3).
        chaos = false;
        cutUntil.clear();
        loss = 0;
        dup = 0;
        healedAt = now;
        note('heal');
        for (const id of ids) if (!c.node(id).alive) restart(id);
      }
      if (!chaos && now >= nextCheck) {
        nextCheck = now + 50;
        if (!election && master && c.divergence() === '') {
          c.checkMaster();
          return { seed, nodes: options.nodes, sync, events, elections, settledAtMs: now - healedAt, stats: c.stats };
        }
        if (now - healedAt > settle) throw new InvariantError(`no convergence ${settle}ms after healing: ${c.divergence()}`);
      }
    }
    throw new InvariantError('event queue ran dry');
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new SimulationError(seed, `simulation seed=${seed} nodes=${options.nodes} sync=${sync} failed at ${now}ms: ${msg}\n  last events:\n    ${trace.join('\n    ')}`, { cause: err });
  }
}
