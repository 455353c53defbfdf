// What the broker core keeps and does for the destination kinds of destinations.ts beyond
// /queue/<name> and /topic/<name> (ActiveMQ 5.x's): temporary destinations and the connection
// owning them, the queues of virtual topics, and composite SUBSCRIBE and SEND. core.ts calls
// these from its request, publish and journal paths.
import type { StorageQueue } from './queue';
import {
  badDestination, compositeParts, isTemp, parseDestination, parseTemp, tempOwnerKey, virtualTopicOf,
} from './destinations';
import type { Authorizer, Session, Subscription } from './model';
import { BrokerError, ErrorCode, type Message, type SessionRequest, type Subscribe } from './types';

/** Temp destinations by their owner's key: the owner's open sessions and the names it made. */
export class TempDestinations {
  private readonly temps = new Map<string, { sessions: Set<Session>; names: Set<string> }>();

  constructor(private readonly access: {
    authorizer?: Authorizer;
    onForbidden?: (login: string, action: 'read' | 'write', destination: string) => void;
  }) {}

  private tempsOf(owner: string) {
    let e = this.temps.get(owner);
    if (!e) {
      e = { sessions: new Set(), names: new Set() };
      this.temps.set(owner, e);
    }
    return e;
  }

  ownerOpened(s: Session): void {
    if (s.connectionId) this.tempsOf(tempOwnerKey(s.connectionId)).sessions.add(s);
  }

  /**
   * The last session of a connection ended: its temp destinations go, with their messages
   * (JMS: deleted when the connection closes): their names, for the core to drop. A session
   * moved here by its gateway after a failover opens with the same connection id, so its temp
   * destinations exist again (empty).
   */
  ownerClosed(s: Session): Iterable<string> {
    if (!s.connectionId) return [];
    const owner = tempOwnerKey(s.connectionId);
    const e = this.temps.get(owner);
    if (!e) return [];
    e.sessions.delete(s);
    if (e.sessions.size > 0) return [];
    this.temps.delete(owner);
    return e.names;
  }

  noteTemp(name: string): void {
    const t = parseTemp(name);
    if (t) this.tempsOf(t.owner).names.add(name);
  }

  /** Whether the connection owning temp destination `d` has a session here. */
  tempAlive(d: string): boolean {
    const t = parseTemp(d);
    return !!t && (this.temps.get(t.owner)?.sessions.size ?? 0) > 0;
  }

  /**
   * Anyone may send to a temp destination (the authorization map's `temp` entries permitting);
   * only its own connection may consume it (ActiveMQ: "Cannot subscribe to remote temporary
   * destination"); making one asks the map for `admin` (ActiveMQ's tempDestinationAuthorizationEntry).
   */
  checkTemp(s: Session, d: string, action: 'read' | 'write', durableName = ''): void {
    const t = parseTemp(d);
    if (!t) throw badDestination(d);
    const own = s.connectionId !== '' && t.owner === tempOwnerKey(s.connectionId);
    if (action === 'read' && !own) {
      throw new BrokerError(ErrorCode.InvalidDestination, `cannot subscribe to temporary destination '${d}': it belongs to another connection, and only the connection that made it may consume it (send to it instead)`);
    }
    if (durableName) {
      throw new BrokerError(ErrorCode.BadRequest, `durable subscription '${durableName}' on temporary topic '${d}': a temporary topic ends with its connection; subscribe without a durable name`);
    }
    if (!own || this.temps.get(t.owner)?.names.has(d)) return;
    const a = this.access.authorizer;
    if (a && !a.can(s, 'admin', d)) {
      this.access.onForbidden?.(s.login, action, d);
      const who = s.login ? `user '${s.login}'` : 'an anonymous client';
      throw new BrokerError(ErrorCode.Forbidden, `${who} may not create temporary destination ${d} (groups: ${s.groups.join(',') || 'none'}): ask an administrator for admin permission on temp destinations in the authorization map`);
    }
  }
}

/** The queues of each virtual topic that exist (/queue/Consumer.<name>.VirtualTopic.X by /topic/VirtualTopic.X). */
export class VirtualTopics {
  private readonly virtualQueues = new Map<string, Set<StorageQueue<Subscription>>>();

  /** A queue was made: if it consumes a virtual topic, that topic's publications reach it from now on. */
  noteQueue(q: StorageQueue<Subscription>): void {
    const vt = virtualTopicOf(q.name);
    if (!vt) return;
    let set = this.virtualQueues.get(vt);
    if (!set) {
      set = new Set();
      this.virtualQueues.set(vt, set);
    }
    set.add(q);
  }

  /** A queue was deleted (applyForget). */
  forgetQueue(q: StorageQueue<Subscription>): void {
    const vt = virtualTopicOf(q.name);
    if (vt) this.virtualQueues.get(vt)?.delete(q);
  }

  /** The existing queues of virtual topic `topic` (see BrokerCore's toVirtualQueues). */
  queuesOf(topic: string): ReadonlySet<StorageQueue<Subscription>> | undefined {
    return this.virtualQueues.get(topic);
  }
}

/** What a composite SUBSCRIBE or SEND asks of the core: the steps of one destination, per part. */
export interface CompositeHost {
  readonly temps: TempDestinations;
  authorize(s: Session, action: 'read' | 'write', destination: string): void;
  admitDestination(name: string): void;
  subscribe(s: Session, sub: Subscribe): void;
  endSubscription(sub: Subscription): void;
  request(s: Session, r: SessionRequest): void;
}

/**
 * SUBSCRIBE to a composite destination ('/queue/a,/topic/b'), as ActiveMQ reads it: one
 * consumer on each part (its own prefetch, the same ack mode, selector and priority), all
 * under the client's subscription id — deliveries carry it, UNSUBSCRIBE ends every member, and
 * a cumulative (client mode) ACK covers the earlier deliveries of every member. Members are
 * made in order and undone if one is refused: all or nothing. Not durable (a durable name
 * names one subscription of one topic).
 */
export function subscribeComposite(core: CompositeHost, s: Session, sub: Subscribe): void {
  if (sub.durableName) {
    throw new BrokerError(ErrorCode.BadRequest, `durable subscription '${sub.durableName}' on composite destination '${sub.destination}': a durable subscription is to one topic; subscribe to each part with its own durable name`);
  }
  const parts = compositeParts(sub.destination);
  for (const p of parts) {
    if (!parseDestination(p)) {
      throw new BrokerError(ErrorCode.InvalidDestination, `invalid destination '${p}' in composite destination '${sub.destination}': each part must be /queue/<name> or /topic/<name>, separated by commas`);
    }
  }
  const members: Subscription[] = [];
  try {
    parts.forEach((p, i) => {
      const id = `${sub.subscriptionId}\u0000${i}`;
      core.subscribe(s, { ...sub, subscriptionId: id, destination: p });
      members.push(s.subs.get(id)!);
    });
  } catch (e) {
    for (const m of members) core.endSubscription(m);
    throw e;
  }
  const composite = { id: sub.subscriptionId, members };
  for (const m of members) m.composite = composite;
  s.composites.set(sub.subscriptionId, members);
}

/**
 * ActiveMQ's composite destination: one SEND to '/queue/a,/topic/b' is a SEND to each part,
 * with the same message id and an `original-destination` header naming the composite. Every
 * part is checked (name, authorization, destination limit) before any is sent, and all of
 * them go into this step's journal entry: stored together or not at all.
 */
export function sendComposite(core: CompositeHost, s: Session, r: Extract<SessionRequest, { kind: 'send' }>, m: Message): void {
  const parts = compositeParts(m.destination);
  if (parts.length === 0) throw badDestination(m.destination);
  for (const p of parts) {
    if (!parseDestination(p)) {
      throw new BrokerError(ErrorCode.InvalidDestination, `invalid destination '${p}' in composite destination '${m.destination}': each part must be /queue/<name> or /topic/<name>, separated by commas`);
    }
    if (isTemp(p)) core.temps.checkTemp(s, p, 'write');
    core.authorize(s, 'write', p);
    core.admitDestination(p);
  }
  for (const p of parts) {
    core.request(s, { ...r, send: { ...r.send, message: { ...m, destination: p, headers: { ...m.headers, 'original-destination': m.destination } } } });
  }
}
