// What happens when a group's master dies: the leader coordinator's election runner.
// docs/architecture.md, coordinator — when a group has no live master:
//   1. bump <zkPath>/groups/<g>/epoch with a conditional setData(version) (the fencing token);
//   2. Member.Prepare(epoch) to every live member (deadline election.prepareTimeoutMs);
//   3. with promises from a quorum, pick the winner (@hawser/election chooseWinner), Assign it
//      master, write the master znode {id,address,epoch}, Assign the others slave.
// Fewer than a quorum alive: the group is no-quorum, retried whenever membership changes.
// It also re-Assigns a member that (re)joined as slave of the current master, so an old
// master that restarts rejoins as slave. Only the leader runs this; the rules are pure.
import { ZkError, type ZkClient } from '@hawser/zk';
import {
  chooseWinner, electionTrigger, groupState, MasterLostReports, quorum,
  type GroupView, type MemberPromise, type MasterLostReport, type TriggerReason,
} from '@hawser/election';
import { warnEvery, type Logger } from '@hawser/observability';
import type { AssignRequest, StatusReply } from '@hawser/proto';
import type { Links } from './members';
import type { Metrics } from './metrics';
import type { GroupRecord, MemberRecord, MasterZnode, ZkMirror } from './zk-mirror';

export interface ElectionOptions {
  coordinatorId: string;
  root: string;
  prepareTimeoutMs: number;
  /** Once a quorum has promised, how much longer the other members' answers are waited for. */
  prepareGraceMs: number;
  assignTimeoutMs: number;
  retryMs: number;
  defaultReplicas: number;
}

interface GroupRun {
  electing: boolean;
  reports: MasterLostReports;
  retryAt: number;
  retryTimer?: NodeJS.Timeout;
  /** `${id}@${czxid}` -> time of the last slave Assign we sent in `assignedEpoch` */
  assigned: Map<string, number>;
  assignedEpoch: number;
  /** last known group size (members publish it; kept while none is alive) */
  replicas?: number;
  /** the epoch of our last election: the mirror may lag behind our own writes */
  lastEpoch: number;
}

/** The group's view for the pure rules: live members with an address, the restarted-master check. */
export function viewOf(g: GroupRecord, replicas: number, electing: boolean): GroupView {
  const members = [...g.members.values()].filter((m) => m.address).map((m) => m.id);
  const masterMember = g.master ? g.members.get(g.master.id) : undefined;
  const masterRestarted = !!(g.master && masterMember && g.master.czxid !== undefined && masterMember.czxid !== g.master.czxid);
  return { name: g.name, replicas, epoch: g.epoch, master: g.master, members, electing, masterRestarted };
}

/**
 * More members registered than the sizes they say keep safe. A master that says R commits on
 * quorum(R) copies (itself included, among its R-1 slaves at most); an election needs a quorum
 * of the largest size a member says. Those two sets always share a member while at most as many
 * members are registered as the smallest size plus what the election's quorum covers; with
 * `live >= quorum(min) + quorum(max)` they need not: e.g. 3 registered at --replicas 3 and two
 * new ones at 5 (an election of 5 won by the other old slave and the two new ones), or a fourth
 * member at 3 (a replacement started before the old one stopped). Then a master change can lose
 * acknowledged messages. Grown or shrunk one member at a time, each step finished with a rolling
 * restart at the new --replicas, they always overlap (docs/operations.md, "Adding a store node").
 */
export function quorumOverlapRisk(g: Pick<GroupRecord, 'name' | 'members'>): string | undefined {
  const live = [...g.members.values()].filter((m) => m.address);
  const sizes = live.map((m) => m.replicas).filter((n): n is number => !!n);
  if (!sizes.length) return undefined;
  const min = Math.min(...sizes);
  const max = Math.max(...sizes);
  if (live.length < quorum(min) + quorum(max)) return undefined;
  const said = min === max ? `replicas ${min}` : `replicas ${min} to ${max}`;
  return `group ${g.name}: ${live.length} members registered and they say ${said}: a master that says ${min} commits on ${quorum(min)} copies and an election counts ${quorum(max)} promises, which need not share a member (a master change could lose acknowledged messages): add or remove one member at a time, each step finished with a rolling restart at the new --replicas, and stop a replaced member before its replacement starts`;
}

/**
 * Asks every member (`ask` resolves to its promise, or undefined: refused, failed, timed out)
 * and resolves with the promises once every member has answered, or `graceMs` after the
 * `needed`-th promise came, whichever is first. Answers after that are not counted.
 */
export function gatherPromises<M extends { id: string }>(
  members: readonly M[], needed: number, graceMs: number, ask: (m: M) => Promise<MemberPromise | undefined>,
): Promise<Array<{ member: M; promise: MemberPromise }>> {
  return new Promise((resolve) => {
    const got: Array<{ member: M; promise: MemberPromise }> = [];
    let answered = 0;
    let done = false;
    let grace: NodeJS.Timeout | undefined;
    const finish = () => { if (done) return; done = true; if (grace) clearTimeout(grace); resolve(got.slice()); };
    if (members.length === 0) { finish(); return; }
    for (const m of members) {
      void ask(m).then((p) => p, () => undefined).then((p) => {
        if (done) return;
        answered++;
        if (p) got.push({ member: m, promise: p });
        if (answered === members.length) finish();
        else if (p && got.length === needed) grace = setTimeout(finish, graceMs);
      });
    }
  });
}

export class Elector {
  private readonly runs = new Map<string, GroupRun>();
  private leading = false;
  private readonly warn: ReturnType<typeof warnEvery>;

  constructor(
    private readonly zk: ZkClient,
    private readonly mirror: ZkMirror,
    private readonly links: Links,
    private readonly statusOf: (group: string, id: string) => StatusReply | undefined,
    private readonly opts: ElectionOptions,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly onChange: (group: string) => void,
  ) {
    this.warn = warnEvery(log, 10_000);
  }

  private run(group: string): GroupRun {
    let r = this.runs.get(group);
    if (!r) { r = { electing: false, reports: new MasterLostReports(), retryAt: 0, assigned: new Map(), assignedEpoch: -1, lastEpoch: 0 }; this.runs.set(group, r); }
    return r;
  }

  isElecting(group: string): boolean { return this.runs.get(group)?.electing ?? false; }

  /** The configured size N of a group: the largest `replicas` its members publish. */
  replicasOf(g: GroupRecord): number {
    const r = this.run(g.name);
    let n = 0;
    for (const m of g.members.values()) if (m.replicas && m.replicas > n) n = m.replicas;
    if (n > 0) r.replicas = n;
    const risk = quorumOverlapRisk(g);
    this.metrics.quorumOverlapRisk.set({ group: g.name }, risk ? 1 : 0);
    if (risk) this.warn(`quorum-overlap ${g.name}`, { group: g.name, sizes: [...g.members.values()].map((m) => `${m.id}=${m.replicas ?? '?'}`) }, risk);
    return r.replicas ?? this.opts.defaultReplicas;
  }

  setLeading(v: boolean): void {
    this.leading = v;
    if (v) for (const g of this.mirror.groups.keys()) this.evaluate(g);
    else for (const r of this.runs.values()) { if (r.retryTimer) clearTimeout(r.retryTimer); r.retryTimer = undefined; r.assigned.clear(); }
  }

  stop(): void { this.setLeading(false); }

  /** A slave's ReportMasterLost (served by every coordinator, acted on by the leader). */
  reportMasterLost(report: MasterLostReport & { group: string }): boolean {
    const g = this.mirror.groups.get(report.group);
    if (!g || !this.leading) return false;
    const r = this.run(report.group);
    const counted = r.reports.record(report, viewOf(g, this.replicasOf(g), r.electing));
    this.log.info({ group: report.group, reporter: report.reporter, epoch: report.epoch, masterId: report.masterId, counted }, 'master lost reported');
    if (counted) this.evaluate(report.group);
    return counted;
  }

  /** Called on every change of the group (mirror, status) and on retry timers. */
  evaluate(group: string): void {
    if (!this.leading || !this.zk.connected) return;
    const g = this.mirror.groups.get(group);
    if (!g) return;
    const r = this.run(group);
    if (r.electing) return;
    if (g.epoch < r.lastEpoch) return; // our own writes have not come back through the watches yet
    const replicas = this.replicasOf(g);
    const view = viewOf(g, replicas, false);
    const trig = electionTrigger(view, r.reports);
    if (trig.start) {
      const wait = r.retryAt - Date.now();
      if (wait > 0) { this.retryLater(group, wait); return; }
      void this.elect(g, replicas, trig.reason);
      return;
    }
    if (trig.reason === 'no-quorum') {
      this.warn(`no-quorum ${group}`, { group, alive: view.members.length, replicas, quorum: quorum(replicas) }, `group ${group}: ${trig.message}; waiting for members to return`);
      return;
    }
    if (trig.reason === 'master-live') this.assignReturningSlaves(g, view);
  }

  private retryLater(group: string, ms: number): void {
    const r = this.run(group);
    if (r.retryTimer) return;
    r.retryTimer = setTimeout(() => { r.retryTimer = undefined; this.evaluate(group); }, Math.max(10, ms));
    r.retryTimer.unref();
  }

  private membersList(g: GroupRecord): Array<{ id: string; address: string }> {
    return [...g.members.values()].filter((m) => m.address).map((m) => ({ id: m.id, address: m.address }));
  }

  /** Members that are not (slave, current epoch) get Assign(slave) — e.g. an old master back from the dead. */
  private assignReturningSlaves(g: GroupRecord, view: GroupView): void {
    const master = g.master as MasterZnode;
    const r = this.run(g.name);
    if (r.assignedEpoch !== g.epoch) { r.assigned.clear(); r.assignedEpoch = g.epoch; }
    const now = Date.now();
    for (const m of g.members.values()) {
      if (m.id === master.id || !m.address || !view.members.includes(m.id)) continue;
      const st = this.statusOf(g.name, m.id);
      if (!st) continue; // not polled yet: its status says whether it needs telling
      if (st.role === 'slave' && st.epoch === g.epoch) continue;
      if (st.role === 'diverged') {
        // Its log holds entries the group never committed: it refuses every role until an
        // operator wipes its data directory (apps/store, replicated.ts diverge).
        this.warn(`diverged ${g.name} ${m.id}`, { group: g.name, member: m.id }, `member ${m.id} of group ${g.name} is diverged: wipe its data directory and restart it to re-sync`);
        continue;
      }
      const key = `${m.id}@${m.czxid}`;
      const last = r.assigned.get(key);
      const wait = Math.max(1000, 2 * this.opts.retryMs);
      if (last !== undefined && now - last < wait) {
        // Told moments ago and still not a slave of this epoch (the Assign may have gone to a
        // store that was still starting, or been answered from a stale status): look again
        // once the pause is over — nothing else may change to make us look.
        this.retryLater(g.name, wait - (now - last));
        continue;
      }
      r.assigned.set(key, now);
      this.log.info({ group: g.name, member: m.id, role: st.role, memberEpoch: st.epoch, epoch: g.epoch, master: master.id }, 'assigning a (re)joining member as slave');
      void this.assignSlave(g, m, master, g.epoch).then((ok) => { if (!ok) this.retryLater(g.name, wait); });
    }
  }

  private async assignSlave(g: GroupRecord, m: MemberRecord, master: { id: string; address: string }, epoch: number): Promise<boolean> {
    const req: AssignRequest = { group: g.name, epoch, role: 'slave', masterId: master.id, masterAddress: master.address, members: this.membersList(g) };
    try {
      const reply = await this.links.assign(m.address, req, this.opts.assignTimeoutMs);
      if (!reply.accepted) this.log.warn({ group: g.name, member: m.id, epoch, reason: reply.reason }, 'slave Assign refused');
      return reply.accepted;
    } catch (e) {
      this.warn(`assign ${g.name} ${m.id}`, { group: g.name, member: m.id, err: (e as Error).message }, 'slave Assign failed');
      return false;
    }
  }

  /** Step 1: the conditional epoch bump. Throws ZkBadVersionError/ZkNodeExistsError when someone else moved it. */
  private async bumpEpoch(g: GroupRecord): Promise<number> {
    const path = `${this.opts.root}/groups/${g.name}/epoch`;
    let current: { epoch: number; version: number } | undefined;
    try {
      const n = await this.zk.get(path);
      current = { epoch: Number(n.data.toString('utf8').trim()) || 0, version: n.version };
    } catch (e) {
      if (!(e instanceof ZkError && e.code === 'NO_NODE')) throw e;
    }
    // never below a master record's epoch (an operator may have removed the epoch znode)
    const floor = Math.max(current?.epoch ?? 0, g.master?.epoch ?? 0);
    const next = floor + 1;
    if (current) await this.zk.set(path, String(next), current.version);
    else await this.zk.create(path, String(next), 'persistent');
    this.run(g.name).lastEpoch = next;
    return next;
  }

  private async elect(g: GroupRecord, replicas: number, reason: TriggerReason): Promise<void> {
    const group = g.name;
    const r = this.run(group);
    r.electing = true;
    this.onChange(group);
    const t0 = process.hrtime.bigint();
    const previous = g.master;
    let result = 'error';
    try {
      const epoch = await this.bumpEpoch(g);
      this.log.info({ group, epoch, reason, previousMaster: previous?.id, members: [...g.members.keys()] }, 'election started');
      // Step 2: Prepare to every live member, in parallel, each with a deadline. Decided once
      // all have answered, or a quorum has promised and the others had prepareGraceMs more: a
      // member that cannot answer (the stopped or cut-off master whose znode is still there,
      // the usual reason for this election) must not hold the group for prepareTimeoutMs.
      // Any quorum of promises holds every committed entry (chooseWinner), so this is as safe.
      const live = [...g.members.values()].filter((m) => m.address);
      const promised = await gatherPromises(live, quorum(replicas), this.opts.prepareGraceMs, async (m) => {
        try {
          const rep = await this.links.prepare(m.address, { group, epoch, coordinator: this.opts.coordinatorId }, this.opts.prepareTimeoutMs);
          if (!rep.promised) this.log.info({ group, epoch, member: m.id, reason: rep.reason }, 'Prepare refused');
          return rep.promised ? { id: m.id, lastEpoch: rep.lastEpoch, lastPosition: rep.lastPosition, weight: rep.weight } : undefined;
        } catch (e) {
          this.log.info({ group, epoch, member: m.id, err: (e as Error).message }, 'Prepare failed');
          return undefined;
        }
      });
      // Elected on its slaves' masterLost reports: the master they lost is not elected again
      // while the others are a quorum (a flapping link re-elected it, and lost it again).
      const decision = chooseWinner(promised.map((p) => p.promise), replicas, reason === 'master-lost' ? previous?.id : undefined);
      if (decision.kind === 'no-quorum') {
        result = 'no-quorum';
        r.retryAt = Date.now() + this.opts.retryMs;
        this.warn(`no-quorum-promises ${group}`, { group, epoch, promised: decision.promised, needed: decision.needed },
          `group ${group}: Not enough cluster members promised epoch ${epoch}: ${decision.promised} of ${replicas}, quorum is ${decision.needed}; retrying`);
        return;
      }
      const winner = promised.find((p) => p.promise.id === decision.winner.id)!.member;
      // Step 3: Assign master first; a refusal (e.g. it restarted since its promise) means a new epoch.
      const members = this.membersList(g);
      const reply = await this.links.assign(winner.address, { group, epoch, role: 'master', masterId: winner.id, masterAddress: winner.address, members }, this.opts.assignTimeoutMs);
      if (!reply.accepted) {
        result = 'refused';
        r.retryAt = Date.now() + this.opts.retryMs;
        this.log.warn({ group, epoch, winner: winner.id, reason: reply.reason }, 'master Assign refused; a new election follows');
        return;
      }
      // Our epoch must still be the group's: a newer leader may have moved on.
      const now = await this.zk.get(`${this.opts.root}/groups/${group}/epoch`);
      if (Number(now.data.toString('utf8').trim()) !== epoch) { result = 'aborted'; return; }
      const record: MasterZnode = { id: winner.id, address: winner.address, epoch, czxid: winner.czxid };
      const masterPath = `${this.opts.root}/groups/${group}/master`;
      const slaves = live.filter((m) => m.id !== winner.id);
      if (r.assignedEpoch !== epoch) { r.assigned.clear(); r.assignedEpoch = epoch; }
      for (const s of slaves) r.assigned.set(`${s.id}@${s.czxid}`, Date.now());
      // Members that did not promise are told too, but not waited for (one that cannot answer
      // would hold the election for assignTimeoutMs); their status says later if they need it again.
      const answered = new Set(promised.map((p) => p.member.id));
      for (const s of slaves) if (!answered.has(s.id)) void this.assignSlave(g, s, winner, epoch);
      await Promise.all([
        (async () => {
          try { await this.zk.set(masterPath, JSON.stringify(record)); } catch (e) {
            if (!(e instanceof ZkError && e.code === 'NO_NODE')) throw e;
            await this.zk.create(masterPath, JSON.stringify(record), 'persistent');
          }
        })(),
        ...slaves.filter((s) => answered.has(s.id)).map((s) => this.assignSlave(g, s, winner, epoch)),
      ]);
      // the mirror's watches will say the same; until then our view must not look masterless
      g.master = record;
      if (g.epoch < epoch) g.epoch = epoch;
      result = 'ok';
      r.retryAt = 0;
      r.reports.clear();
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      this.metrics.electionSeconds.observe({ group }, seconds);
      if (previous && (reason === 'master-gone' || reason === 'master-lost')) this.metrics.failovers.inc({ group });
      this.log.info({ group, epoch, master: winner.id, address: winner.address, previousMaster: previous?.id, reason, ms: Math.round(seconds * 1000), promised: promised.map((p) => p.promise) }, 'master elected');
    } catch (e) {
      if (e instanceof ZkError && (e.code === 'BAD_VERSION' || e.code === 'NODE_EXISTS')) {
        result = 'aborted';
        this.log.warn({ group, err: e.message }, 'election aborted: the epoch moved under us (another leader?)');
      } else {
        result = 'error';
        this.log.warn({ group, err: (e as Error).message }, 'election failed; retrying');
      }
      r.retryAt = Date.now() + this.opts.retryMs;
    } finally {
      this.metrics.elections.inc({ group, result });
      r.electing = false;
      this.onChange(group);
      // membership may have changed meanwhile: look again (after the retry delay if it failed)
      setImmediate(() => this.evaluate(group));
    }
  }

  /** State for the topology: ok | electing | no-quorum and the message. */
  stateOf(g: GroupRecord): { state: string; message: string } {
    return groupState(viewOf(g, this.replicasOf(g), this.isElecting(g.name)));
  }
}
