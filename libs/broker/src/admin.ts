// Admin operations on the broker core's destinations (Admin.Destinations, Purge, Delete; the
// console's browse window): what core.ts's admin methods do. They read the core's registry
// through AdminHost and change it only by journal ops (emit), so replicas and a restarted
// store agree.
import { volatileSize, type StorageQueue } from './queue';
import { badDestination, parseDestination } from './destinations';
import type { JournalOp } from './journal';
import { countConsumers, type DurableState, type Session, type Subscription, type Topic } from './model';
import type { RetainedMessages } from './retained';
import type { Message } from './types';

export interface DestinationInfo {
  name: string;
  depth: number;
  inflight: number;
  /** localConsumers + networkConsumers. */
  consumers: number;
  enqueued: number;
  dequeued: number;
  /** Live subscriptions of client sessions (a topic: its live subscribers, durable ones included). */
  localConsumers: number;
  /** Live subscriptions of bridge sessions (Open.network): demand from another group. */
  networkConsumers: number;
}

/** One subscription of a session as Admin.Sessions lists it. */
export interface SessionSubscriptionInfo {
  /** The client's subscription id (a composite's members share it). */
  id: string;
  /** What it subscribed to (a topic or pattern for topic subscriptions). */
  destination: string;
  /** The storage queue it takes from: the queue, durable:<client>:<name>, or the topic subscription's own. */
  queue: string;
  ackMode: 'auto' | 'client' | 'client-individual';
  prefetch: number;
  /** Delivered, not yet acked (acked inside an open transaction included). */
  inflight: number;
  durable: boolean;
}

/** A session the core holds (Admin.Sessions): who opened it and what it holds (docs/reliability.md D8). */
export interface SessionInfo {
  id: string;
  connectionId: string;
  clientId: string;
  login: string;
  /** Open.gateway: the gateway that opened it. */
  gateway: string;
  network: boolean;
  /** ms since the epoch. */
  openedAt: number;
  inflight: number;
  paused: boolean;
  closed: boolean;
  subscriptions: SessionSubscriptionInfo[];
}

const ACK_MODES: Record<string, SessionSubscriptionInfo['ackMode']> = {
  ACK_MODE_AUTO: 'auto', ACK_MODE_CLIENT: 'client', ACK_MODE_CLIENT_INDIVIDUAL: 'client-individual',
};

/** Admin.Purge answers: how many went, or why nothing could. */
export type PurgeResult =
  | { ok: true; removed: number }
  | { ok: false; code: 'INVALID_DESTINATION' | 'NOT_FOUND'; message: string };

/** Admin.Delete answers: the messages that went with the destination, or why it stays (IN_USE: it has consumers or subscribers). */
export type DeleteResult =
  | { ok: true; removed: number }
  | { ok: false; code: 'INVALID_DESTINATION' | 'NOT_FOUND' | 'IN_USE'; message: string };

/** A durable subscription whose stored selector no longer compiles (brokenDurables()). */
export interface BrokenDurable { clientId: string; name: string; topic: string; selector: string; error: string }

/** The core as its admin operations see it. */
export interface AdminHost {
  readonly stores: ReadonlyMap<string, StorageQueue<Subscription>>;
  readonly topics: ReadonlyMap<string, Topic>;
  readonly durables: ReadonlyMap<string, DurableState>;
  /** Open sessions by id. */
  readonly sessions: ReadonlyMap<string, Session>;
  readonly retained: RetainedMessages;
  /** Every destination name seen since start. */
  readonly names: ReadonlySet<string>;
  /** The seq the next message gets: a purge covers those below it. */
  nextSeq(): number;
  /** Records an op in this step's entry and applies it. */
  emit(op: JournalOp): void;
  /** Ends the step (dispatch, the entry made). */
  step(): void;
}

export class Admin {
  constructor(private readonly core: AdminHost) {}

  /** Durable subscriptions whose stored selector does not compile: they receive nothing. */
  brokenDurables(): BrokenDurable[] {
    const out: BrokenDurable[] = [];
    for (const d of this.core.durables.values()) {
      if (d.broken !== null) out.push({ clientId: d.op.clientId, name: d.op.name, topic: d.op.topic, selector: d.op.selector, error: d.broken });
    }
    return out;
  }

  destinations(prefix = ''): DestinationInfo[] {
    const out: DestinationInfo[] = [];
    for (const q of this.core.stores.values()) {
      if (!q.name.startsWith(prefix)) continue;
      const [local, network] = countConsumers(q.consumers);
      out.push({
        name: q.name, depth: q.stored + q.volatile, inflight: q.inflight.size, consumers: local + network,
        enqueued: q.enqueued, dequeued: q.dequeued, localConsumers: local, networkConsumers: network,
      });
    }
    for (const t of this.core.topics.values()) {
      if (!t.name.startsWith(prefix)) continue;
      // Live subscriptions only: an offline durable subscription is not demand (its backlog
      // queue is listed on its own above).
      const live: Subscription[] = [...t.subs];
      for (const d of t.durables.values()) if (d.active) live.push(d.active);
      const [local, network] = countConsumers(live);
      out.push({ name: t.name, depth: 0, inflight: 0, consumers: local + network, enqueued: t.enqueued, dequeued: 0, localConsumers: local, networkConsumers: network });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /**
   * Every session with its subscriptions and deliveries in flight; with `destination`, only
   * sessions with a subscription whose destination or storage queue starts with it. Sorted by
   * opening time: a session that outlived its client is among the oldest.
   */
  sessions(destination = ''): SessionInfo[] {
    const out: SessionInfo[] = [];
    for (const s of this.core.sessions.values()) {
      const subscriptions: SessionSubscriptionInfo[] = [...s.subs.values()].map((sub) => ({
        id: sub.composite?.id ?? sub.id,
        destination: sub.topic ?? sub.queue.name,
        queue: sub.queue.name,
        ackMode: ACK_MODES[sub.ackMode] ?? 'client-individual',
        prefetch: sub.prefetch,
        inflight: sub.deliveries.size,
        durable: sub.durableKey !== null,
      }));
      if (destination && !subscriptions.some((x) => x.destination.startsWith(destination) || x.queue.startsWith(destination))) continue;
      out.push({
        id: s.id, connectionId: s.connectionId, clientId: s.clientId, login: s.login, gateway: s.gateway, network: s.network,
        openedAt: s.openedAt, inflight: s.deliveries.size, paused: s.paused, closed: s.closed, subscriptions,
      });
    }
    return out.sort((a, b) => a.openedAt - b.openedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** In-memory messages of a queue in dispatch order (the shell adds disk-only ones). */
  windowOf(destination: string): { messages: Message[]; boundary: string | null; storeId: string } | null {
    const q = this.storeNamed(destination);
    if (!q) return null;
    const messages: Message[] = [];
    q.win.scan((m) => { messages.push(m.message); return 'skip'; });
    return { messages, boundary: q.boundary, storeId: q.id };
  }

  /**
   * Admin purge: every message of the queue (or durable subscription backlog) that is not in
   * flight. An invalid name, a topic (it stores nothing) or an unknown queue is refused.
   */
  purge(destination: string): PurgeResult {
    const q = this.storeNamed(destination);
    if (!q) {
      const d = parseDestination(destination);
      if (!d && destination.startsWith('durable:')) return { ok: false, code: 'NOT_FOUND', message: `durable subscription backlog '${destination}' does not exist on this store: check the name with Admin.Destinations (hawser destinations)` };
      if (!d) return { ok: false, code: 'INVALID_DESTINATION', message: badDestination(destination).message };
      if (d.type === 'topic') {
        return { ok: false, code: 'INVALID_DESTINATION', message: `cannot purge topic '${destination}': topics have no stored messages; purge a durable subscription's backlog by the name Admin.Destinations lists for it (durable:<client>:<name>)` };
      }
      return { ok: false, code: 'NOT_FOUND', message: `queue '${destination}' does not exist on this store: check the name with Admin.Destinations (hawser destinations)` };
    }
    const removed = this.purgeStore(q);
    this.core.step();
    return { ok: true, removed };
  }

  /** Removes every message of `q` not in flight (journaled for the stored ones); returns how many went. */
  private purgeStore(q: StorageQueue<Subscription>): number {
    const before = q.stored + q.volatile;
    const kept = [...q.inflight.values()].filter((m) => m.stored);
    const keep = kept.map((m) => m.seq);
    const keepBytes = kept.reduce((n, m) => n + volatileSize(m.message), 0);
    if (q.stored > keep.length) this.core.emit({ kind: 'purge', purge: { queue: q.id, upToSeq: this.core.nextSeq() - 1, keep, keepBytes } });
    const gone = q.dropAll().filter((m) => !m.stored);
    q.volatile -= gone.length;
    for (const m of gone) q.volatileBytes -= volatileSize(m.message);
    q.dequeued += gone.length;
    return before - (q.stored + q.volatile);
  }

  /**
   * Admin delete (ActiveMQ's console "Delete"): the destination and its messages go, and its
   * name is forgotten — no longer listed, a broker.maxDestinations slot free again, its metric
   * series dropped (Ready.forgotten). Journaled (purge / removeDurable, then forget, in one
   * entry), so replicas and a restarted store agree.
   * - a queue: refused while it has consumers (local or a bridge's); its waiting messages go as
   *   a purge does;
   * - a topic: refused while it has subscribers, live or durable (delete a durable subscription
   *   by its listed name first); its retained message goes with it;
   * - a durable subscription's backlog (durable:<client>:<name>): the subscription and its
   *   backlog go, refused while its client is subscribed.
   * A temporary destination is not deleted here: it ends with its connection.
   */
  deleteDestination(destination: string): DeleteResult {
    const q = this.storeNamed(destination);
    const d = parseDestination(destination);
    if (!q && !d) {
      if (destination.startsWith('durable:')) return { ok: false, code: 'NOT_FOUND', message: `durable subscription backlog '${destination}' does not exist on this store: check the name with Admin.Destinations (hawser destinations)` };
      return { ok: false, code: 'INVALID_DESTINATION', message: badDestination(destination).message };
    }
    if (d?.temp) return { ok: false, code: 'INVALID_DESTINATION', message: `cannot delete temporary destination '${destination}': it is deleted when the connection that made it closes` };
    const result = q ? this.deleteStore(q) : this.deleteTopic(destination, d!.type);
    this.core.step();
    return result;
  }

  private deleteStore(q: StorageQueue<Subscription>): DeleteResult {
    const consumers = q.consumers.length;
    if (q.kind === 'durable') {
      const d = [...this.core.durables.values()].find((x) => x.queue === q)!;
      if (d.active) return { ok: false, code: 'IN_USE', message: `durable subscription '${d.op.name}' of client '${d.op.clientId}' is active: its client must unsubscribe (or disconnect) first, then delete ${q.name}` };
      const removed = q.stored + q.volatile;
      this.core.emit({ kind: 'removeDurable', removeDurable: { clientId: d.op.clientId, name: d.op.name, queue: d.op.queue } });
      this.core.emit({ kind: 'forget', forget: { destination: q.name } });
      return { ok: true, removed };
    }
    if (consumers > 0) {
      const [, network] = countConsumers(q.consumers);
      const bridges = network ? ` (${network} of them a bridge's demand from another group)` : '';
      return { ok: false, code: 'IN_USE', message: `queue '${q.name}' has ${consumers} consumer${consumers === 1 ? '' : 's'}${bridges}: close its ${consumers} consumer${consumers === 1 ? '' : 's'} first, then delete it` };
    }
    if (q.inflight.size > 0) return { ok: false, code: 'IN_USE', message: `queue '${q.name}' has ${q.inflight.size} message(s) in flight: wait for them to be acknowledged, then delete it` };
    const removed = this.purgeStore(q);
    this.core.emit({ kind: 'forget', forget: { destination: q.name } });
    return { ok: true, removed };
  }

  /** A topic (or a queue name seen but holding no storage queue): forgotten if nothing uses it. */
  private deleteTopic(name: string, type: 'queue' | 'topic'): DeleteResult {
    const t = this.core.topics.get(name);
    if (t) {
      const live = t.subs.size + [...t.durables.values()].filter((x) => x.active).length;
      if (live > 0) return { ok: false, code: 'IN_USE', message: `topic '${name}' has ${live} subscriber${live === 1 ? '' : 's'}: close its ${live} subscriber${live === 1 ? '' : 's'} first, then delete it` };
      const durables = [...t.durables.values()].map((x) => x.queue.name);
      if (durables.length) return { ok: false, code: 'IN_USE', message: `topic '${name}' has ${durables.length} offline durable subscription${durables.length === 1 ? '' : 's'}: delete ${durables.join(', ')} first (each by that name), then the topic` };
    }
    const retained = this.core.retained.get(name) !== undefined;
    if (!t && !retained && !this.core.names.has(name)) {
      return { ok: false, code: 'NOT_FOUND', message: `${type} '${name}' does not exist on this store: check the name with Admin.Destinations (hawser destinations)` };
    }
    if (retained) this.core.emit({ kind: 'dropRetained', dropRetained: { topic: name } });
    this.core.emit({ kind: 'forget', forget: { destination: name } });
    return { ok: true, removed: retained ? 1 : 0 };
  }

  /** A queue by its destination, or a durable subscription's backlog by its listed name (durable:<client>:<name>). */
  private storeNamed(name: string): StorageQueue<Subscription> | undefined {
    const q = this.core.stores.get(name);
    if (q || !name.startsWith('durable:')) return q;
    for (const d of this.core.durables.values()) if (d.queue.name === name) return d.queue;
    return undefined;
  }
}
