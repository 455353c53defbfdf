// The broker core's model: a session, its subscriptions and their deliveries, topics and
// durable subscriptions as the core (core.ts) holds them, and how a queue picks the consumer
// for a message (ActiveMQ's consumer priority, round-robin among equals).
import type { Consumer, StorageQueue, StoredMessage } from './queue';
import type { AckMode, Message, SelectorLike, SessionEvent, SessionRequest } from './types';
import type { DurableSubOp } from './journal';
import { SeqMap } from './seq-map';

/** The authorization map as the core sees it. */
export interface Authorizer {
  can(principal: { login: string; groups: readonly string[] }, action: 'read' | 'write' | 'admin', destination: string): boolean;
}

export interface DeliveryRec { tag: number; sub: Subscription; msg: StoredMessage; tx: string | null }

export type TxItem = { kind: 'send'; message: Message } | { kind: 'ack' | 'nack'; rec: DeliveryRec };

export class Subscription implements Consumer {
  readonly deliveries = new SeqMap<DeliveryRec>();
  /** Deliveries not yet acked (tx-acked ones no longer count against prefetch). */
  unacked = 0;
  constructor(
    readonly id: string,
    readonly session: Session,
    readonly queue: StorageQueue<Subscription>,
    readonly ackMode: AckMode,
    readonly prefetch: number,
    readonly selector: SelectorLike | null,
    readonly topic: string | null,
    readonly durableKey: string | null,
    readonly noLocal: boolean,
    /** Consumer priority: higher first for queue messages (ActiveMQ's consumer priority). */
    readonly priority: number,
  ) {}
  /**
   * A durable subscription to a wildcard pattern under an authorizer: its backlog took messages
   * while it was offline (its session's groups unknown then), so each is checked at delivery.
   */
  checkRead = false;
  /** A member of a composite subscription (subscribeComposite): the client's id, which its deliveries carry, and every member. */
  composite: { id: string; members: Subscription[] } | null = null;
  get network(): boolean { return this.session.network; }
  hasRoom(): boolean { return this.unacked < this.prefetch && !this.session.paused; }
  accepts(m: StoredMessage): boolean { return !this.selector || this.selector.matches(selectorView(m.message)); }
}

export class Session {
  clientId = '';
  connectionId = '';
  /** Open.gateway: the gateway that opened it (Admin.Sessions). */
  gateway = '';
  /** When it was opened (ms since the epoch; Admin.Sessions). */
  openedAt = 0;
  /** A bridge's session (Open.network): its subscriptions count as network demand. */
  network = false;
  /** Its stream cannot take more now (pauseSession): nothing is dispatched to it. */
  paused = false;
  readonly subs = new Map<string, Subscription>();
  /** Composite subscriptions by the client's id: their members (in `subs` under member ids). */
  readonly composites = new Map<string, Subscription[]>();
  readonly deliveries = new SeqMap<DeliveryRec>();
  nextTag = 1;
  readonly txs = new Map<string, TxItem[]>();
  /** Receipts and errors waiting for their entry to be durable. */
  readonly outbox: Array<{ pos: number; event: SessionEvent }> = [];
  /** The core is done with it (closed or failed); the stream ends once the outbox drains. */
  closed = false;
  /** Who the session is (Open.login, '' anonymous) and its groups: what the authorizer checks. */
  login = '';
  groups: readonly string[] = [];
  /** Dedup scope of its SENDs (dedup.ts): its login, or the bridges' scope. */
  dedupScope = '';
  /** Requests held while the broker has no room for its SEND at their head (usage.ts), since `since`. */
  held: { requests: SessionRequest[]; since: number } | null = null;
  constructor(readonly id: string) {}
}

/** A topic name, or a wildcard pattern (topic-match.ts) with its subscriptions: `pattern` true. */
export interface Topic { name: string; subs: Set<Subscription>; durables: Map<string, DurableState>; enqueued: number; pattern: boolean }

export interface DurableState {
  op: DurableSubOp; queue: StorageQueue<Subscription>; selector: SelectorLike | null; active: Subscription | null;
  /** Why its stored selector does not compile here (then it matches nothing), or null. */
  broken: string | null;
}

/** What a durable subscription whose selector does not compile matches: nothing, never everything. */
export const MATCH_NOTHING: SelectorLike = { matches: () => false };

export function selectorView(m: Message) {
  return { headers: m.headers, id: m.id, priority: m.priority, timestamp: m.timestamp, expires: m.expires, persistent: m.persistent };
}

/** [local, network] counts of live subscriptions. */
export function countConsumers(subs: Iterable<Subscription>): [number, number] {
  let local = 0;
  let network = 0;
  for (const c of subs) { if (c.network) network++; else local++; }
  return [local, network];
}

/** Keeps a queue's consumers sorted by priority, highest first; a newcomer goes last among its equals. */
export function addConsumer(q: StorageQueue<Subscription>, c: Subscription): void {
  const list = q.consumers;
  let i = list.length;
  while (i > 0 && list[i - 1]!.priority < c.priority) i--;
  list.splice(i, 0, c);
}

/**
 * The consumer for message `m`: scan priority bands from the highest; in a band start at the
 * band's round-robin cursor. A band whose consumers are full or do not match passes the
 * message down to the next band (a lower priority consumer only gets what higher ones cannot take).
 */
export function pickConsumer(q: StorageQueue<Subscription>, m: StoredMessage): Subscription | null {
  const list = q.consumers;
  const n = list.length;
  let i = 0;
  while (i < n) {
    const p = list[i]!.priority;
    let j = i + 1;
    while (j < n && list[j]!.priority === p) j++;
    const len = j - i;
    const start = (q.rr.get(p) ?? 0) % len;
    for (let k = 0; k < len; k++) {
      const off = (start + k) % len;
      const c = list[i + off]!;
      if (!c.hasRoom() || !c.accepts(m)) continue;
      q.rr.set(p, (off + 1) % len);
      return c;
    }
    i = j;
  }
  return null;
}
