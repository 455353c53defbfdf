// The roles of a replicated store (master, slave, fenced) and ZooKeeper's say in them. The
// replication core (Replica) decides a role from the coordinator's Prepare and Assign and from
// the master's appends; this file turns it into serving or not (become master, become slave,
// fence), fences a master that lost ZooKeeper or sees a newer published epoch, lets one whose
// ZooKeeper session survived an outage serve again in its epoch, and keeps what the store
// knows of its group's members (their addresses, the saved member ids).
import { performance } from 'node:perf_hooks';
import type { Replica, Role, SyncMode } from '@hawser/replication';
import type { Logger } from '@hawser/observability';
import type { ReplicationLinks } from './links';

/** The replication options the roles read (ReplicationOptions has them). */
export interface RoleOptions {
  id: string;
  group: string;
  replicas: number;
  sync: SyncMode;
  masterTimeoutMs: number;
  heartbeatMs: number;
  log: Logger;
}

/** What the roles need of the replicated journal around them. */
export interface RoleJournal {
  readonly replica: Replica;
  readonly links: ReplicationLinks;
  /** Rate-limited warnings (shared with the journal's). */
  warn(key: string, fields: Record<string, unknown>, msg: string): void;
  /** The journal failed: nothing is served. */
  failed(): boolean;
  /** The journal is stopping. */
  stopped(): boolean;
  /** Why this store takes no part in elections (diverged, failed; null: it does). */
  outOfGroup(): string | null;
  /** Saves a meta value, in write order. */
  saveMeta(name: string, value: string): void;
  /**
   * Master of `epoch` from now: the proposals of an older term are dropped and, once earlier
   * writes are done, the core gets the whole log; it serves once `mayServe(epoch)` still holds
   * (serveIn).
   */
  takeOver(epoch: number, slaves: readonly string[]): void;
  /** No longer master: sessions end with NOT_MASTER and this message, proposals are dropped, the core is rebuilt from disk. */
  standDown(message: string): void;
}

/** The ZooKeeper znodes a master fenced by an outage reads when the same session is back. */
export interface ZkGroupState { epoch: number; master: { id: string; epoch: number } | null; memberOwned: boolean }

export class Roles {
  /** The epoch this store serves sessions in (null: not serving). */
  private servingEpoch: number | null = null;
  /** The epoch it was promoted for (set at role master, before serving). */
  private masterEpoch: number | null = null;
  /** The ZooKeeper session was lost while master: act as fenced until told a role again. */
  private zkFenced = false;
  /**
   * Fenced only because ZooKeeper was out of reach for the whole session timeout (the session
   * may still live, e.g. a ZooKeeper quorum loss): the epoch it may serve in again if the same
   * session comes back and nothing moved (zkReconnected). Meanwhile it keeps replicating, so
   * its slaves hear it and report no masterLost. null: fenced for good (until a role comes).
   */
  private zkResumeEpoch: number | null = null;
  /** Master: when each slave last acknowledged in this epoch (do they still follow?). */
  private readonly heardAt = new Map<string, number>();
  /** Master serving on while disconnected from ZooKeeper: checks that a quorum's worth of slaves still acknowledges. */
  private zkQuorumCheck: NodeJS.Timeout | null = null;
  private prevRole: Role = 'candidate';
  private readonly addresses = new Map<string, string>();
  /** Slave ids of the last master assignment. */
  private slaves: string[] = [];
  /**
   * Every member id this store has seen in its group (Assign lists, ZooKeeper), saved: the
   * replication core's membership is fixed at becomeMaster, so a master must expect members
   * that are down right now, or they could not rejoin until the next election.
   */
  private readonly seenIds = new Set<string>();
  fencedTotal = 0;

  constructor(private readonly o: RoleOptions, private readonly j: RoleJournal, savedMembers: readonly string[]) {
    for (const id of savedMembers) if (id !== o.id) this.seenIds.add(id);
  }

  /** Sessions may be served: master of the current epoch, core rebuilt, not fenced. */
  get serving(): boolean { return this.servingEpoch !== null && !this.zkFenced && !this.j.failed(); }
  get role(): Role { return this.zkFenced && this.j.replica.role === 'master' ? 'fenced' : this.j.replica.role; }
  /** Serving sessions in `epoch` (receipts of that epoch may go out). */
  servesIn(epoch: number): boolean { return this.servingEpoch === epoch; }
  /**
   * A master fenced by ZooKeeper for good (session lost, newer epoch; not merely out of reach):
   * it ignores its slaves (no acknowledge may come of them) and keeps no link open.
   */
  get fencedByZk(): boolean { return this.zkFenced && this.zkResumeEpoch === null && this.j.replica.role === 'master'; }

  addressOf(id: string): string | undefined { return this.addresses.get(id); }
  learnAddress(id: string, address: string): void {
    this.addresses.set(id, address);
    this.j.links.warm(id, address); // connected before an election may make it our master
  }
  /** Slave ids of the last master assignment (and members that joined since). */
  get members(): readonly string[] { return this.slaves; }
  /** Member ids seen in this group (saved), besides this store. */
  get seen(): ReadonlySet<string> { return this.seenIds; }
  /** The slaves a master assignment names. */
  assigned(slaves: string[]): void { this.slaves = slaves; }
  /** A member first seen after this master was assigned now replicates from it. */
  joined(id: string): void { this.slaves = [...this.slaves, id]; }
  /** A standby replicates from this master in place of a slave that was gone (ReplicatedJournal.replaceGoneSlaves). */
  replaced(gone: string, id: string): void { this.slaves = [...this.slaves.filter((s) => s !== gone), id]; }

  /** Master: a slave acknowledged (in `epoch`). */
  acknowledged(from: string, epoch: number): void {
    if (epoch === this.j.replica.epoch) this.heardAt.set(from, performance.now());
  }

  /** The journal stops: no more checks. */
  stop(): void { this.stopQuorumCheck(); }

  /** The journal failed: neither master nor serving from now on. */
  leave(): void {
    this.servingEpoch = null;
    this.masterEpoch = null;
  }

  /**
   * The master znode changed (ZooKeeper): a store that is not master dials the published
   * master by itself; that master's first append (epoch >= our promise) makes the core follow.
   */
  hintMaster(m: { id: string; address: string; epoch: number }): void {
    if (!m.id || m.id === this.o.id || !m.address || this.j.outOfGroup()) return;
    this.addresses.set(m.id, m.address);
    const r = this.j.replica;
    if (m.epoch < r.promisedEpoch || (r.role === 'master' && !this.zkFenced)) return;
    if (r.role === 'slave' && r.epoch > m.epoch) return;
    this.j.links.follow(m.id, m.address, m.epoch);
  }

  /** Adds member ids to the saved set of this group's members. */
  remember(ids: Array<string | undefined>): void {
    let changed = false;
    for (const id of ids) {
      if (!id || id === this.o.id || this.seenIds.has(id)) continue;
      this.seenIds.add(id);
      changed = true;
    }
    if (changed) this.j.saveMeta('members', JSON.stringify([...this.seenIds].sort()));
  }

  /**
   * The ZooKeeper session expired (or was given up): stop acting as master at once (no receipt
   * after this). The Replica keeps its role until the coordinator's next Prepare; meanwhile
   * this store sends nothing as master and ends its slaves' streams, so they report masterLost.
   */
  zkLost(why: string): void {
    this.fenceForGood(`ZooKeeper session lost (${why})`);
  }

  /**
   * Stops acting as master for good (until the coordinator gives it a role): no receipt after
   * this, nothing sent to its slaves, and their streams ended with UNAVAILABLE, so a slave that
   * still hears it reports it lost at once instead of following a master that serves nobody.
   */
  private fenceForGood(why: string): void {
    if (this.j.replica.role !== 'master' && this.masterEpoch === null) return;
    this.stopQuorumCheck();
    this.zkResumeEpoch = null; // no serving again in this epoch
    const first = !this.zkFenced;
    this.zkFenced = true;
    this.j.links.closeAccepted(`store ${this.o.id} is no longer the master of group ${this.o.group} (fenced: ${why})`);
    if (!first) return;
    this.o.log.warn({ epoch: this.j.replica.epoch, why }, 'fenced while master; no receipt is sent from now on');
    this.demote(`fenced: ${why}`, true);
  }

  /**
   * Whether every receipt needs the acks of a quorum's worth of slaves (quorum - 1 >= 1): then
   * a master cut off from ZooKeeper cannot acknowledge anything once a newer epoch exists —
   * its election needed a quorum of promises, every quorum holds a slave this master needs,
   * and a slave that promised a newer epoch refuses older appends (docs/reliability.md, D6).
   * quorum_*: yes; remote_*: where one slave is a quorum's worth (2-3 replicas); local_*: no.
   */
  private receiptsNeedQuorum(): boolean {
    const slaves = Math.floor(this.o.replicas / 2); // quorum - 1
    if (slaves < 1) return false;
    if (this.o.sync.startsWith('quorum_')) return true;
    return this.o.sync.startsWith('remote_') && slaves === 1;
  }

  private get actingMaster(): boolean { return this.j.replica.role === 'master' || this.masterEpoch !== null; }

  /**
   * Master: the ZooKeeper connection dropped; the session may still live (Curator's
   * SUSPENDED). With receipts that need a quorum it serves on: nothing it acknowledges can be
   * lost to a newer master. Otherwise it fences at once, as a lost session. Serving on lasts
   * while a quorum's worth of slaves acknowledges it within replication.masterTimeoutMs (the
   * silence after which they would report it lost), and at most the session timeout (zkInDoubt).
   */
  zkDisconnected(): void {
    if (!this.actingMaster || this.zkFenced) return;
    if (!this.receiptsNeedQuorum()) { this.zkLost(`disconnected; sync ${this.o.sync} with ${this.o.replicas} replicas acknowledges without a quorum of slaves`); return; }
    this.o.log.warn({ epoch: this.j.replica.epoch, sync: this.o.sync }, 'ZooKeeper disconnected while master: serving on while the session may live (receipts still need a quorum of slaves)');
    this.stopQuorumCheck();
    this.zkQuorumCheck = setInterval(() => {
      if (!this.actingMaster || this.zkFenced) { this.stopQuorumCheck(); return; }
      if (!this.serving) return; // promoting
      const need = Math.floor(this.o.replicas / 2);
      const heard = this.slavesHeardWithin(this.o.masterTimeoutMs);
      // Its slaves' silence would report it lost now, unless the cut is one-way or flapping and
      // they still hear it: give the epoch up rather than keep them following (fenceForGood).
      if (heard < need) this.fenceForGood(`cut off from ZooKeeper and from its slaves (${heard} of the ${need} needed acknowledged within ${this.o.masterTimeoutMs} ms)`);
    }, Math.max(10, this.o.heartbeatMs));
    this.zkQuorumCheck.unref();
  }

  private stopQuorumCheck(): void {
    if (this.zkQuorumCheck) clearInterval(this.zkQuorumCheck);
    this.zkQuorumCheck = null;
  }

  /** Slaves that acknowledged this master (in its epoch) within the last `ms`. */
  private slavesHeardWithin(ms: number): number {
    const since = performance.now() - ms;
    let n = 0;
    for (const at of this.heardAt.values()) if (at >= since) n++;
    return n;
  }

  /**
   * Master: no ZooKeeper for the whole session timeout (Curator's LOST): the session has
   * probably expired and a newer master may be elected, so no delivery and no receipt from now
   * on. It keeps its role and keeps replicating (no masterLost from its slaves): if the same
   * session comes back with nothing moved, it serves again in this epoch (zkReconnected).
   */
  zkInDoubt(why = 'no ZooKeeper for the whole session timeout'): void {
    this.stopQuorumCheck();
    if (!this.actingMaster || this.zkFenced) return;
    if (this.j.replica.role !== 'master') { this.zkLost(why); return; }
    this.zkFenced = true;
    this.zkResumeEpoch = this.j.replica.epoch;
    this.o.log.warn({ epoch: this.j.replica.epoch, why }, 'fenced: out of reach of ZooKeeper while master; no receipt or delivery until the same session is back');
    this.demote(`fenced: ${why} (the session may have expired)`, true);
  }

  /**
   * Reconnected to ZooKeeper in the same session. A master fenced by zkInDoubt serves again in
   * its epoch if nothing moved: still master of that epoch here (no newer promise), the
   * group's epoch and the master znode unchanged (an election bumps the epoch znode first),
   * its member znode still its session's, and a quorum's worth of slaves acknowledged it
   * lately. Otherwise it gives the session up (resolves false): its znode goes and the
   * coordinator elects. true: keep the session.
   */
  async zkReconnected(read: () => Promise<ZkGroupState>): Promise<boolean> {
    this.stopQuorumCheck();
    const e = this.zkResumeEpoch;
    if (!this.zkFenced) return true;
    if (e === null) {
      if (!this.fencedByZk) return true;
      // Fenced for good and still master of its epoch here: the znode goes, the coordinator elects now.
      this.o.log.warn({ epoch: this.j.replica.epoch }, 'fenced for good while master: giving the ZooKeeper session up so the coordinator elects');
      return false;
    }
    let why: string | null;
    try {
      why = this.resumeRefusal(e, await read());
    } catch (err) {
      why = `cannot read the group's znodes: ${(err as Error).message}`;
    }
    if (!this.zkFenced || this.zkResumeEpoch !== e) return true; // a role or a loss came meanwhile
    if (why) {
      this.zkResumeEpoch = null;
      this.j.links.discard();
      this.o.log.warn({ epoch: e, why }, 'not serving again after the ZooKeeper outage: giving the session up so the coordinator elects');
      return false;
    }
    this.zkFenced = false;
    this.zkResumeEpoch = null;
    this.o.log.info({ epoch: e }, 'ZooKeeper session survived the outage and nothing moved: serving again as master in the same epoch');
    this.promote(e);
    return true;
  }

  private resumeRefusal(e: number, z: ZkGroupState): string | null {
    if (this.j.stopped() || this.j.outOfGroup()) return 'this store is leaving the group';
    const r = this.j.replica;
    if (r.role !== 'master' || r.epoch !== e || r.promisedEpoch !== e) return `no longer master of epoch ${e} here (role ${r.role}, epoch ${r.epoch}, promised ${r.promisedEpoch})`;
    if (z.epoch !== e) return `the group's epoch is ${z.epoch} now`;
    if (!z.master || z.master.id !== this.o.id || z.master.epoch !== e) return `the master znode names ${z.master ? `${z.master.id} in epoch ${z.master.epoch}` : 'nobody'}`;
    if (!z.memberOwned) return 'the member znode is not this session\'s';
    const need = Math.floor(this.o.replicas / 2);
    const following = this.slavesHeardWithin(Math.max(this.o.masterTimeoutMs, 3 * this.o.heartbeatMs));
    if (following < need) return `${following} slave(s) acknowledged lately, a quorum needs ${need}`;
    return null;
  }

  /**
   * The group's epoch znode shows an epoch above this master's: an election began (the bump
   * is its first step). Stop serving now rather than when its Prepare or a slave's refusal
   * comes — that bounds what a master cut off from its slaves but not from ZooKeeper serves.
   */
  epochPublished(epoch: number): void {
    if (this.j.replica.role !== 'master' || epoch <= this.j.replica.epoch) return;
    this.zkLost(`the group's epoch is ${epoch} now`);
  }

  /** The core's role action: become master, become slave, or fence. */
  onRole(role: Role, epoch: number, masterId: string | undefined): void {
    const prev = this.prevRole;
    this.prevRole = role;
    this.zkFenced = false;
    this.zkResumeEpoch = null;
    this.heardAt.clear();
    this.stopQuorumCheck();
    this.o.log.info({ role, epoch, master: masterId, from: prev }, `role ${role}`);
    if (this.masterEpoch !== null && !(role === 'master' && epoch === this.masterEpoch)) {
      this.demote(role === 'fenced' ? `fenced: a newer epoch than ${this.masterEpoch} exists` : `now ${role} in epoch ${epoch}`, role === 'fenced');
    }
    if (role === 'master') {
      this.j.links.unfollow();
      this.promote(epoch);
    } else if (role === 'slave' && masterId) {
      this.followMaster(masterId, epoch);
    }
  }

  followMaster(masterId: string, epoch: number): void {
    const address = this.addresses.get(masterId);
    if (!address) {
      this.j.warn('noAddress', { master: masterId }, 'following a master whose address is unknown (no Assign yet)');
      return;
    }
    this.j.links.follow(masterId, address, epoch);
  }

  /** Becomes master of `epoch`: once earlier writes are done, the core gets the whole log (RoleJournal.takeOver). */
  private promote(epoch: number): void {
    this.masterEpoch = epoch;
    this.j.takeOver(epoch, this.slaves);
  }

  /** Still master of `epoch` (promoted for it, not fenced) when the core is ready to serve in it. */
  mayServe(epoch: number): boolean {
    return this.masterEpoch === epoch && this.j.replica.role === 'master' && this.j.replica.epoch === epoch && !this.zkFenced;
  }

  /** The core holds the whole log: sessions are served in `epoch` from now. */
  serveIn(epoch: number): void { this.servingEpoch = epoch; }

  /** Stops serving at once: sessions end with NOT_MASTER (no receipt after this), the core is rebuilt from disk. */
  private demote(why: string, fenced: boolean): void {
    const wasServing = this.servingEpoch !== null;
    this.masterEpoch = null;
    this.servingEpoch = null;
    if (fenced || wasServing) this.fencedTotal++;
    this.j.standDown(`store ${this.o.id} is no longer the master of group ${this.o.group} (${why}); reconnect to the current master`);
    this.o.log.warn({ why, wasServing }, 'stopped acting as master');
  }
}
