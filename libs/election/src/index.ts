// @hawser/election: the coordinator's election rule and group state, with no I/O.
// The coordinator reads ZooKeeper and calls stores; everything it *decides* is here:
//   quorum(replicas)                 how many replicas make a quorum (counting the master)
//   chooseWinner(promises)           who becomes master among the members that promised
//   groupState(view)                 ok | electing | no-quorum, with the operator-facing message
//   electionTrigger(view, reports)   whether (and why) to start an election now
//   MasterLostReports                the slaves' ReportMasterLost votes for one epoch
// docs/architecture.md, coordinator: "with promises from a quorum, choose the highest
// (lastEpoch, lastPosition), then the highest weight, then the lowest id".

/** A quorum of a group of `replicas` (ActiveMQ replicas): floor(N/2)+1, counting the master. */
export function quorum(replicas: number): number {
  if (!Number.isInteger(replicas) || replicas < 1) throw new RangeError(`replicas must be a positive integer, got ${replicas}`);
  return Math.floor(replicas / 2) + 1;
}

/** A member's answer to Prepare(epoch) (coordination.proto PrepareReply, promised = true). */
export interface MemberPromise {
  id: string;
  lastEpoch: number;
  lastPosition: number;
  weight: number;
}

/** Orders candidates: negative when `a` should win over `b`. */
export function compareCandidates(a: MemberPromise, b: MemberPromise): number {
  if (a.lastEpoch !== b.lastEpoch) return b.lastEpoch - a.lastEpoch;
  if (a.lastPosition !== b.lastPosition) return b.lastPosition - a.lastPosition;
  if (a.weight !== b.weight) return b.weight - a.weight;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export type Decision =
  | { kind: 'winner'; winner: MemberPromise; slaves: MemberPromise[] }
  | { kind: 'no-quorum'; promised: number; needed: number };

/**
 * Decides an election from the promises received for one epoch. Quorum intersection: any
 * quorum of promises includes a member holding every committed entry, so the highest
 * (lastEpoch, lastPosition) among a quorum holds them all.
 *
 * `avoid`: a member not to elect while the others that promised are a quorum by themselves —
 * the master a quorum of slaves reported silent (a flapping or cut link, a stopped process):
 * elected again, the same slaves would lose it again and elect a second time. The others
 * being a quorum, the best of them holds every committed entry, as above; what only the
 * avoided one holds was never committed.
 */
export function chooseWinner(promises: readonly MemberPromise[], replicas: number, avoid?: string): Decision {
  const needed = quorum(replicas);
  // one vote per member, whatever the transport repeated
  const byId = new Map<string, MemberPromise>();
  for (const p of promises) byId.set(p.id, p);
  const unique = [...byId.values()];
  if (unique.length < needed) return { kind: 'no-quorum', promised: unique.length, needed };
  const sorted = unique.slice().sort(compareCandidates);
  const others = sorted.filter((p) => p.id !== avoid);
  if (avoid !== undefined && others.length < sorted.length && others.length >= needed) {
    return { kind: 'winner', winner: others[0], slaves: [...others.slice(1), sorted.find((p) => p.id === avoid)!] };
  }
  return { kind: 'winner', winner: sorted[0], slaves: sorted.slice(1) };
}

/** The master znode's content: <zkPath>/groups/<g>/master. */
export interface MasterRecord { id: string; address: string; epoch: number }

/** What the coordinator knows of one group at a moment. */
export interface GroupView {
  name: string;
  /** configured group size N */
  replicas: number;
  /** <zkPath>/groups/<g>/epoch (0 when absent) */
  epoch: number;
  /** <zkPath>/groups/<g>/master, undefined when absent or unreadable */
  master?: MasterRecord;
  /** ids of the live members (ephemeral znodes under members/) */
  members: readonly string[];
  /** an election for this group is running right now */
  electing?: boolean;
  /** the master's member znode is a new one (the store restarted): it is no longer master */
  masterRestarted?: boolean;
}

export type GroupStateName = 'ok' | 'electing' | 'no-quorum';
export interface GroupState { state: GroupStateName; message: string }

export function noQuorumMessage(alive: number, replicas: number): string {
  return `Not enough cluster members: ${alive} of ${replicas} alive, quorum is ${quorum(replicas)}`;
}

/** The master record is current: written for the current epoch and its member is alive. */
export function masterIsLive(view: GroupView): boolean {
  const m = view.master;
  return !!m && m.epoch === view.epoch && view.members.includes(m.id) && !view.masterRestarted;
}

/** ok when a live master of the current epoch exists; no-quorum when too few members are alive to elect one; electing otherwise. */
export function groupState(view: GroupView): GroupState {
  const alive = view.members.length;
  if (!view.electing && masterIsLive(view)) {
    const m = view.master as MasterRecord;
    // A master with fewer than a quorum alive still serves what it can, but commits nothing
    // new under the quorum modes: say so.
    if (alive < quorum(view.replicas)) return { state: 'no-quorum', message: `${noQuorumMessage(alive, view.replicas)} (master ${m.id} cannot commit)` };
    return { state: 'ok', message: `master ${m.id} in epoch ${view.epoch}, ${alive} of ${view.replicas} alive` };
  }
  if (alive < quorum(view.replicas)) return { state: 'no-quorum', message: noQuorumMessage(alive, view.replicas) };
  return { state: 'electing', message: `electing a master (epoch ${view.epoch}), ${alive} of ${view.replicas} alive` };
}

/** A slave's ReportMasterLost (coordination.proto MasterLost). */
export interface MasterLostReport { reporter: string; epoch: number; masterId: string }

/**
 * Collects ReportMasterLost votes. Only votes for the current master and epoch, from live
 * members other than the master, count; each reporter counts once; a new epoch clears them.
 */
export class MasterLostReports {
  private epoch = -1;
  private masterId = '';
  private readonly reporters = new Set<string>();

  /** Records a report; returns whether it counted (false: stale epoch or wrong master). */
  record(report: MasterLostReport, view: GroupView): boolean {
    const m = view.master;
    if (!m || report.epoch !== m.epoch || report.masterId !== m.id || m.epoch !== view.epoch) return false;
    if (report.reporter === m.id) return false;
    this.reset(m.epoch, m.id);
    this.reporters.add(report.reporter);
    return true;
  }

  /** Live reporters for the current master (members that left do not count). */
  count(view: GroupView): number {
    const m = view.master;
    if (!m || m.epoch !== this.epoch || m.id !== this.masterId) return 0;
    let n = 0;
    for (const r of this.reporters) if (view.members.includes(r) && r !== m.id) n++;
    return n;
  }

  clear(): void { this.reporters.clear(); this.epoch = -1; this.masterId = ''; }

  private reset(epoch: number, masterId: string): void {
    if (epoch !== this.epoch || masterId !== this.masterId) {
      this.reporters.clear();
      this.epoch = epoch;
      this.masterId = masterId;
    }
  }
}

export type TriggerReason = 'no-master' | 'master-gone' | 'unfinished-election' | 'master-lost';
export type Trigger =
  | { start: true; reason: TriggerReason; message: string }
  | { start: false; reason: 'master-live' | 'electing' | 'no-quorum'; message: string };

/**
 * Whether to start an election now. Elections start when the master znode is missing, when
 * the master's member znode is gone, when the epoch moved past the master record (an
 * election that a previous leader left unfinished), or when a quorum of the group reports
 * masterLost for the current epoch (the master is alive in ZooKeeper but its slaves cannot
 * hear it). Never with fewer than a quorum alive: Prepare could not gather a quorum.
 */
export function electionTrigger(view: GroupView, reports?: MasterLostReports): Trigger {
  if (view.electing) return { start: false, reason: 'electing', message: 'an election is running' };
  const alive = view.members.length;
  const q = quorum(view.replicas);
  let reason: TriggerReason | undefined;
  let message = '';
  const m = view.master;
  if (!m) { reason = 'no-master'; message = 'no master recorded'; }
  else if (!view.members.includes(m.id)) { reason = 'master-gone'; message = `master ${m.id} of epoch ${m.epoch} is gone`; }
  else if (view.masterRestarted) { reason = 'master-gone'; message = `master ${m.id} of epoch ${m.epoch} restarted`; }
  else if (m.epoch !== view.epoch) { reason = 'unfinished-election'; message = `epoch ${view.epoch} has no master (record is of epoch ${m.epoch})`; }
  else if (reports) {
    // The master commits with q-1 slaves; it is lost once so many live members report it that
    // the rest cannot make a quorum with it: n > alive - q. With the whole group alive this
    // is "a quorum of slaves reports masterLost"; one slave with a bad link deposes nobody.
    const n = reports.count(view);
    if (n > 0 && n > alive - q) {
      reason = 'master-lost';
      message = `${n} member(s) lost master ${m.id} in epoch ${m.epoch}`;
    }
  }
  if (!reason) return { start: false, reason: 'master-live', message: `master ${m?.id} in epoch ${view.epoch}` };
  if (alive < q) return { start: false, reason: 'no-quorum', message: `${message}; ${noQuorumMessage(alive, view.replicas)}` };
  return { start: true, reason, message };
}

/** The next epoch of a group: the fencing token is the epoch znode, bumped by one per election. */
export function nextEpoch(current: number): number { return current + 1; }
