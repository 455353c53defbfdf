// The broker core: destinations, subscriptions, dispatch, acks, transactions, durable
// subscriptions, redelivery, dead-lettering, expiry, dedup. Pure (etcd-raft style): no I/O,
// no timers, no clock. The shell feeds it events (session requests, "entries durable up to
// P", time ticks, pages read from disk) and takes a Ready after each: journal entries to
// persist, events to send to sessions, pages to read. Persist before you send: receipts and
// errors of a session leave only once every entry made before them is durable.
//
// This file is BrokerCore: events in, requests, messages, dispatch and the step's end. Its
// parts: model.ts (sessions, subscriptions, the consumer for a message), registry.ts (the
// destinations held), journal-apply.ts (what each journal op does, made here or replayed),
// admin.ts, access.ts (who may read and write what), flow.ts (SENDs held for room),
// transactions.ts (BEGIN, COMMIT, ABORT), retained.ts (retained messages and their bounds) and
// destination-kinds.ts (temporary, composite and virtual destinations).
import { clampPriority, durableStoreId, queueStoreId, type DurableSubOp, type JournalEntry, type JournalOp } from './journal';
import { StorageQueue, volatileSize, type StoredMessage } from './queue';
import {
  Session, Subscription, addConsumer, pickConsumer, selectorView,
  type Authorizer, type DeliveryRec, type DurableState,
} from './model';
import { DedupWindow, dedupKey, dedupScope, MAX_MESSAGE_ID_BYTES } from './dedup';
import { badDestination, isComposite, isTemp, isVirtualTopic, parseDestination } from './destinations';
import { FlowControl } from './flow';
import { Access } from './access';
import { Registry, type DestinationStats } from './registry';
import { JournalApply } from './journal-apply';
import { Transactions } from './transactions';
import { Admin, type BrokenDurable, type DeleteResult, type DestinationInfo, type PurgeResult, type SessionInfo } from './admin';
import { TempDestinations, VirtualTopics, sendComposite, subscribeComposite, type CompositeHost } from './destination-kinds';
import { isPattern, patternError } from './topic-match';
import { RetainedMessages, asRetained, wantsRetain } from './retained';
import { NO_FLOW_LIMITS, Usage, type FlowLimits, type UsageStats } from './usage';
import {
  BrokerError, ErrorCode,
  type CompileSelector, type Message, type SelectorLike, type SessionEvent, type SessionRequest, type Subscribe,
} from './types';

export { parseDestination } from './destinations';
export type { Authorizer } from './model';
export type { BrokenDurable, DeleteResult, DestinationInfo, PurgeResult, SessionInfo, SessionSubscriptionInfo } from './admin';
export type { DestinationStats } from './registry';

const EMPTY = Buffer.alloc(0);

export interface CoreOptions {
  group: string;
  node: string;
  epoch: number;
  defaultPrefetch: number;
  /** Failed deliveries allowed before the DLQ; -1: never (ActiveMQ default 6). */
  maximumRedeliveries: number;
  deadLetterQueue: string;
  dedupWindow: number;
  /** Dedup keys one scope (a login; all bridges) may hold (dedup.ts); default dedupWindow. */
  dedupWindowPerScope?: number;
  /** Producer flow control (usage.ts); default: no limits. */
  flow?: FlowLimits;
  pageSize: number;
  forcePersistent: boolean;
  /**
   * Non-persistent messages a queue (or a topic subscription) keeps at most, in flight
   * included; beyond it the oldest waiting one is discarded (0: no bound). Non-persistent
   * messages live in memory only: without a bound one producer could fill the heap.
   */
  maxNonPersistent?: number;
  /** The same bound in bytes (bodies and headers, roughly); 0: no bound. */
  maxNonPersistentBytes?: number;
  /**
   * Destination names (queues, topics, durable subscriptions' backlogs) the broker takes at
   * most; a SEND or SUBSCRIBE naming one more is refused with LIMIT_EXCEEDED, the known ones
   * keep working. Every name seen since start counts (each keeps its metric series); 0: no bound.
   */
  maxDestinations?: number;
  /**
   * Topics with a retained message (retained.ts) at most, and their bytes; a retained SEND for
   * one more is refused with LIMIT_EXCEEDED (replacing or clearing one always works). 0: no bound.
   */
  maxRetained?: number;
  maxRetainedBytes?: number;
  compileSelector: CompileSelector;
  /**
   * Who may read (subscribe) and write (send) which destination: the authorization map
   * (@hawser/security's AuthorizationMap). Every session passes here, whatever protocol or
   * service opened it. Absent: every session may do everything.
   */
  authorizer?: Authorizer;
  /** A refusal by the authorizer (metrics, a rate-limited log line). */
  onForbidden?: (login: string, action: 'read' | 'write', destination: string) => void;
}

/** State read back from disk at start (the materialized indexes, not the whole journal). */
export interface Recovered {
  position: number;
  nextSeq: number;
  /** Dedup window ids, oldest first. */
  dedup: string[];
  durables: DurableSubOp[];
  /** Retained messages, one per topic (r\0 records). */
  retained?: Message[];
  /** Stored message count per storage queue id. */
  queues: Array<{ id: string; stored: number; bytes?: number }>;
}

export interface PageRequest {
  queue: string;
  /** Read keys strictly above this order key ('' = from the start). */
  after: string;
  limit: number;
  gen: number;
  /** Read only once entries up to this position are written (the page must see them). */
  atPosition: number;
}

export interface PagedMessage { message: Message; seq: number; failed: number }

export interface Outbound { sessionId: string; events: SessionEvent[]; end: boolean }

export interface Ready {
  entries: JournalEntry[];
  outbound: Outbound[];
  loads: PageRequest[];
  stats: DestinationStats[];
  dedupHits: number;
  /** Non-persistent messages discarded by maxNonPersistent in this step. */
  discarded: number;
  /** Selector evaluations that threw in this step (each counted as "does not match"). */
  selectorErrors: number;
  /** SENDs held for room (broker.memoryLimit / storeLimit) in this step. */
  heldSends: number;
  /** SENDs refused with NO_SPACE in this step. */
  refusedSends: number;
  /** Destinations deleted in this step (a forget op, made or replayed): the shell drops their metric series. */
  forgotten: string[];
}

/** A selector as messages quote it: a long one by its start. */
function quoteSelector(s: string): string {
  return s.length <= 200 ? s : `${s.slice(0, 200)}... (${s.length} characters)`;
}

/** Refusals of a SUBSCRIBE that do not end a client session (see request()). */
const SUBSCRIBE_REFUSALS: ReadonlySet<string> = new Set([ErrorCode.Forbidden, ErrorCode.LimitExceeded, ErrorCode.DuplicateSubscription]);

export class BrokerCore {
  private readonly sessions = new Map<string, Session>();
  /** Retained messages per topic (retained.ts). */
  private readonly retained = new RetainedMessages();
  /** Deliveries of a dispatch scan its session may not read (Subscription.checkRead). */
  private readonly unreadable: DeliveryRec[] = [];
  private readonly dedup: DedupWindow;
  private readonly usage: Usage;
  private lastPosition = 0;
  private durablePosition = 0;
  private nextSeq = 1;
  /**
   * Stored messages with a seq below this came from before this core served (its journal, or
   * a previous master's log): possibly delivered already, since deliveries are not journaled.
   * Their next delivery is marked redelivered (markRecoveredPossiblyDelivered); not a failure.
   */
  private recoveredBelow = 0;
  private now = 0;
  private current: JournalEntry | null = null;
  private readonly dirty = new Set<StorageQueue<Subscription>>();
  private readonly waitingDurable = new Set<StorageQueue<Subscription>>();
  private readonly expiring = new Set<StorageQueue<Subscription>>();
  private ready: Ready = BrokerCore.emptyReady();
  private readonly outbound = new Map<string, Outbound>();
  /** SENDs and SUBSCRIBEs refused by opts.maxDestinations since start (a metric). */
  destinationRefusals = 0;
  /** Sessions with something in their outbox, or closed and not yet ended. */
  private readonly flushing = new Set<Session>();
  /** Temp destinations' owners, virtual topics' queues, and what composite ones ask (destination-kinds.ts). */
  private readonly temps: TempDestinations;
  private readonly virtual = new VirtualTopics();
  private readonly composite: CompositeHost;
  /** Admin.Destinations, Purge, Delete (admin.ts). */
  private readonly admin: Admin;
  /** Requests held while the broker has no room for a SEND (flow.ts). */
  private readonly flow: FlowControl;
  /** Who may read and write what (access.ts). */
  private readonly access: Access;
  /** The destinations held: storage queues, topics, durable subscriptions, names, stats (registry.ts). */
  private readonly reg: Registry;
  /** What each journal op does to the state, made here or replayed (journal-apply.ts). */
  private readonly journal: JournalApply;
  /** BEGIN / COMMIT / ABORT and what waits in a transaction (transactions.ts). */
  private readonly txs: Transactions;

  constructor(private opts: CoreOptions, recovered?: Recovered) {
    this.dedup = new DedupWindow(opts.dedupWindow, opts.dedupWindowPerScope ?? opts.dedupWindow);
    this.usage = new Usage(opts.flow ?? NO_FLOW_LIMITS);
    this.temps = new TempDestinations(opts);
    this.reg = new Registry(this.usage, opts.pageSize, this.temps, this.virtual);
    this.access = new Access(opts, this.reg.durables);
    this.journal = new JournalApply({
      reg: this.reg, usage: this.usage, dedup: this.dedup, retained: this.retained, virtual: this.virtual,
      dirty: this.dirty, expiring: this.expiring, waitingDurable: this.waitingDurable,
      pageSize: opts.pageSize,
      seqUsed: (seq) => { if (seq >= this.nextSeq) this.nextSeq = seq + 1; },
      compile: (selector) => this.guarded(this.opts.compileSelector(selector)),
      forgotten: (name) => { this.ready.forgotten.push(name); },
    });
    this.composite = {
      temps: this.temps,
      authorize: (s, action, destination) => this.access.authorize(s, action, destination),
      admitDestination: (name) => this.admitDestination(name),
      subscribe: (s, sub) => this.subscribe(s, sub),
      endSubscription: (sub) => this.endSubscription(sub),
      request: (s, r) => this.request(s, r),
    };
    this.admin = new Admin({
      stores: this.reg.stores, topics: this.reg.topics, durables: this.reg.durables, sessions: this.sessions, retained: this.retained, names: this.reg.names,
      nextSeq: () => this.nextSeq,
      emit: (op) => this.emit(op),
      step: () => this.finishStep(),
    });
    this.flow = new FlowControl({
      usage: this.usage,
      forcePersistent: () => this.opts.forcePersistent,
      now: () => this.now,
      count: (what) => { this.ready[what]++; },
      isOpen: (s) => this.sessions.get(s.id) === s,
      fail: (s, requestId, err) => this.fail(s, requestId, err),
      run: (s, r) => this.run(s, r),
    });
    this.txs = new Transactions({
      usage: this.usage, dirty: this.dirty,
      publish: (s, m) => this.publish(s, m),
      acked: (rec) => this.acked(rec),
      returned: (rec, why) => this.returned(rec, why),
    });
    if (!recovered) return;
    this.lastPosition = this.durablePosition = recovered.position;
    this.nextSeq = recovered.nextSeq;
    for (const key of recovered.dedup) this.dedup.add(key);
    for (const q of recovered.queues) this.usage.setStored(q.id, q.bytes ?? 0);
    for (const d of recovered.durables) this.journal.applyDurableSub(d);
    for (const m of recovered.retained ?? []) this.retained.set(m);
    for (const q of recovered.queues) {
      const store = this.reg.stores.get(q.id) ?? this.reg.storeFor(q.id);
      if (!store) continue;
      store.stored = q.stored;
      store.boundary = q.stored > 0 ? '' : null;
    }
  }

  private static emptyReady(): Ready {
    return { entries: [], outbound: [], loads: [], stats: [], dedupHits: 0, discarded: 0, selectorErrors: 0, heldSends: 0, refusedSends: 0, forgotten: [] };
  }

  get position(): number { return this.lastPosition; }
  get committed(): number { return this.durablePosition; }
  get epoch(): number { return this.opts.epoch; }

  /** Producer flow control and dedup, for metrics. */
  usageStats(): UsageStats {
    const l = this.usage.limits;
    return {
      memory: this.usage.memory, memoryLimit: l.memoryLimit, store: this.usage.storeBytes, storeLimit: l.storeLimit,
      blockedProducers: this.flow.blockedProducers, heldRequests: this.flow.heldRequests(), dedupEntries: this.dedup.size, dedupScopes: this.dedup.scopeCount,
    };
  }

  /**
   * Replicated groups: a replica promoted to master makes its entries (and message ids) in its
   * new epoch from now on. Its state so far came from `replay`.
   */
  setEpoch(epoch: number): void {
    this.opts = { ...this.opts, epoch };
  }

  /**
   * Every stored message this core holds now (in memory or on disk) may have been delivered
   * by whoever served before (a master that died, this store before a crash): deliveries are
   * not journaled. Their next delivery carries `redelivered: true` and a delivery count of at
   * least 2 (JMS: "may have been delivered"); it is not a failed delivery, so it never counts
   * toward maximumRedeliveries: failovers do not dead-letter what nobody saw. Called by the
   * store where a core starts serving from recovered state (docs/reliability.md, D1).
   */
  markRecoveredPossiblyDelivered(): void {
    this.recoveredBelow = this.nextSeq;
  }

  // ---- events in -------------------------------------------------------------------------

  /** Requests of one session, in order. The first request of a session must be `open`. */
  handle(sessionId: string, requests: SessionRequest[], now: number): void {
    this.now = now;
    let s = this.sessions.get(sessionId);
    for (const r of requests) {
      if (s?.closed) break;
      try {
        if (!s) {
          if (r.kind !== 'open') throw new BrokerError(ErrorCode.BadRequest, `the first request of a session must be 'open', got '${r.kind}': open the session first`);
          s = new Session(sessionId);
          s.clientId = r.open.clientId;
          s.connectionId = r.open.connectionId;
          s.gateway = r.open.gateway ?? '';
          s.openedAt = now;
          s.network = r.open.network === true;
          s.dedupScope = dedupScope(r.open);
          s.login = r.open.login;
          s.groups = r.open.groups ?? [];
          this.temps.ownerOpened(s);
          this.sessions.set(sessionId, s);
          this.send(s, { kind: 'opened', opened: { sessionId, group: this.opts.group, node: this.opts.node, epoch: this.opts.epoch } });
          this.receipt(s, r.requestId);
          continue;
        }
        if (this.flow.holds(s, r)) continue;
        this.request(s, r);
        this.receipt(s, r.requestId);
      } catch (e) {
        const err = e instanceof BrokerError ? e : new BrokerError(ErrorCode.Internal, `internal error: ${(e as Error).message}`, { cause: e });
        if (!s) {
          // No session to hold it: answer directly and end the stream.
          this.out(sessionId).events.push({ kind: 'error', error: { requestId: r.requestId, code: err.code, message: err.message, fatal: true } });
          this.out(sessionId).end = true;
          break;
        }
        this.fail(s, r.requestId, err);
      }
    }
    this.finishStep();
  }

  /**
   * The session's stream cannot take more now (the store's write to its gateway stream met a
   * full buffer): nothing is dispatched to it until resumeSession. Receipts and errors still go.
   */
  pauseSession(sessionId: string): void {
    const s = this.sessions.get(sessionId);
    if (s) s.paused = true;
  }

  /** The stream drained: dispatch to the session's subscriptions again. */
  resumeSession(sessionId: string, now: number): void {
    const s = this.sessions.get(sessionId);
    if (!s?.paused) return;
    s.paused = false;
    this.now = now;
    for (const sub of s.subs.values()) this.dirty.add(sub.queue);
    this.finishStep();
  }

  /** The session's stream is gone (gateway closed or died): end it like Close, silently. */
  sessionEnded(sessionId: string, now: number): void {
    this.now = now;
    const s = this.sessions.get(sessionId);
    if (s) {
      this.closeSession(s);
      s.outbox.length = 0;
      this.sessions.delete(sessionId);
      this.outbound.delete(sessionId);
    }
    this.finishStep();
  }

  /** Every entry up to `position` is durable (per the sync mode). */
  durable(position: number, now: number): void {
    this.now = now;
    if (position > this.durablePosition) this.durablePosition = position;
    this.usage.durable(position);
    for (const q of this.waitingDurable) this.dirty.add(q);
    this.waitingDurable.clear();
    this.finishStep();
  }

  /** Time passes: expiry. */
  tick(now: number): void {
    this.now = now;
    for (const q of [...this.expiring]) {
      let any = false;
      const expired: StoredMessage[] = [];
      q.win.scan((m) => {
        if (m.message.expires > 0) {
          if (m.message.expires <= now) { expired.push(m); return 'take'; }
          any = true;
        }
        return 'skip';
      });
      for (const m of expired) this.expire(q, m);
      if (!any) { q.hasExpiring = false; this.expiring.delete(q); }
      if (expired.length) this.dirty.add(q);
    }
    this.finishStep();
  }

  /** A page read for a PageRequest. */
  pageLoaded(queue: string, gen: number, page: PagedMessage[], full: boolean, now: number): void {
    this.now = now;
    const q = this.reg.stores.get(queue);
    if (q) {
      q.pageLoaded(gen, page.map((p) => StorageQueue.make(p.message, queue, p.seq, true, 0, p.failed)), full);
      if (q.hasExpiring) this.expiring.add(q);
      this.dirty.add(q);
    }
    this.finishStep();
  }

  /** Takes what the shell must do now. */
  takeReady(): Ready {
    const r = this.ready;
    r.outbound = [...this.outbound.values()];
    this.outbound.clear();
    r.stats = [...this.reg.stats.values()];
    this.reg.stats.clear();
    this.ready = BrokerCore.emptyReady();
    return r;
  }

  // ---- admin (admin.ts) ------------------------------------------------------------------

  /** Durable subscriptions whose stored selector does not compile: they receive nothing. */
  brokenDurables(): BrokenDurable[] {
    return this.admin.brokenDurables();
  }

  destinations(prefix = ''): DestinationInfo[] {
    return this.admin.destinations(prefix);
  }

  /** Admin.Sessions: each session, its subscriptions and deliveries in flight (docs/reliability.md D8). */
  sessionsInfo(destination = ''): SessionInfo[] {
    return this.admin.sessions(destination);
  }

  /** In-memory messages of a queue in dispatch order (the shell adds disk-only ones). */
  windowOf(destination: string): { messages: Message[]; boundary: string | null; storeId: string } | null {
    return this.admin.windowOf(destination);
  }

  /** Admin purge (Admin.purge): every message of the queue not in flight goes. */
  purge(destination: string, now: number): PurgeResult {
    this.now = now;
    return this.admin.purge(destination);
  }

  /** Admin delete (Admin.deleteDestination): the destination, its messages and its name go. */
  deleteDestination(destination: string, now: number): DeleteResult {
    this.now = now;
    return this.admin.deleteDestination(destination);
  }

  // ---- requests --------------------------------------------------------------------------

  private request(s: Session, r: SessionRequest): void {
    switch (r.kind) {
      case 'open':
        throw new BrokerError(ErrorCode.BadRequest, `session ${s.id} is already open: send 'open' once, as the first request`);
      case 'send': {
        const m = r.send.message;
        if (!m) throw new BrokerError(ErrorCode.BadRequest, 'SEND without a message: set send.message');
        if (isComposite(m.destination)) return sendComposite(this.composite, s, r, m);
        if (isTemp(m.destination)) this.temps.checkTemp(s, m.destination, 'write');
        const sendTo = parseDestination(m.destination);
        if (!sendTo) throw badDestination(m.destination);
        if (sendTo.type === 'topic' && isPattern(sendTo.name)) {
          // [MQTT-3.3.2-2]: a topic name has no wildcards; a pattern is for SUBSCRIBE.
          throw new BrokerError(ErrorCode.InvalidDestination, `cannot send to '${m.destination}': '*' and '>' segments are wildcards, for subscribing; send to a topic name without them`);
        }
        this.access.authorize(s, 'write', m.destination);
        this.admitDestination(m.destination);
        if (m.id && Buffer.byteLength(m.id) > MAX_MESSAGE_ID_BYTES) {
          throw new BrokerError(ErrorCode.BadRequest, `message id too long: ${Buffer.byteLength(m.id)} bytes, the most the store takes is ${MAX_MESSAGE_ID_BYTES}: use a shorter message-id`, { fatal: false });
        }
        if (sendTo.type === 'topic') this.retained.admit(m, this.opts.maxRetained ?? 0, this.opts.maxRetainedBytes ?? 0);
        if (r.send.transaction) this.txs.send(s, r.send.transaction, m);
        else this.publish(s, m);
        return;
      }
      case 'subscribe':
        try {
          return this.subscribe(s, r.subscribe);
        } catch (e) {
          // A SUBSCRIBE refused for who asks or for a limit leaves the session as it was (nothing
          // of it applied): a client session goes on — MQTT answers it with SUBACK 0x80, STOMP
          // closes its connection anyway. A bridge's network session still ends on it.
          if (e instanceof BrokerError && e.fatal && !s.network && SUBSCRIBE_REFUSALS.has(e.code)) {
            throw new BrokerError(e.code, e.message, { cause: e, fatal: false });
          }
          throw e;
        }
      case 'unsubscribe': {
        const members = s.composites.get(r.unsubscribe.subscriptionId);
        if (members) {
          s.composites.delete(r.unsubscribe.subscriptionId);
          for (const m of members) this.endSubscription(m);
          return;
        }
        const sub = s.subs.get(r.unsubscribe.subscriptionId);
        if (!sub) throw new BrokerError(ErrorCode.UnknownSubscription, `UNSUBSCRIBE of unknown subscription '${r.unsubscribe.subscriptionId}': it was never subscribed on this session or was already unsubscribed`);
        this.endSubscription(sub);
        if (r.unsubscribe.removeDurable && sub.durableKey) {
          const d = this.reg.durables.get(sub.durableKey);
          if (d) this.emit({ kind: 'removeDurable', removeDurable: { clientId: d.op.clientId, name: d.op.name, queue: d.op.queue } });
        }
        return;
      }
      case 'ack':
      case 'nack': {
        const tag = r.kind === 'ack' ? r.ack.deliveryTag : r.nack.deliveryTag;
        const txId = r.kind === 'ack' ? r.ack.transaction : r.nack.transaction;
        const rec = s.deliveries.get(tag);
        const verb = r.kind.toUpperCase();
        if (!rec || rec.tx) {
          throw new BrokerError(ErrorCode.UnknownDelivery, `${verb} for unknown delivery tag ${tag}: it was never delivered on this session or was already acknowledged`);
        }
        // STOMP 1.2: in ack mode `client` an ACK is cumulative (all earlier messages of the subscription).
        // A composite subscription's members share the client's subscription (tags are per session).
        const recs = r.kind === 'ack' && rec.sub.ackMode === 'ACK_MODE_CLIENT'
          ? (rec.sub.composite?.members ?? [rec.sub]).flatMap((m) => [...m.deliveries.values()]).filter((d) => d.tag <= tag && !d.tx)
          : [rec];
        if (txId) return this.txs.consume(s, txId, r.kind, recs);
        for (const d of recs) {
          if (r.kind === 'ack') this.acked(d);
          else this.returned(d, 'NACK');
        }
        return;
      }
      case 'begin':
        return this.txs.begin(s, r.begin.transaction);
      case 'commit':
        return this.txs.commit(s, r.commit.transaction);
      case 'abort':
        return this.txs.abort(s, r.abort.transaction);
      case 'close':
        this.closeSession(s);
        return;
    }
  }

  private subscribe(s: Session, sub: Subscribe): void {
    if (s.subs.has(sub.subscriptionId) || s.composites.has(sub.subscriptionId)) {
      throw new BrokerError(ErrorCode.DuplicateSubscription, `subscription id '${sub.subscriptionId}' is already in use on this session: use a new id or UNSUBSCRIBE first`);
    }
    const dest = parseDestination(sub.destination);
    if (!dest && isComposite(sub.destination)) return subscribeComposite(this.composite, s, sub);
    if (!dest) throw badDestination(sub.destination);
    if (dest.temp) this.temps.checkTemp(s, sub.destination, 'read', sub.durableName);
    const wildcard = dest.type === 'topic' && isPattern(dest.name);
    const bad = wildcard ? patternError(dest.name) : null;
    if (bad) throw new BrokerError(ErrorCode.InvalidDestination, `invalid topic pattern '${sub.destination}': ${bad}; e.g. /topic/a.*.c (one segment) or /topic/a.> (the rest)`);
    this.access.authorize(s, 'read', sub.destination);
    let selector: SelectorLike | null = null;
    if (sub.selector) {
      try {
        selector = this.guarded(this.opts.compileSelector(sub.selector));
      } catch (e) {
        throw new BrokerError(ErrorCode.InvalidSelector, `invalid selector '${quoteSelector(sub.selector)}': ${(e as Error).message}`, { cause: e });
      }
    }
    this.admitDestination(sub.destination);
    if (sub.durableName && s.clientId && !this.reg.durables.has(`${s.clientId}\u0000${sub.durableName}`)) this.admitDestination(`durable:${s.clientId}:${sub.durableName}`);
    const prefetch = sub.prefetch > 0 ? sub.prefetch : this.opts.defaultPrefetch;
    const priority = Number.isFinite(sub.priority) ? Math.trunc(sub.priority!) : 0;
    let result: Subscription;
    if (dest.type === 'queue') {
      const q = this.reg.queueOf(sub.destination);
      result = new Subscription(sub.subscriptionId, s, q, sub.ackMode, prefetch, selector, null, null, false, priority);
      addConsumer(q, result);
    } else if (!sub.durableName) {
      const q = new StorageQueue<Subscription>(`sub:${s.id}:${sub.subscriptionId}`, sub.destination, 'subscription', Number.MAX_SAFE_INTEGER, this.usage);
      result = new Subscription(sub.subscriptionId, s, q, sub.ackMode, prefetch, selector, sub.destination, null, sub.noLocal, priority);
      q.consumers.push(result);
      this.reg.topicOf(sub.destination).subs.add(result);
      this.sendRetained(s, q, sub.destination, selector, wildcard);
    } else {
      if (!s.clientId) {
        throw new BrokerError(ErrorCode.BadRequest, `durable subscription '${sub.durableName}' needs a client id: set client-id when connecting`);
      }
      const key = `${s.clientId}\u0000${sub.durableName}`;
      let d = this.reg.durables.get(key);
      if (d?.op.owner && d.op.owner !== s.login) {
        throw new BrokerError(ErrorCode.Forbidden, `durable subscription '${sub.durableName}' of client '${s.clientId}' belongs to another user: use your own client-id`);
      }
      if (d?.active) {
        throw new BrokerError(ErrorCode.DuplicateSubscription, `durable subscription '${sub.durableName}' of client '${s.clientId}' is already active on another session: close that one first`);
      }
      if (d && (d.op.topic !== sub.destination || d.op.selector !== sub.selector || d.op.noLocal !== sub.noLocal)) {
        // JMS: changing a durable subscription's topic or selector replaces it (backlog dropped).
        this.emit({ kind: 'removeDurable', removeDurable: { clientId: d.op.clientId, name: d.op.name, queue: d.op.queue } });
        d = undefined;
      }
      if (!d) {
        const op: DurableSubOp = { clientId: s.clientId, name: sub.durableName, topic: sub.destination, selector: sub.selector, noLocal: sub.noLocal, queue: durableStoreId(s.clientId, sub.durableName, this.nextSeq++), owner: s.login };
        this.emit({ kind: 'durableSub', durableSub: op });
        d = this.reg.durables.get(key)!;
        // Retained messages go to a durable subscription when it is made (or replaced), not each
        // time it is resumed: a persistent MQTT session resuming its subscriptions gets none again.
        this.sendRetained(s, d.queue, sub.destination, d.selector, wildcard);
      }
      result = new Subscription(sub.subscriptionId, s, d.queue, sub.ackMode, prefetch, null, sub.destination, key, sub.noLocal, priority);
      // Also without a map: a `$` pattern's offline backlog may hold other clients' MQTT session records.
      result.checkRead = wildcard && (this.opts.authorizer !== undefined || sub.destination.startsWith('/topic/$'));
      d.active = result;
      addConsumer(d.queue, result);
    }
    s.subs.set(sub.subscriptionId, result);
    this.dirty.add(result.queue);
  }

  /**
   * A new subscription first gets the retained messages of the topics it matches, marked
   * ActiveMQ.Retained: true [MQTT-3.3.1-6, -8]; in memory only (a copy, not journaled: after a
   * failover the subscription is made again and gets them again).
   */
  private sendRetained(s: Session, q: StorageQueue<Subscription>, destination: string, selector: SelectorLike | null, wildcard: boolean): void {
    if (this.retained.size === 0) return;
    for (const m of this.retained.match(destination, this.now)) {
      if (selector && !selector.matches(selectorView(m))) continue;
      if (wildcard && !this.access.mayRead(s, m.destination)) continue;
      this.addVolatile(q, asRetained(m), this.nextSeq++);
    }
  }

  /**
   * A selector as the core runs it: one that throws on a message (a bug, or a stack it could not
   * have) does not match that message and is counted (Ready.selectorErrors); dispatch goes on.
   */
  private guarded(selector: SelectorLike): SelectorLike {
    return {
      matches: (m) => {
        try {
          return selector.matches(m);
        } catch {
          this.ready.selectorErrors++;
          return false;
        }
      },
    };
  }

  /** Consumer leaves: its unacked deliveries go back (redelivered), a temp topic sub ends. */
  private endSubscription(sub: Subscription): void {
    const s = sub.session;
    s.subs.delete(sub.id);
    const q = sub.queue;
    q.consumers = q.consumers.filter((c) => c !== sub);
    if (sub.durableKey) {
      const d = this.reg.durables.get(sub.durableKey);
      if (d?.active === sub) d.active = null;
    } else if (sub.topic) {
      this.reg.topics.get(sub.topic)?.subs.delete(sub);
      this.reg.pruneTopic(sub.topic);
    }
    for (const rec of [...sub.deliveries.values()]) {
      if (rec.tx) { rec.tx = null; sub.unacked++; }
      this.returned(rec, 'consumer closed');
    }
    if (q.kind === 'subscription') q.volatileBytes = 0; // the queue goes with it (memory usage)
    this.dirty.add(q);
  }

  private closeSession(s: Session): void {
    if (s.closed) return;
    s.closed = true;
    this.flushing.add(s);
    s.held = null; // never admitted: no receipt was sent for them
    this.flow.unblock(s);
    // Uncommitted transactions abort; then every subscription ends (deliveries come back).
    this.txs.abortAll(s);
    for (const sub of [...s.subs.values()]) this.endSubscription(sub);
    this.ownerClosed(s);
  }

  private fail(s: Session, requestId: number, err: BrokerError): void {
    this.flushing.add(s);
    s.outbox.push({ pos: this.pendingPosition(), event: { kind: 'error', error: { requestId, code: err.code, message: err.message, fatal: err.fatal } } });
    if (err.fatal) this.closeSession(s);
  }

  private receipt(s: Session, requestId: number): void {
    if (!requestId) return;
    this.flushing.add(s);
    s.outbox.push({ pos: this.pendingPosition(), event: { kind: 'receipt', receipt: { requestId } } });
  }

  private pendingPosition(): number {
    return this.current ? this.current.position : this.lastPosition;
  }

  // ---- producer flow control (flow.ts) -----------------------------------------------------

  /** One request and its receipt, or its error (what handle() does for a request not held). */
  private run(s: Session, r: SessionRequest): void {
    try {
      this.request(s, r);
      this.receipt(s, r.requestId);
    } catch (e) {
      this.fail(s, r.requestId, e instanceof BrokerError ? e : new BrokerError(ErrorCode.Internal, `internal error: ${(e as Error).message}`, { cause: e }));
    }
  }

  // ---- messages --------------------------------------------------------------------------

  private publish(s: Session | null, input: Message): void {
    // Temp destinations keep their messages in memory (as ActiveMQ's temp store): never journaled.
    const temp = isTemp(input.destination);
    if (temp && !this.temps.tempAlive(input.destination)) return; // its connection is gone: dropped, like a topic message without subscribers
    const persistent = (input.persistent || this.opts.forcePersistent) && !temp;
    const message: Message = {
      id: input.id || `ID:${this.opts.node}-${this.opts.epoch}-${this.nextSeq}`,
      destination: input.destination,
      headers: input.headers ?? {},
      body: input.body,
      persistent,
      priority: clampPriority(input.priority ?? 4),
      expires: input.expires || 0,
      timestamp: this.now,
    };
    const scope = s ? s.dedupScope : '';
    if (persistent && this.dedup.has(dedupKey(scope, message.destination, message.id))) {
      this.ready.dedupHits++; // failover resend or bridge duplicate: acknowledged, not stored again
      return;
    }
    const dest = parseDestination(message.destination)!;
    const st = this.reg.statsOf(message.destination, true)!;
    if (message.expires > 0 && message.expires <= this.now) { st.expired++; return; }
    if (dest.type === 'queue') {
      const q = this.reg.queueOf(message.destination);
      if (persistent) this.emit({ kind: 'enqueue', enqueue: { message, queues: [q.id], seq: this.nextSeq++, dedup: true, dedupScope: scope } });
      else this.addVolatile(q, message, this.nextSeq++);
      return;
    }
    const fanned = isVirtualTopic(message.destination) && this.toVirtualQueues(message, persistent);
    st.enqueued++;
    // ActiveMQ.Retain (retained.ts); the message still goes to the current subscribers.
    const retainOp = wantsRetain(message) ? this.retained.opFor(message) : null;
    if (retainOp) this.emit(retainOp);
    // The topic's own subscribers (a map lookup), then those of every wildcard pattern matching
    // it (one trie walk, topic-match.ts): no work per subscription to find them.
    const t = this.reg.topics.get(message.destination);
    const matched = this.reg.patterns.size ? this.reg.patterns.match(dest.name) : [];
    if (t) matched.push(t);
    if (!matched.length) {
      // The virtual topic's queues took it: its id is journaled all the same (see below).
      if (fanned && persistent) this.emit({ kind: 'enqueue', enqueue: { message: { ...message, headers: {}, body: EMPTY }, queues: [], seq: this.nextSeq++, dedup: true, dedupScope: scope } });
      return; // ActiveMQ: a topic message with no subscriber is dropped
    }
    const view = selectorView(message);
    const seq = this.nextSeq++;
    const targets: DurableState[] = [];
    for (const topic of matched) {
      topic.enqueued++;
      for (const d of topic.durables.values()) {
        if (d.op.noLocal && s && d.active?.session === s) continue;
        if (d.selector && !d.selector.matches(view)) continue;
        if (topic.pattern && d.active && !this.access.mayRead(d.active.session, message.destination)) continue;
        targets.push(d);
      }
    }
    if (persistent && targets.length) this.emit({ kind: 'enqueue', enqueue: { message, queues: targets.map((d) => d.op.queue), seq, dedup: true, dedupScope: scope } });
    else {
      for (const d of targets) this.addVolatile(d.queue, message, seq);
      // Every persistent publication's id is journaled, even when only non-durable subscribers
      // take it: in a mesh (networkTTL >= 2) the same publication can arrive again by another
      // path and must be dropped. The record stores no body and no queue.
      if (persistent) this.emit({ kind: 'enqueue', enqueue: { message: { ...message, headers: {}, body: EMPTY }, queues: [], seq, dedup: true, dedupScope: scope } });
    }
    for (const topic of matched) {
      for (const sub of topic.subs) {
        if (sub.noLocal && sub.session === s) continue;
        if (sub.selector && !sub.selector.matches(view)) continue;
        if (topic.pattern && !this.access.mayRead(sub.session, message.destination)) continue;
        this.addVolatile(sub.queue, message, seq);
      }
    }
  }

  /** Retained messages held, and their bytes (metrics). */
  retainedStats(): { count: number; bytes: number; refused: number } {
    return { count: this.retained.size, bytes: this.retained.bytes, refused: this.retained.refused };
  }

  /** The retained message of a topic, if any (tests, admin). */
  retainedOf(topic: string): Message | undefined {
    return this.retained.get(topic);
  }

  private addVolatile(q: StorageQueue<Subscription>, message: Message, seq: number): void {
    const m = StorageQueue.make(message, q.id, seq, false, 0);
    q.volatile++;
    q.volatileBytes += volatileSize(message);
    q.enqueued++;
    if (q.kind === 'queue') this.reg.statsOf(q.name, true)!.enqueued++;
    q.add(m);
    q.noteVolatile(m);
    if (q.hasExpiring) this.expiring.add(q);
    this.dirty.add(q);
    this.boundVolatile(q);
  }

  /**
   * maxNonPersistent: drops the oldest waiting non-persistent messages of `q` while it holds
   * more than the bound (RabbitMQ's max-length drop-head; ActiveMQ discards old non-persistent
   * messages of slow topic subscribers the same way). Messages in flight are not touched.
   */
  private boundVolatile(q: StorageQueue<Subscription>): void {
    const max = this.opts.maxNonPersistent ?? 0;
    const maxBytes = this.opts.maxNonPersistentBytes ?? 0;
    while ((max > 0 && q.volatile > max) || (maxBytes > 0 && q.volatileBytes > maxBytes)) {
      const m = q.oldestWaitingVolatile();
      if (!m) return; // every one of them is in flight
      q.forget(m);
      this.ready.discarded++;
    }
  }

  private acked(rec: DeliveryRec): void {
    this.dropDelivery(rec);
    const q = rec.sub.queue;
    const st = q.kind !== 'subscription' ? this.reg.statsOf(q.name, true) : null;
    if (st) st.acked++;
    if (rec.msg.stored) this.emit({ kind: 'remove', remove: { queue: q.id, seq: rec.msg.seq, priority: rec.msg.message.priority, reason: 'acked', bytes: volatileSize(rec.msg.message) } });
    else { q.forget(rec.msg); if (st) st.dequeued++; }
    this.dirty.add(q);
  }

  /** A delivery failed (NACK, consumer gone, rollback): redeliver, or dead-letter. */
  private returned(rec: DeliveryRec, why: string): void {
    this.dropDelivery(rec);
    const q = rec.sub.queue;
    const m = rec.msg;
    m.failed++;
    if (q.kind === 'subscription' && rec.sub.session.closed) { q.forget(m); return; }
    if (q.kind === 'subscription' && !q.consumers.includes(rec.sub)) { q.forget(m); return; }
    const max = this.opts.maximumRedeliveries;
    if (max >= 0 && m.failed > max && q.id !== this.opts.deadLetterQueue) {
      this.deadLetter(q, m, `Delivery[${m.failed}] exceeds redelivery policy limit (maximumRedeliveries=${max}); last failure: ${why}`);
      return;
    }
    if (m.stored) this.emit({ kind: 'redeliver', redeliver: { queue: q.id, seq: m.seq, priority: m.message.priority, count: m.failed } });
    q.takeBack(m);
    if (!m.stored) q.noteVolatile(m);
    if (q.hasExpiring) this.expiring.add(q);
    this.dirty.add(q);
  }

  private dropDelivery(rec: DeliveryRec): void {
    const sub = rec.sub;
    sub.deliveries.delete(rec.tag);
    sub.session.deliveries.delete(rec.tag);
    if (!rec.tx) sub.unacked--;
    rec.tx = null;
  }

  /** ActiveMQ: persistent messages go to the DLQ keeping their id; non-persistent ones are dropped (processNonPersistent=false). */
  private deadLetter(q: StorageQueue<Subscription>, m: StoredMessage, cause: string): void {
    const st = q.kind !== 'subscription' ? this.reg.statsOf(q.name, true) : null;
    if (st) st.deadLettered++;
    if (!m.stored) { q.forget(m); return; }
    this.emit({ kind: 'remove', remove: { queue: q.id, seq: m.seq, priority: m.message.priority, reason: 'dlq', bytes: volatileSize(m.message) } });
    const original = m.message;
    const message: Message = {
      ...original,
      destination: this.opts.deadLetterQueue,
      headers: { ...original.headers, originalDestination: original.destination, dlqDeliveryFailureCause: cause },
      expires: 0,
      persistent: true,
    };
    this.emit({ kind: 'enqueue', enqueue: { message, queues: [queueStoreId(this.opts.deadLetterQueue)], seq: this.nextSeq++, dedup: false } });
  }

  private expire(q: StorageQueue<Subscription>, m: StoredMessage): void {
    const st = q.kind !== 'subscription' ? this.reg.statsOf(q.name, true) : null;
    if (st) st.expired++;
    if (m.stored && q.id !== this.opts.deadLetterQueue) this.deadLetter(q, m, `message expired at ${m.message.expires}`);
    else if (m.stored) this.emit({ kind: 'remove', remove: { queue: q.id, seq: m.seq, priority: m.message.priority, reason: 'expired', bytes: volatileSize(m.message) } });
    else q.forget(m);
  }

  // ---- dispatch --------------------------------------------------------------------------

  /**
   * Message-centric dispatch (ActiveMQ's consumer priority): each message goes to the highest
   * priority consumer that has room and accepts it; among equal priorities, round-robin.
   * `consumers` is kept sorted by priority, highest first (addConsumer), so a network
   * consumer at -1 only gets what local consumers at 0 cannot take now.
   */
  private dispatch(q: StorageQueue<Subscription>): void {
    const consumers = q.consumers;
    if (consumers.length > 0) {
      const expired: StoredMessage[] = [];
      q.win.scan((m) => {
        let room = false;
        for (const c of consumers) if (c.hasRoom()) { room = true; break; }
        if (!room) return 'stop';
        if (m.stored && m.position > this.durablePosition) { this.waitingDurable.add(q); return 'skip'; }
        if (m.message.expires > 0 && m.message.expires <= this.now) { expired.push(m); return 'take'; }
        const c = pickConsumer(q, m);
        if (!c) return 'skip';
        q.inflight.set(m.seq, m);
        this.deliver(c, m);
        return 'take';
      });
      for (const m of expired) this.expire(q, m);
      for (const rec of this.unreadable.splice(0)) this.acked(rec);
      if (q.needsPage()) this.requestPage(q);
    }
  }

  private deliver(sub: Subscription, m: StoredMessage): void {
    const s = sub.session;
    const rec: DeliveryRec = { tag: s.nextTag++, sub, msg: m, tx: null };
    sub.deliveries.set(rec.tag, rec);
    s.deliveries.set(rec.tag, rec);
    sub.unacked++;
    if (sub.checkRead && !this.access.mayRead(s, m.message.destination)) {
      this.unreadable.push(rec); // not for this session: acked unseen once the scan is over
      return;
    }
    // Recovered (possibly delivered by a previous master) counts as one delivery, not a failure.
    const maybe = m.failed === 0 && m.stored && m.seq < this.recoveredBelow;
    this.send(s, { kind: 'delivery', delivery: { subscriptionId: sub.composite?.id ?? sub.id, deliveryTag: rec.tag, message: m.message, redelivered: maybe || m.failed > 0, deliveryCount: maybe ? 2 : m.failed + 1 } });
  }

  private requestPage(q: StorageQueue<Subscription>): void {
    const l = q.startLoading();
    this.ready.loads.push({ queue: q.id, after: q.boundary!, limit: this.opts.pageSize, gen: l.gen, atPosition: this.pendingPosition() });
  }

  // ---- journal (ops applied: journal-apply.ts) -------------------------------------------

  /** Records an op in this step's entry and applies it. */
  private emit(op: JournalOp): void {
    if (!this.current) this.current = { epoch: this.opts.epoch, position: this.lastPosition + 1, time: this.now, ops: [] };
    this.current.ops.push(op);
    this.journal.apply(op, this.current.position);
    // Held in memory until durable (a replicated master: until a quorum holds it).
    if (op.kind === 'enqueue') this.usage.addPending(this.current.position, volatileSize(op.enqueue.message));
  }

  /** Replays entries made elsewhere (a replica, or a test proving determinism). */
  replay(entries: JournalEntry[], now: number): void {
    this.now = now;
    for (const e of entries) {
      for (const op of e.ops) this.journal.apply(op, e.position);
      if (e.position > this.lastPosition) this.lastPosition = e.position;
    }
    this.finishStep();
  }

  /** opts.maxDestinations: refuses a name not seen before once that many were. */
  private admitDestination(name: string): void {
    const max = this.opts.maxDestinations ?? 0;
    // A temp destination whose connection is gone is never made (its messages are dropped).
    if (isTemp(name) && !this.temps.tempAlive(name)) return;
    if (this.reg.names.has(name)) return;
    if (max > 0 && this.reg.names.size >= max) {
      this.destinationRefusals++;
      throw new BrokerError(ErrorCode.LimitExceeded, `too many destinations: this broker holds ${this.reg.names.size}, the most allowed (broker.maxDestinations); use an existing destination, or raise broker.maxDestinations`);
    }
    this.reg.names.add(name);
  }

  // ---- temporary, composite and virtual destinations (destination-kinds.ts) -----------------

  /**
   * The last session of a connection ended: its temp destinations go, with their messages
   * (TempDestinations.ownerClosed).
   */
  private ownerClosed(s: Session): void {
    for (const name of this.temps.ownerClosed(s)) {
      const q = this.reg.dropTemp(name);
      if (q) { this.dirty.delete(q); this.expiring.delete(q); }
    }
  }

  /**
   * ActiveMQ's virtual topic (VirtualTopic.>, consumers' queues Consumer.*.VirtualTopic.>): a
   * message published to /topic/VirtualTopic.X also goes to every existing queue
   * /queue/Consumer.<name>.VirtualTopic.X, as a copy whose destination is that queue (AMQ-6100)
   * and `original-destination` the topic. A queue exists once a consumer subscribed to it or it
   * holds messages. False when there is none.
   */
  private toVirtualQueues(message: Message, persistent: boolean): boolean {
    const queues = this.virtual.queuesOf(message.destination);
    if (!queues?.size) return false;
    for (const q of queues) {
      const copy: Message = { ...message, destination: q.name, headers: { ...message.headers, 'original-destination': message.destination } };
      if (persistent) this.emit({ kind: 'enqueue', enqueue: { message: copy, queues: [q.id], seq: this.nextSeq++, dedup: false } });
      else this.addVolatile(q, copy, this.nextSeq++);
    }
    return true;
  }

  // ---- step end --------------------------------------------------------------------------

  private send(s: Session, ev: SessionEvent): void {
    this.out(s.id).events.push(ev);
  }

  private out(sessionId: string): Outbound {
    let o = this.outbound.get(sessionId);
    if (!o) {
      o = { sessionId, events: [], end: false };
      this.outbound.set(sessionId, o);
    }
    return o;
  }

  private finishStep(): void {
    if (this.flow.blockedProducers) this.flow.releaseHeld();
    // Dispatch may expire or dead-letter messages (new ops), which may dirty queues again.
    for (let round = 0; round < 4 && this.dirty.size; round++) {
      const queues = [...this.dirty];
      this.dirty.clear();
      for (const q of queues) this.dispatch(q);
    }
    if (this.current) {
      this.lastPosition = this.current.position;
      this.ready.entries.push(this.current);
      this.current = null;
    }
    for (const s of [...this.flushing]) {
      if (this.sessions.get(s.id) !== s) { this.flushing.delete(s); continue; }
      if (s.outbox.length) {
        let i = 0;
        while (i < s.outbox.length && s.outbox[i]!.pos <= this.durablePosition) this.send(s, s.outbox[i++]!.event);
        if (i) s.outbox.splice(0, i);
      }
      if (s.outbox.length === 0) this.flushing.delete(s);
      if (s.closed && s.outbox.length === 0) {
        this.out(s.id).end = true;
        this.sessions.delete(s.id);
      }
    }
  }
}
