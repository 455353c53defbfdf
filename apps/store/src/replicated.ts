// The replicated journal (ActiveMQ Artemis' ReplicatedJournal idea): wraps the store's RocksDB
// journal with libs/replication's Replica. The broker core's entries become proposals; the
// core's actions are executed IN ORDER (a promise is saved before it is answered, a write is
// queued before the sends after it); receipts go out on `acknowledge` (the sync mode), not on
// the local write.
//
// Disk rule (why truncation is simple): the materialized indexes only ever hold COMMITTED
// entries, on the master as on slaves. Journal entries are written as they come (`persist`);
// index updates follow once an entry is committed and on disk, in the same group-commit
// writer. An uncommitted tail can therefore be truncated by deleting journal keys only. The
// master's in-memory core runs ahead of its indexes (it made those entries); when it stops
// being master, its core is dropped and rebuilt from the indexes.
//
// Beside it: roles.ts (master, slave, fenced, and ZooKeeper's say in them), member-service.ts
// (the coordinator's Prepare and Assign, epochs checked against ZooKeeper) and snapshots.ts
// (fetching, serving and installing a snapshot). This file is the journal: proposals, the
// core's actions, the links' messages and the writer.
import { performance } from 'node:perf_hooks';
import { removesOnly, type BrokerCore, type JournalEntry, type Recovered } from '@hawser/broker';
import { Replica, ReplicationError, type Action, type Entry, type Event, type Role, type SyncMode } from '@hawser/replication';
import { warnEvery, type Logger } from '@hawser/observability';
import type { PrepareReply, AssignReply, PrepareRequest, AssignRequest, ReplicationHello, SnapshotChunk, SnapshotRequest } from '@hawser/proto';
import { grpc } from '@hawser/proto';
import { decodeEntry, encodeEntry, entryEpoch, ownBytes } from './codec';
import type { RocksJournal, ReplicationDisk } from './journal';
import type { Journal, JournalHost } from './journals';
import type { BatchOp } from './rocks';
import { ReplicationLinks, type LinkMessage } from './links';
import type { SnapshotStaging } from './snapshot-staging';
import { SnapshotTransfer } from './snapshots';
import { Roles, type ZkGroupState } from './roles';
import * as memberService from './member-service';

/**
 * Applied entries the replication log holds in memory at most (whatever journal.retention
 * keeps on disk): a slave further behind gets older ones read back from RocksDB.
 */
const HELD_ENTRIES = 10_000;

/** What the replicated journal needs of the store around it (besides a journal's host). */
export interface ReplicationHost extends JournalHost {
  makeCore(recovered: Recovered, epoch: number): BrokerCore;
  /** The core the store reads (Admin) and, while `serving`, serves sessions with. */
  setCore(core: BrokerCore | null): void;
  /** Ends every Broker.Session with this error (fencing, demotion). */
  endSessions(code: 'NOT_MASTER' | 'UNAVAILABLE', message: string): void;
}

export interface ReplicationOptions {
  id: string;
  group: string;
  replicas: number;
  sync: SyncMode;
  weight: number;
  masterTimeoutMs: number;
  heartbeatMs: number;
  maxBatch: number;
  /** Proposals sent and not yet acknowledged (sync mode) before the next one waits; 0 = no limit. */
  maxInflight: number;
  /** Remove-only entries (acks) may wait this long to ride with the next proposal (0: never wait). */
  ackHoldMs?: number;
  /**
   * Without fsync (the *_mem modes): a journal write waits up to this long (ms) from its first
   * entry for more to come, and writes them as one RocksDB batch; 0 = at once.
   */
  gatherMs?: number;
  /** Slave: committed entries are applied to the indexes at most this often (ms), or per maxBatch; 0 = at once. */
  replicaApplyMs: number;
  retention: number;
  /** Message bytes of the applied entries kept (0: no bound): they are held in memory too. */
  retentionBytes?: number;
  fsync: boolean;
  log: Logger;
  /** masterLost: report to the coordinators (best effort). */
  reportMasterLost?(epoch: number, masterId: string): void;
  /** Member ids of the group when an Assign names none (from ZooKeeper). */
  knownMembers?(): string[];
  /**
   * With ZooKeeper: the group's epoch as the coordinator published it (its epoch znode). No
   * Prepare, Assign, Hello or Append may raise this store's promise above it (a forged epoch
   * would be persisted and fence the group for good). Absent (tests without ZooKeeper): no check.
   */
  epochs?: { published(): number | undefined; read(): Promise<number> };
}

type WriteItem =
  | { kind: 'persist'; entries: readonly Entry[] }
  | { kind: 'truncate'; from: number }
  | { kind: 'epoch'; epoch: number; done: () => void }
  | { kind: 'meta'; name: string; value: string }
  | { kind: 'reset'; epoch: number; position: number; staging: SnapshotStaging }
  | { kind: 'task'; run: () => Promise<void> | void };

interface StepCtx { seen: Action[]; done(seen: Action[]): void }

/** Per slave, for lag metrics: when it last held everything the master had. */
interface LagInfo { entries: number; seconds: number }

export class ReplicatedJournal implements Journal {
  readonly replica: Replica;
  readonly links: ReplicationLinks;
  private core: BrokerCore | null = null;
  /**
   * Entries in the log above `applied`, by position: the master's own as the core made them,
   * a slave's as they arrived (bytes, decoded when applied or on promotion: decoded at once they
   * held the ack back and lived through the apply window's scavenges).
   */
  private readonly unapplied = new Map<number, JournalEntry | Entry>();
  /**
   * The batch being proposed (consecutive positions from its first), so the persist action
   * needs no decode. An array swapped in and out, not a Map cleared per proposal: a long-lived
   * Map's table lives in old space, and each table it drops (clear, grow, shrink) still points at
   * the entries it held, so every scavenge until the next full collection kept them and the
   * messages they carry alive, and promoted them (docs/benchmarks.md, Session 24).
   */
  private proposing: readonly JournalEntry[] = [];
  private applied: number;
  /** Last journal position written (or in the batch being written). */
  private diskLast: number;
  /** Journal entries up to here are deleted (compacted into the indexes). */
  private diskSnap: number;
  /** Applied entries still held in the replication log's memory with message bytes, oldest first, from keptHead (retentionBytes). */
  private kept: Array<{ position: number; bytes: number }> = [];
  private keptHead = 0;
  private keptBytes = 0;
  private resetPending = false;
  private readonly snapshots: SnapshotTransfer;

  private readonly writes: WriteItem[] = [];
  private writing = false;
  /** When the write queue last went from empty to not empty (performance.now()). */
  private queuedAt = 0;
  /** Ends a gathering wait early (stop). */
  private endGather: (() => void) | null = null;
  private readonly actions: Array<{ a: Action; ctx?: StepCtx; last: boolean }> = [];
  private draining = false;
  private blocked = false;
  private readonly pending: JournalEntry[] = [];
  /** Last position of each proposal not acknowledged yet (master), oldest first. */
  private readonly inflight: number[] = [];
  private holdTimer: NodeJS.Timeout | null = null;
  /** Slave: when the committed entries waiting to be applied are due (0: none wait). */
  private applyDueAt = 0;

  private readonly roles: Roles;
  /** What the member service (member-service.ts) sees of this journal. */
  private readonly member: memberService.MemberJournal;
  private tickTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private failed = false;
  /**
   * Why this log diverged below its commit point (a master's append "overwrites committed
   * position"), saved as meta diverged; null while it has not. A diverged store holds entries
   * the group never committed: it follows no master, promises no epoch and takes no role
   * until its data directory is wiped (diverge()).
   */
  private divergedWhy: string | null = null;
  private readonly caughtUpAt = new Map<string, number>();
  /** Master: each slave's highest acknowledged position and when it last went up (or its stream was new). */
  private readonly ackProgress = new Map<string, { received: number; at: number }>();
  /** Reads of journal entries back from disk for a lagging slave (catch-up beyond memory). */
  catchUpReads = 0;
  private readonly warn: ReturnType<typeof warnEvery>;

  constructor(
    private readonly o: ReplicationOptions,
    private readonly journal: RocksJournal,
    private readonly host: ReplicationHost,
    disk: ReplicationDisk,
    core: BrokerCore,
  ) {
    this.warn = warnEvery(o.log, 5000);
    this.applied = disk.applied;
    this.diskSnap = disk.snapshotPosition;
    this.diskLast = disk.entries.length ? disk.entries[disk.entries.length - 1]!.position : disk.snapshotPosition;
    for (const e of disk.entries) if (e.position > disk.applied) this.unapplied.set(e.position, e.entry);
    this.divergedWhy = disk.diverged ?? null;
    this.replica = new Replica({
      id: o.id, replicas: o.replicas, sync: o.sync, masterTimeoutMs: o.masterTimeoutMs, heartbeatMs: o.heartbeatMs,
      maxBatch: o.maxBatch, incarnation: disk.incarnation,
      restored: {
        promisedEpoch: disk.promisedEpoch, snapshotPosition: disk.snapshotPosition, snapshotEpoch: disk.snapshotEpoch,
        entries: disk.entries.map((e) => ({ epoch: e.epoch, position: e.position, data: e.data })),
        commitPosition: disk.applied,
      },
    });
    this.core = core;
    this.links = new ReplicationLinks({
      id: o.id, group: o.group, incarnation: disk.incarnation, log: o.log,
      onMessage: (from, m) => this.onLinkMessage(from, m),
      onHello: (h) => this.onHello(h),
      onMasterUnreachable: (masterId) => this.step({ type: 'masterUnreachable', masterId, now: performance.now() }),
      onMasterHeard: (masterId) => this.step({ type: 'masterHeard', masterId, now: performance.now() }),
      // A master fenced for good takes no slave: the slave reports it lost at once.
      refuse: () => (this.roles.fencedByZk ? `store ${o.id} is fenced and no longer the master of group ${o.group}` : null),
      // A quarter of the master timeout: a stuck new stream is redialed well before the master
      // would be judged silent (in-process answers take a round trip).
      answerMs: Math.max(50, Math.floor(o.masterTimeoutMs / 4)),
    });
    this.roles = new Roles(o, {
      replica: this.replica, links: this.links, warn: this.warn,
      failed: () => this.failed,
      stopped: () => this.stopped,
      outOfGroup: () => this.outOfGroup(),
      saveMeta: (name, value) => this.enqueue({ kind: 'meta', name, value }),
      takeOver: (epoch, slaves) => this.takeOver(epoch, slaves),
      standDown: (message) => this.standDown(message),
    }, disk.members);
    this.member = {
      replica: this.replica, roles: this.roles, warn: this.warn,
      step: (e, done) => this.step(e, done),
      outOfGroup: () => this.outOfGroup(),
    };
    this.snapshots = new SnapshotTransfer(o, {
      journal, links: this.links, warn: this.warn,
      addressOf: (id) => this.roles.addressOf(id),
      stopped: () => this.stopped,
      offer: (s) => this.step({ type: 'installSnapshot', ...s }),
    });
  }

  start(): void {
    this.snapshots.removeLeftover(); // a fetch or install cut short by a crash
    if (this.divergedWhy) this.o.log.error({ dataDir: this.journal.db.location, diverged: this.divergedWhy }, this.recoveryAdvice());
    const period = this.tickPeriod;
    this.lastTickAt = performance.now();
    let lastSilentCheck = this.lastTickAt;
    this.tickTimer = setInterval(() => {
      const now = performance.now();
      const late = this.noteOwnStall(now);
      this.lastTickAt = now;
      this.step({ type: 'tick', now });
      if (!this.writing && this.needsApply()) this.kick(); // a slave's apply window ended
      if (now - lastSilentCheck >= this.o.heartbeatMs) {
        lastSilentCheck = now;
        this.pingStandbys();
        // After the I/O this turn has waiting (setImmediate runs after the poll phase), and not
        // after a stall of this process's own: its slaves' messages may be unread, not missing.
        if (late < this.o.masterTimeoutMs / 2) setImmediate(() => this.cutStalledSlaves());
      }
    }, period);
    this.tickTimer.unref();
    this.step({ type: 'tick', now: performance.now() });
  }

  private get tickPeriod(): number { return Math.max(5, Math.min(50, Math.floor(this.o.heartbeatMs / 4))); }

  /**
   * How late this tick is; a tick late by half the master timeout or more is a stall of this
   * process's own event loop (SIGSTOP, an overloaded machine, a long GC), remembered in ownStallAt.
   */
  private noteOwnStall(now: number): number {
    const late = now - this.lastTickAt - this.tickPeriod;
    if (late >= this.o.masterTimeoutMs / 2) this.ownStallAt = now;
    return late;
  }

  /**
   * Slave: whether a masterLost report now would judge the master by a silence that was this
   * process's own — its event loop stalled within the last master timeout (or has not ticked
   * for half of it, seen from an I/O callback that ran first). Its master's heartbeats may be
   * waiting unread in the socket, and a master that ended this slave's stream as silent did so
   * because this slave was. The report is left to the next silence (the core repeats it every
   * master timeout while the master stays silent) and to the other slaves.
   */
  private ownStallWithin(now: number): boolean {
    this.noteOwnStall(now);
    return now - this.ownStallAt < this.o.masterTimeoutMs;
  }

  /**
   * Master: a heartbeat (an empty batch) to every member with a stream open that it does not
   * replicate to — one registered beyond the replicas-1 slaves it takes (a group growing,
   * docs/operations.md). Assigned slave by the coordinators but sent nothing, such a member
   * reported this master lost every master timeout, and with one other member down its report
   * alone started an election (docs/reliability.md D19). It takes no entries and its acks count
   * for nothing; the heartbeats only tell it this master lives. Then a standby may take the
   * place of a slave gone for long (replaceGoneSlaves).
   */
  private pingStandbys(): void {
    if (this.stopped || this.replica.role !== 'master' || this.roles.fencedByZk) { this.streamlessSince.clear(); return; }
    if (this.streamlessEpoch !== this.replica.epoch) { this.streamlessSince.clear(); this.streamlessEpoch = this.replica.epoch; }
    const accepted = this.links.acceptedPeers();
    const standbys = accepted.filter((peer) => !this.replica.slaveProgress(peer));
    for (const peer of standbys) this.links.ping(peer);
    this.replaceGoneSlaves(accepted, standbys);
  }

  /** Master: since when each of its slaves has had no stream open in this epoch (replaceGoneSlaves). */
  private readonly streamlessSince = new Map<string, number>();
  private streamlessEpoch = -1;

  /**
   * Master: a slave with no stream open for twice the master timeout gives its place to a
   * standby (a member beyond the replicas-1 slaves that dialed in): a store replaced under a new
   * node id, or a group's member moved, catches up at once instead of at the next election. A
   * slave that merely restarts is back within that time; one that returns later is a standby.
   * Commits still need quorum(replicas) of the master and its slaves (replica.ts replaceMember).
   */
  private replaceGoneSlaves(accepted: string[], standbys: string[]): void {
    const now = performance.now();
    const open = new Set(accepted);
    for (const id of [...this.streamlessSince.keys()]) if (open.has(id) || !this.replica.slaveProgress(id)) this.streamlessSince.delete(id);
    const gone: Array<[string, number]> = [];
    for (const id of this.roles.members) {
      if (open.has(id) || !this.replica.slaveProgress(id)) continue;
      const since = this.streamlessSince.get(id) ?? now;
      this.streamlessSince.set(id, since);
      if (now - since >= 2 * this.o.masterTimeoutMs) gone.push([id, since]);
    }
    const free = [...standbys];
    for (const [id, since] of gone) {
      const standby = free.shift();
      if (!standby) return;
      this.step({ type: 'replaceMember', gone: id, id: standby }, (seen) => {
        if (seen.some((a) => a.type === 'refuse')) return;
        this.roles.replaced(id, standby);
        this.streamlessSince.delete(id);
        this.slavesReplaced++;
        this.o.log.warn({ gone: id, standby, goneForMs: Math.round(now - since), epoch: this.replica.epoch },
          'a slave had no replication stream for twice the master timeout: replicating to a standby member in its place');
      });
    }
  }

  /** Slaves given up for a standby in their place (replaceGoneSlaves). */
  slavesReplaced = 0;

  /**
   * Master: ends the replication streams that are stalled (ReplicationLinks.endAccepted: the
   * slave reports this master lost at once and redials on a new connection) — a stream that
   * brought nothing for masterTimeoutMs (slaves answer every heartbeat), or one whose slave has
   * taken none of the entries waiting for it for that long (nor answered a probe with a reject:
   * a search back through a diverged log is progress too). On a link that
   * drops packets now and then, TCP's retransmission backoff grows to seconds and one
   * direction may stall while the other flows: the slaves still hear this master, report
   * nothing, and nothing commits.
   */
  private cutStalledSlaves(): void {
    if (this.stopped || !this.roles.serving) return;
    const ms = this.o.masterTimeoutMs;
    const now = performance.now();
    const last = this.replica.lastPosition;
    // A standby (pingStandbys) answers nothing: its silence is not a stall.
    const stalled = new Set(this.links.silent(ms).filter((id) => this.replica.slaveProgress(id)));
    for (const id of this.links.acceptedPeers()) {
      const p = this.replica.slaveProgress(id);
      // Any state but a snapshot on its way (that has its own timeout): a slave that stops taking
      // entries spends most of its time in 'probe' (the master resends from its last ack every
      // heartbeat), so a check for 'replicate' alone missed it as often as not.
      if (!p || p.state === 'snapshot' || p.received >= last) continue;
      const moved = Math.max(this.ackProgress.get(id)?.at ?? 0, this.caughtUpAt.get(id) ?? 0);
      if (now - moved > ms) stalled.add(id);
    }
    if (stalled.size === 0) return;
    const slaves = [...stalled];
    this.links.endAccepted(slaves, `store ${this.o.id}: this replication stream moved nothing for ${ms} ms and was ended as stalled (report the master lost, redial)`);
    this.stalledStreams += slaves.length;
    this.o.log.warn({ slaves, ms }, 'replication streams stalled for replication.masterTimeoutMs: ended (the slaves report this master lost and redial on a new connection)');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.roles.stop();
    if (this.tickTimer) clearInterval(this.tickTimer);
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.endGather?.();
    this.links.close();
    for (let i = 0; i < 500 && (this.writing || this.writes.length); i++) await new Promise((r) => setTimeout(r, 10));
  }

  // ---- read side ----------------------------------------------------------------------------

  /** Sessions may be served: master of the current epoch, core rebuilt, not fenced. */
  get serving(): boolean { return this.roles.serving; }
  get role(): Role | 'diverged' {
    if (this.divergedWhy) return 'diverged';
    return this.roles.role;
  }
  /** Why this store's log diverged from its group's (null: it has not). */
  get diverged(): string | null { return this.divergedWhy; }
  get epoch(): number { return this.replica.epoch; }
  get appliedPosition(): number { return this.applied; }
  get masterId(): string | undefined { return this.replica.role === 'master' ? this.o.id : this.replica.masterId; }
  addressOf(id: string | undefined): string | undefined { return id === undefined ? undefined : this.roles.addressOf(id); }
  /** Master demotions and fencings (hawser_store_fenced_total). */
  get fencedTotal(): number { return this.roles.fencedTotal; }
  /** Master: slaves' replication streams ended as stalled (hawser_store_replication_streams_stalled_total). */
  stalledStreams = 0;
  /** Slave: masterLost reports not sent because this store's own event loop had stalled (hawser_store_master_lost_not_reported_total). */
  ownStallsNotReported = 0;
  private lastTickAt = 0;
  private ownStallAt = -Infinity;

  /** Master: lag of each slave it replicates to. */
  lag(): Map<string, LagInfo> {
    const out = new Map<string, LagInfo>();
    if (this.replica.role !== 'master') return out;
    const last = this.replica.lastPosition;
    const now = performance.now();
    for (const [id, at] of this.caughtUpAt) {
      const p = this.replica.slaveProgress(id);
      if (!p) continue;
      const behind = Math.max(0, last - p.received);
      out.set(id, { entries: behind, seconds: behind === 0 ? 0 : (now - at) / 1000 });
    }
    return out;
  }

  // ---- coordinator (Member service: member-service.ts) --------------------------------------

  prepare(req: PrepareRequest): Promise<PrepareReply> { return memberService.prepare(this.o, this.member, req); }
  assign(req: AssignRequest): Promise<AssignReply> { return memberService.assign(this.o, this.member, req); }

  // ---- ZooKeeper and roles (roles.ts) -------------------------------------------------------

  hintMaster(m: { id: string; address: string; epoch: number }): void { this.roles.hintMaster(m); }
  remember(ids: Array<string | undefined>): void { this.roles.remember(ids); }
  zkLost(why: string): void { this.roles.zkLost(why); }
  zkDisconnected(): void { this.roles.zkDisconnected(); }
  zkInDoubt(why?: string): void { this.roles.zkInDoubt(why); }
  zkReconnected(read: () => Promise<ZkGroupState>): Promise<boolean> { return this.roles.zkReconnected(read); }
  epochPublished(epoch: number): void { this.roles.epochPublished(epoch); }

  // ---- master: proposals --------------------------------------------------------------------

  /**
   * The core made entries (master). With nothing in flight they are proposed at once, even
   * while this node's own disk write runs (the slaves' acks are what a quorum_* receipt waits
   * for); otherwise at the next group commit or acknowledgement, as one batch.
   */
  submit(entries: JournalEntry[]): void {
    if (!entries.length) return;
    // Stopping (SIGTERM): the core takes nothing more (step), so a proposal now would leave a
    // hole the next one trips on ("does not follow the log": the store exited 1 instead of 0
    // when a rolling restart stopped a master under load). Nothing of these gets a receipt;
    // the clients' sessions move to the next master and send again.
    if (this.stopped) return;
    if (!this.serving) {
      this.warn('drop', { count: entries.length }, 'entries made while not serving as master were dropped');
      return;
    }
    this.pending.push(...entries);
    if (this.holdAcks()) return;
    if (!this.writing || this.nothingInFlight()) this.propose();
  }

  /**
   * Acks ride with the next proposal: when everything pending only removes messages, wait up
   * to `ackHoldMs` for an entry that something waits on (a SEND's receipt) and go out with it.
   * At one message at a time this saves the slaves a wake-up per consumed message.
   */
  private holdAcks(): boolean {
    const ms = this.o.ackHoldMs ?? 0;
    if (ms <= 0 || !this.pending.every(removesOnly)) return false;
    if (!this.holdTimer) {
      this.holdTimer = setTimeout(() => {
        this.holdTimer = null;
        if (!this.writing || this.nothingInFlight()) this.propose();
      }, ms);
    }
    return true;
  }

  /**
   * Pipelining bound (etcd raft's MaxInflightMsgs): while `maxInflight` proposals wait for
   * their acknowledgement, new entries gather in `pending` and go out as ONE proposal when
   * the oldest is acknowledged. Batches grow with the load by themselves (nothing waits when
   * nothing is in flight), so the group pays its per-batch costs (a gRPC message per slave,
   * a RocksDB batch per node) less often under load: window 64 ~+10% msg/s
   * (docs/benchmarks.md).
   */
  private mayPropose(): boolean {
    const acked = this.replica.acknowledgedPosition;
    while (this.inflight.length && this.inflight[0]! <= acked) this.inflight.shift();
    return this.o.maxInflight <= 0 || this.inflight.length < this.o.maxInflight;
  }

  /** No proposal waits for its acknowledgement (measured: 4 paired runs, client on the master, quorum_mem: rpm +6%, w64 +14%). */
  private nothingInFlight(): boolean {
    this.mayPropose();
    return this.inflight.length === 0;
  }

  /** Proposes what is pending (up to maxBatch entries); false if nothing went out. */
  private propose(): boolean {
    if (this.stopped || !this.serving || !this.pending.length || !this.mayPropose()) return false;
    const batch = this.pending.splice(0, this.o.maxBatch);
    if (this.holdTimer && !this.pending.length) { clearTimeout(this.holdTimer); this.holdTimer = null; }
    const first = batch[0]!;
    if (first.position !== this.replica.lastPosition + 1 || first.epoch !== this.replica.epoch) {
      // The core and the replica must agree on positions: one entry, one proposal, in order.
      this.fatal(new Error(`core entry (${first.epoch}, ${first.position}) does not follow the log (${this.replica.epoch}, ${this.replica.lastPosition})`));
      return false;
    }
    this.proposing = batch;
    this.inflight.push(batch[batch.length - 1]!.position);
    this.step({ type: 'propose', data: ownBytes(batch.map((e) => encodeEntry(e))) });
    this.proposing = [];
    return true;
  }

  // ---- the core's actions -------------------------------------------------------------------

  private step(e: Event, done?: (seen: Action[]) => void): void {
    if (this.stopped && e.type !== 'persisted') { done?.([]); return; }
    // Failed or diverged: the core hears nothing more (no heartbeat, ack, masterLost report or role change).
    if (this.failed || this.divergedWhy) { done?.([]); return; }
    let actions: Action[];
    try {
      actions = this.replica.step(e);
    } catch (err) {
      if (err instanceof ReplicationError && err.code === 'TRUNCATE_COMMITTED') this.diverge(err);
      else this.fatal(err as Error);
      done?.([]);
      return;
    }
    if (done) {
      const ctx: StepCtx = { seen: [], done };
      if (!actions.length) { done([]); } else {
        actions.forEach((a, i) => this.actions.push({ a, ctx, last: i === actions.length - 1 }));
      }
    } else {
      for (const a of actions) this.actions.push({ a, last: false });
    }
    this.drain();
  }

  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      while (!this.blocked && this.actions.length) {
        const it = this.actions.shift()!;
        this.exec(it.a);
        if (it.ctx) {
          it.ctx.seen.push(it.a);
          if (it.last) it.ctx.done(it.ctx.seen);
        }
      }
    } finally {
      this.draining = false;
    }
    if (this.roles.fencedByZk) this.links.discard();
    this.links.flush();
  }

  private exec(a: Action): void {
    switch (a.type) {
      case 'saveEpoch':
        // Durable before anything after it (the promise reply, the role change).
        this.blocked = true;
        this.enqueue({ kind: 'epoch', epoch: a.epoch, done: () => { this.blocked = false; this.drain(); } });
        return;
      case 'promise':
      case 'refuse':
        return; // answered by the step's caller
      case 'role':
        this.roles.onRole(a.role, a.epoch, a.masterId);
        return;
      case 'persist': {
        const first = this.proposing.length ? this.proposing[0]!.position : 0;
        for (const e of a.entries) {
          const mine = this.proposing[e.position - first];
          this.unapplied.set(e.position, mine?.position === e.position ? mine : e);
        }
        this.enqueue({ kind: 'persist', entries: a.entries });
        return;
      }
      case 'truncate':
        for (const p of [...this.unapplied.keys()]) if (p >= a.fromPosition) this.unapplied.delete(p);
        this.o.log.warn({ from: a.fromPosition }, 'truncating an uncommitted journal tail (written under an older master)');
        this.enqueue({ kind: 'truncate', from: a.fromPosition });
        return;
      case 'resetLog': {
        const s = this.snapshots.take();
        if (!s) { this.fatal(new Error('resetLog without a staged snapshot')); return; }
        this.unapplied.clear();
        this.resetPending = true;
        this.core = null;
        this.host.setCore(null);
        this.enqueue({ kind: 'reset', epoch: a.epoch, position: a.position, staging: s.staging });
        return;
      }
      case 'send':
        this.links.send(a.to, a.message);
        return;
      case 'read':
        void this.readForSlave(a);
        return;
      case 'sendSnapshot':
        this.o.log.info({ to: a.to, position: a.position }, 'slave needs a snapshot (entries it lacks are compacted)');
        this.links.send(a.to, { type: 'snapshot', from: this.o.id, epoch: this.replica.epoch, snapshotEpoch: a.epoch, position: a.position });
        return;
      case 'commit':
        this.kick();
        return;
      case 'acknowledge':
        if (this.roles.servesIn(a.epoch) && this.core && this.serving) {
          this.core.durable(a.position, Date.now());
          this.host.drive();
        }
        // A slot in the pipeline is free: what gathered meanwhile goes out as one proposal.
        if (this.pending.length && !this.holdAcks() && (!this.writing || this.nothingInFlight())) this.propose();
        return;
      case 'proposalRejected':
        this.warn('rejected', { count: a.count, master: a.masterId }, 'proposals rejected: not master');
        return;
      case 'masterLost':
        if (this.ownStallWithin(performance.now())) {
          this.ownStallsNotReported++;
          this.warn('ownStall', { epoch: a.epoch, master: a.masterId, masterTimeoutMs: this.o.masterTimeoutMs }, 'master silent or its link dropped, but this store\'s own event loop stalled within the master timeout (paused, or an overloaded machine): not reporting masterLost for that');
        } else {
          this.warn('masterLost', { epoch: a.epoch, master: a.masterId }, 'master lost (silent for replication.masterTimeoutMs, or its link refused or dropped): reporting masterLost');
          this.o.reportMasterLost?.(a.epoch, a.masterId);
        }
        // A silent master may be a hung stream on our side: dial again.
        if (this.links.following?.masterId === a.masterId) this.links.redial();
        return;
    }
  }

  /**
   * Master of `epoch` (Roles.promote): the proposals of an older term go, and once earlier
   * writes are done, the core gets the whole log and serves.
   */
  private takeOver(epoch: number, slaves: readonly string[]): void {
    this.pending.length = 0;
    this.inflight.length = 0;
    this.caughtUpAt.clear();
    this.ackProgress.clear();
    const now = performance.now();
    for (const id of slaves) this.caughtUpAt.set(id, now);
    this.enqueue({
      kind: 'task',
      run: () => {
        if (!this.roles.mayServe(epoch)) return;
        const core = this.core;
        if (!core) { this.fatal(new Error('no core to promote')); return; }
        // The log's tail above what the core has (uncommitted entries of older epochs, and our
        // no-op) is ours now: a new master commits its whole log.
        const tail: JournalEntry[] = [];
        for (let p = core.position + 1; p <= this.replica.lastPosition; p++) {
          const e = this.unappliedAt(p);
          if (!e) { this.fatal(new Error(`promotion: entry ${p} missing from the log`)); return; }
          tail.push(e);
        }
        if (tail.length) core.replay(tail, Date.now());
        core.takeReady();
        core.setEpoch(epoch);
        // The old master's deliveries were not replicated: everything in the log may have gone
        // out, so its next delivery here is marked redelivered (not a failure: D1, docs/reliability.md).
        core.markRecoveredPossiblyDelivered();
        // The core counts everything up to its no-op as acknowledged (Replica: acked = no-op).
        // What that makes (dispatch may expire or dead-letter messages: entries of this epoch;
        // page reads) is left in the core's Ready for host.drive() below: dropping it would
        // leave a gap in the core's positions (the next proposal refused as not following the
        // log) or a queue waiting for a page nobody reads.
        core.durable(this.replica.acknowledgedPosition, Date.now());
        this.roles.serveIn(epoch);
        this.host.setCore(core);
        this.o.log.info({ epoch, position: core.position, commit: this.replica.commitPosition }, 'master: serving');
        this.host.drive();
      },
    });
  }

  /** No longer master (Roles.demote): sessions end with NOT_MASTER, the core is rebuilt from disk. */
  private standDown(message: string): void {
    this.pending.length = 0;
    this.inflight.length = 0;
    this.host.endSessions('NOT_MASTER', message);
    this.core = null;
    this.host.setCore(null);
    this.enqueue({
      kind: 'task',
      run: async () => {
        const recovered = await this.journal.recover();
        if (recovered.position !== this.applied) this.o.log.error({ indexes: recovered.position, applied: this.applied }, 'index position differs from the applied position');
        this.core = this.host.makeCore(recovered, this.replica.epoch);
        this.host.setCore(this.core);
      },
    });
  }

  // ---- links --------------------------------------------------------------------------------

  private onLinkMessage(from: string, m: LinkMessage): void {
    if (memberService.beyondPublished(this.o, this.member, m.epoch, m.from || from)) return;
    if (m.type === 'snapshot') { this.snapshots.onOffer(m.from || from, m.epoch, m.position); return; }
    // A ZooKeeper-fenced master ignores its slaves (no acknowledge may come of them), but
    // hears of newer epochs (an append of the new master makes it follow).
    // A master fenced only while ZooKeeper is out of reach (zkResumeEpoch) keeps replicating.
    if (this.roles.fencedByZk && m.epoch <= this.replica.epoch) return;
    if (m.type === 'ack' && this.replica.role === 'master') {
      this.noteAck(m.from, m.received);
      this.roles.acknowledged(m.from, m.epoch);
    } else if (m.type === 'reject' && this.replica.role === 'master') {
      this.noteMoved(m.from);
    }
    this.step({ type: 'receive', message: m });
  }

  private noteAck(from: string, received: number): void {
    const now = performance.now();
    if (received >= this.replica.lastPosition || !this.caughtUpAt.has(from)) this.caughtUpAt.set(from, now);
    const p = this.ackProgress.get(from);
    if (!p || received > p.received) this.ackProgress.set(from, { received, at: now });
  }

  /** A slave's stream moved without a new position: a new stream, or a reject of a probe (searching back through a diverged log). cutStalledSlaves counts from here. */
  private noteMoved(from: string): void {
    this.ackProgress.set(from, { received: this.ackProgress.get(from)?.received ?? -1, at: performance.now() });
  }

  private onHello(h: ReplicationHello): void {
    if (memberService.beyondPublished(this.o, this.member, h.epoch, h.from)) return;
    if (h.epoch > this.replica.promisedEpoch) {
      this.o.log.warn({ slave: h.from, epoch: h.epoch }, 'a slave follows a newer epoch: fencing');
      this.step({ type: 'fence', epoch: h.epoch });
    }
    if (this.replica.role === 'master' && !this.roles.members.includes(h.from)) {
      // A member first seen after this master was assigned (down at the election, or new):
      // replicate to it from now on, unless that would make more than replicas-1 slaves.
      this.roles.remember([h.from]);
      this.step({ type: 'addMember', id: h.from }, (seen) => {
        const r = seen.find((a) => a.type === 'refuse');
        if (!seen.some((a) => a.type === 'send')) {
          this.warn(`unknown-${h.from}`, { slave: h.from, epoch: this.replica.epoch, reason: r?.type === 'refuse' ? r.reason : 'not master' }, 'a member not listed when this master was assigned dialed in and is not replicated to before the next election');
        } else {
          this.roles.joined(h.from);
          this.o.log.info({ slave: h.from, epoch: this.replica.epoch }, 'a member first seen after the election joined: replicating to it');
        }
      });
    }
    const now = performance.now();
    if (!this.caughtUpAt.has(h.from)) this.caughtUpAt.set(h.from, now);
    this.noteMoved(h.from); // a new stream gets its time
  }

  /** Replication.Snapshot: this store's indexes at one RocksDB snapshot. */
  serveSnapshot(call: grpc.ServerWritableStream<SnapshotRequest, SnapshotChunk>): Promise<void> {
    return this.snapshots.serve(call);
  }

  // ---- the writer (group commit) ------------------------------------------------------------

  /** An unapplied entry, decoded (a slave keeps what arrived as bytes until it needs the ops). */
  private unappliedAt(position: number): JournalEntry | undefined {
    const e = this.unapplied.get(position);
    return e && decodeWire(e);
  }

  private enqueue(w: WriteItem): void {
    if (!this.writes.length) this.queuedAt = performance.now();
    this.writes.push(w);
    this.kick();
  }

  /**
   * Group commit over time (journal.gatherMs): without fsync nothing but the commit point waits
   * for this node's disk (a *_mem receipt waits for the slaves' memory), so a write of entries
   * alone waits until `gatherMs` after its first was queued and takes what came meanwhile. At a
   * message or two in flight (receipt per message, 4x4) that is several entries per RocksDB batch
   * instead of one: a batch costs a hand-off to the thread pool and back, and an append's disk
   * ack. Never for an epoch (a promise waits on it), a truncate, a reset or a task; never once a
   * batch is full or the journal stops.
   */
  private async gather(): Promise<void> {
    const ms = this.o.gatherMs ?? 0;
    if (ms <= 0 || this.o.fsync || this.stopped || !this.writes.length) return;
    let n = 0;
    for (const w of this.writes) {
      if (w.kind !== 'persist') return;
      n += w.entries.length;
    }
    const wait = this.queuedAt + ms - performance.now();
    if (n >= this.o.maxBatch || wait < 1) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => { this.endGather = null; resolve(); }, wait);
      this.endGather = () => { clearTimeout(t); this.endGather = null; resolve(); };
    });
  }

  private kick(): void {
    if (!this.writing && !this.failed) void this.writeLoop();
  }

  /**
   * Whether committed entries should be applied to the indexes now. A master applies at
   * once (its core serves from them). A slave applies in windows of `replicaApplyMs` (or
   * `maxBatch` entries): a message and its ack that fall in one window cancel out and never
   * touch the message records (RocksJournal.materialize), which is most of a slave's disk
   * work when consumers keep up. Nothing is at risk: the entries are in the journal, a
   * promotion replays the unapplied tail into the core, and a restart applies it again.
   */
  private needsApply(): boolean {
    if (this.resetPending) return false;
    const target = Math.min(this.replica.commitPosition, this.diskLast);
    if (target <= this.applied) { this.applyDueAt = 0; return false; }
    if (this.replica.role === 'master' || this.o.replicaApplyMs <= 0 || this.stopped) return true;
    if (target - this.applied >= this.o.maxBatch) return true;
    const now = performance.now();
    if (!this.applyDueAt) this.applyDueAt = now + this.o.replicaApplyMs;
    return now >= this.applyDueAt;
  }

  private async writeLoop(): Promise<void> {
    this.writing = true;
    try {
      // Start after the current step's actions have all executed (a task queued by one
      // action must see the persist queued by the next).
      await Promise.resolve();
      for (;;) {
        if (this.failed) return;
        const head = this.writes[0];
        if (head?.kind === 'task') { this.writes.shift(); await head.run(); continue; }
        if (head?.kind === 'reset') { this.writes.shift(); await this.install(head); continue; }
        if (!head && !this.needsApply()) {
          if (this.propose()) continue;
          break;
        }
        await this.gather();
        await this.writeBatch();
        // Group commit: what the core made meanwhile is proposed as one batch now.
        this.propose();
      }
    } catch (err) {
      this.fatal(err as Error);
    } finally {
      this.writing = false;
    }
  }

  private async writeBatch(): Promise<void> {
    const ops: BatchOp[] = [];
    let sync = this.o.fsync;
    let lastPersist: Entry | null = null;
    const dones: Array<() => void> = [];
    let n = 0;
    while (this.writes.length) {
      const w = this.writes[0]!;
      if (w.kind === 'task' || w.kind === 'reset') break;
      if (w.kind === 'persist' && n > 0 && n + w.entries.length > this.o.maxBatch) break;
      this.writes.shift();
      if (w.kind === 'persist') {
        for (const e of w.entries) {
          this.journal.putEntry(ops, e.position, e.data.length ? e.data : encodeEntry(this.unappliedAt(e.position) ?? { epoch: e.epoch, position: e.position, time: 0, ops: [] }));
        }
        n += w.entries.length;
        lastPersist = w.entries[w.entries.length - 1] ?? lastPersist;
        if (lastPersist) this.diskLast = lastPersist.position;
      } else if (w.kind === 'truncate') {
        this.journal.delEntries(ops, w.from, this.diskLast);
        this.diskLast = Math.min(this.diskLast, w.from - 1);
      } else if (w.kind === 'meta') {
        this.journal.putMeta(ops, w.name, w.value);
      } else {
        this.journal.putMeta(ops, 'promised', String(w.epoch));
        sync = true;
        dones.push(w.done);
      }
    }
    // Index updates for entries now committed and on disk (or in this very batch).
    const target = this.needsApply() ? Math.min(this.replica.commitPosition, this.diskLast) : this.applied;
    const apply: JournalEntry[] = [];
    for (let p = this.applied + 1; p <= target; p++) {
      const e = this.unappliedAt(p);
      if (!e) { this.o.log.error({ position: p }, 'committed entry missing from memory: applying stops here'); break; }
      apply.push(e);
    }
    const after = apply.length ? await this.journal.materialize(apply, ops) : [];
    const upTo = apply.length ? apply[apply.length - 1]!.position : this.applied;
    // Compaction: keep `retention` entries below the applied position for slaves' catch-up.
    let compactTo = 0;
    // The journal keeps `journal.retention` entries on disk for slaves' catch-up; of those, the
    // replication log holds in memory at most HELD_ENTRIES and `journal.retentionBytes` of message
    // bytes (the newest applied entry always): older ones leave memory (release) and a slave
    // that needs them gets them read back from RocksDB.
    const x = upTo - this.o.retention;
    let releaseTo = upTo - HELD_ENTRIES;
    const maxBytes = this.o.retentionBytes ?? 0;
    if (maxBytes > 0) {
      for (const e of apply) {
        let bytes = 0;
        for (const op of e.ops) if (op.kind === 'enqueue') bytes += op.enqueue.message.body.length;
        if (bytes) { this.kept.push({ position: e.position, bytes }); this.keptBytes += bytes; }
      }
      while (this.keptHead < this.kept.length - 1 && (this.keptBytes > maxBytes || this.kept[this.keptHead]!.position <= releaseTo)) {
        const k = this.kept[this.keptHead++]!;
        this.keptBytes -= k.bytes;
        releaseTo = Math.max(releaseTo, k.position);
      }
      if (this.keptHead > 1024 && this.keptHead * 2 > this.kept.length) { this.kept = this.kept.slice(this.keptHead); this.keptHead = 0; }
    }
    if (apply.length && x > this.diskSnap && x > this.replica.snapshotPosition) {
      const ex = this.replica.epochAt(x);
      if (ex !== undefined) {
        this.journal.delEntries(ops, this.diskSnap + 1, x);
        this.journal.putMeta(ops, 'snapshot', `${ex}:${x}`);
        compactTo = x;
      }
    }
    await this.journal.commitOps(ops, sync, after);
    if (apply.length) {
      this.applied = upTo;
      this.journal.written = upTo;
      for (const e of apply) this.unapplied.delete(e.position);
      const core = this.core;
      if (core && core.position < upTo) {
        // A slave's core follows the committed log (the master's made these entries itself).
        core.replay(apply.filter((e) => e.position > core.position), Date.now());
        const r = core.takeReady();
        if (r.entries.length) this.warn('replayEntries', { count: r.entries.length }, 'replay made entries on a replica (dropped)');
      }
      this.host.applied();
    }
    if (lastPersist) this.step({ type: 'persisted', epoch: lastPersist.epoch, position: lastPersist.position });
    if (compactTo) {
      this.diskSnap = compactTo;
      try { this.replica.step({ type: 'compact', position: compactTo }); } catch (e) {
        if (!(e instanceof ReplicationError)) throw e;
        this.warn('compact', { err: e.message }, 'compaction refused by the core');
      }
    }
    releaseTo = Math.min(releaseTo, this.applied, this.replica.persistedPosition, this.replica.commitPosition);
    if (releaseTo >= this.replica.heldFrom) this.replica.step({ type: 'release', position: releaseTo });
    for (const d of dones) d();
  }

  /**
   * Catch-up of a slave behind what the replication log holds in memory: its entries read back
   * from RocksDB (the stored bytes, as they were replicated), then handed to the core to send.
   */
  private async readForSlave(a: Extract<Action, { type: 'read' }>): Promise<void> {
    let entries: Entry[] = [];
    try {
      const raw = await this.journal.entryRange(a.from, a.upTo, a.max, a.maxBytes);
      this.catchUpReads++;
      entries = raw.map((r) => ({ epoch: entryEpoch(r.data), position: r.position, data: r.data }));
    } catch (e) {
      this.warn('readForSlave', { to: a.to, from: a.from, err: (e as Error).message }, 'reading journal entries back for a slave failed; retrying');
      await new Promise((r) => setTimeout(r, 100));
    }
    if (this.stopped) return;
    this.step({ type: 'entriesRead', to: a.to, from: a.from, entries });
  }

  /** The core reset its log to a fetched snapshot: installed on disk, the log starts at its position. */
  private async install(w: { epoch: number; position: number; staging: SnapshotStaging }): Promise<void> {
    await this.snapshots.install(w);
    this.applied = w.position;
    this.diskLast = w.position;
    this.diskSnap = w.position;
    this.resetPending = false;
    for (const p of [...this.unapplied.keys()]) if (p <= w.position) this.unapplied.delete(p);
    const recovered = await this.journal.recover();
    this.core = this.host.makeCore(recovered, this.replica.epoch);
    this.host.setCore(this.core);
    this.o.log.info({ position: w.position, epoch: w.epoch }, 'snapshot installed');
    this.host.applied();
    this.step({ type: 'persisted', epoch: w.epoch, position: w.position });
  }

  /**
   * The journal failed (a RocksDB write: disk full, read-only, I/O error): stop taking part in
   * the group at once. No receipt after this (acknowledge needs `serving`), no heartbeat or
   * append (the tick stops, the links close), no promise; the store drops its member znode
   * and exits (store.ts fail), so the coordinator elects another master.
   */
  private fatal(err: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.o.log.error({ err, dataDir: this.journal.db.location, role: this.replica.role, epoch: this.replica.epoch }, 'replicated journal failed: this store leaves the group (no receipt, heartbeat or promise from now on)');
    this.roles.leave();
    if (this.tickTimer) clearInterval(this.tickTimer);
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.pending.length = 0;
    this.links.close();
    this.host.fail(err);
  }

  /** Why this store takes no part in elections (null: it does). */
  private outOfGroup(): string | null {
    if (this.divergedWhy) return `store ${this.o.id} is diverged (its log holds entries the group never committed): wipe its data directory ${this.journal.db.location} and restart it to re-sync`;
    if (this.failed) return `store ${this.o.id}'s journal failed: it is leaving the group`;
    return null;
  }

  private recoveryAdvice(): string {
    const dir = this.journal.db.location;
    return `diverged: this store's log holds entries below its commit point that the group never committed (e.g. written by a standalone run on the same directory, or a restored backup). ` +
      `It follows no master and promises no epoch. To recover: stop this store, delete (or move away) ${dir}, and start it again: it re-syncs from the master`;
  }

  /** A master's append overwrites a position this log counts as committed: see divergedWhy. */
  private diverge(err: ReplicationError): void {
    if (this.divergedWhy) return;
    this.divergedWhy = `${new Date().toISOString()} ${err.message}`;
    this.links.unfollow();
    this.o.log.error({ err: err.message, dataDir: this.journal.db.location, commit: this.replica.commitPosition, last: this.replica.lastPosition, epoch: this.replica.epoch }, this.recoveryAdvice());
    // Saved, so a restart cannot promise (and win with the longest log) before the next append shows it again.
    this.enqueue({ kind: 'meta', name: 'diverged', value: this.divergedWhy });
  }
}

/** The entry as the core reads it: a replicated entry's bytes decoded (one already decoded as is). */
function decodeWire(e: Entry | JournalEntry): JournalEntry {
  if ('ops' in e) return e;
  if (e.noop || e.data.length === 0) return { epoch: e.epoch, position: e.position, time: 0, ops: [] };
  const je = decodeEntry(e.data);
  je.epoch = e.epoch;
  je.position = e.position;
  return je;
}
