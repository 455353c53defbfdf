// The Member service of a replicated store (coordination.proto): the coordinator's Prepare
// and Assign reach the replication core here. No epoch the coordinator did not publish in
// ZooKeeper may raise this store's promise: not by Prepare or Assign (unpublished), nor by a
// replication Hello or message (beyondPublished, called by the journal's links).
import type { Action, Event, Replica } from '@hawser/replication';
import type { Logger } from '@hawser/observability';
import type { AssignReply, AssignRequest, PrepareReply, PrepareRequest } from '@hawser/proto';
import type { Roles } from './roles';

/** The replication options the member service reads (ReplicationOptions has them). */
export interface MemberOptions {
  id: string;
  group: string;
  replicas: number;
  weight: number;
  log: Logger;
  /** Member ids of the group when an Assign names none (from ZooKeeper). */
  knownMembers?(): string[];
  /** With ZooKeeper: the group's epoch as the coordinator published it (ReplicationOptions.epochs). */
  epochs?: { published(): number | undefined; read(): Promise<number> };
}

/** What the member service needs of the replicated journal. */
export interface MemberJournal {
  readonly replica: Replica;
  readonly roles: Roles;
  /** Rate-limited warnings (shared with the journal's). */
  warn(key: string, fields: Record<string, unknown>, msg: string): void;
  /** Steps the replication core; `done` gets the actions the event made, once they have run. */
  step(e: Event, done: (seen: Action[]) => void): void;
  /** Why this store takes no part in elections (diverged, failed; null: it does). */
  outOfGroup(): string | null;
}

/** Member.Prepare: the coordinator asks this store to promise an epoch (phase 1 of an election). */
export async function prepare(o: MemberOptions, j: MemberJournal, req: PrepareRequest): Promise<PrepareReply> {
  const base = { node: o.id, epoch: req.epoch, weight: o.weight };
  if (req.group && req.group !== o.group) {
    return { ...base, promised: false, reason: `this store is in group ${o.group}, not ${req.group}`, lastEpoch: j.replica.lastEpoch, lastPosition: j.replica.lastPosition };
  }
  const refused = await unpublished(o, j, req.epoch);
  if (refused) return { ...base, promised: false, reason: refused, lastEpoch: j.replica.lastEpoch, lastPosition: j.replica.lastPosition };
  // A diverged log holds entries the group never committed: with the longest log it could
  // win and impose them. A failed journal cannot save the promise. Neither promises.
  const out = j.outOfGroup();
  if (out) {
    o.log.warn({ epoch: req.epoch, coordinator: req.coordinator, reason: out }, 'prepare refused');
    return { ...base, promised: false, reason: out, lastEpoch: j.replica.lastEpoch, lastPosition: j.replica.lastPosition };
  }
  return new Promise((resolve) => j.step({ type: 'prepare', epoch: req.epoch }, (seen) => {
    const p = seen.find((a) => a.type === 'promise');
    const r = seen.find((a) => a.type === 'refuse');
    o.log.info({ epoch: req.epoch, coordinator: req.coordinator, promised: !!p, reason: r?.type === 'refuse' ? r.reason : undefined }, 'prepare');
    resolve({
      ...base, promised: !!p, reason: r?.type === 'refuse' ? r.reason : '',
      lastEpoch: p?.type === 'promise' ? p.lastEpoch : j.replica.lastEpoch,
      lastPosition: p?.type === 'promise' ? p.lastPosition : j.replica.lastPosition,
    });
  }));
}

/** Member.Assign: the coordinator makes this store master or slave in an epoch it promised. */
export async function assign(o: MemberOptions, j: MemberJournal, req: AssignRequest): Promise<AssignReply> {
  if (req.group && req.group !== o.group) return { accepted: false, reason: `this store is in group ${o.group}, not ${req.group}` };
  const refused = await unpublished(o, j, req.epoch);
  if (refused) return { accepted: false, reason: refused };
  const out = j.outOfGroup();
  if (out) return { accepted: false, reason: out };
  for (const m of req.members ?? []) if (m.id && m.address) j.roles.learnAddress(m.id, m.address);
  if (req.masterId && req.masterAddress) j.roles.learnAddress(req.masterId, req.masterAddress);
  j.roles.remember([...(req.members ?? []).map((m) => m.id), req.masterId, ...(o.knownMembers?.() ?? [])]);
  let ev: Event;
  if (req.role === 'master') {
    // The live members the coordinator listed first, then members seen before (down now),
    // never more than N-1 slaves: quorum intersection counts N voters.
    const listed = (req.members ?? []).filter((m) => m.address).map((m) => m.id);
    const members = [...new Set([...listed, ...j.roles.seen])].filter((id) => id && id !== o.id).slice(0, o.replicas - 1);
    j.roles.assigned(members);
    ev = { type: 'becomeMaster', epoch: req.epoch, members };
  } else if (req.role === 'slave') {
    if (!req.masterId) return Promise.resolve({ accepted: false, reason: 'role slave needs master_id and master_address' });
    ev = { type: 'becomeSlave', epoch: req.epoch, masterId: req.masterId };
  } else {
    return Promise.resolve({ accepted: false, reason: `unknown role '${req.role}': expected master or slave` });
  }
  return new Promise((resolve) => j.step(ev, (seen) => {
    const r = seen.find((a) => a.type === 'refuse');
    // Already following that master in that epoch: no actions, but keep the link right.
    if (!r && req.role === 'slave' && j.replica.role === 'slave' && j.replica.masterId === req.masterId) {
      j.roles.followMaster(req.masterId, j.replica.epoch);
    }
    o.log.info({ epoch: req.epoch, role: req.role, master: req.masterId || undefined, accepted: !r, reason: r?.type === 'refuse' ? r.reason : undefined }, 'assign');
    resolve({ accepted: !r, reason: r?.type === 'refuse' ? r.reason : '' });
  }));
}

/**
 * Why `epoch` may not be promised: it is above the group's epoch as ZooKeeper has it (read
 * now). null when it is not above this store's promise, or is published, or there is no
 * ZooKeeper to ask (tests).
 */
async function unpublished(o: MemberOptions, j: MemberJournal, epoch: number): Promise<string | null> {
  const e = o.epochs;
  if (!e || epoch <= j.replica.promisedEpoch) return null;
  let published: number;
  try {
    published = await e.read();
  } catch (err) {
    return `cannot check epoch ${epoch} against the group's published epoch: ${(err as Error).message}`;
  }
  if (epoch <= published) return null;
  j.warn('unpublished', { epoch, published }, 'refused an epoch the coordinator never published (forged or misconfigured caller)');
  return `epoch ${epoch} is above group ${o.group}'s published epoch ${published}: refused (only the coordinator's epoch bump in ZooKeeper makes an epoch)`;
}

/**
 * A Hello or a link message whose epoch would raise this store's promise: allowed only up to
 * the published epoch (cached from the znode's watch). Above it the message is dropped and
 * the znode read again: a legitimate new master (whose epoch the watch has not shown yet)
 * retransmits within a heartbeat and passes then.
 */
export function beyondPublished(o: MemberOptions, j: MemberJournal, epoch: number, from: string): boolean {
  const e = o.epochs;
  if (!e || epoch <= j.replica.promisedEpoch) return false;
  const published = e.published();
  if (published !== undefined && epoch <= published) return false;
  void e.read().catch(() => undefined);
  j.warn(`beyond ${from}`, { from, epoch, published, promised: j.replica.promisedEpoch }, 'dropped a replication message with an epoch above the group\'s published one');
  return true;
}
