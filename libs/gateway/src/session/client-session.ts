// One client's session, whatever protocol it speaks: what a protocol adapter (STOMP today,
// MQTT next) stands on. It owns what must survive the master changing under the client:
//   - delivery tags the client sees, unique across the session's masters (each master numbers
//     its own deliveries from 1; a new session generation shifts them past every tag shown);
//   - redelivered marks for messages the client already got from a previous master;
//   - receipts: which client request (by the adapter's token) a store receipt answers;
//   - acks of deliveries of a previous master, mapped to their redelivery (one waiting for a
//     receipt is held until the redelivery comes, bounded: docs/reliability.md D2);
//   - the StoreLink to the master (failover, replay) and through it the channel.
// The adapter keeps the protocol: parsing, versions, heart-beats, how a tag or an error is shown.
import type { AckMode, Delivery, Message, Open, SessionEvent, Subscribe } from '@hawser/proto';
import type { Principal } from '@hawser/security';
import type { Logger } from '@hawser/observability';
import type { Config } from '../config';
import type { GatewayMetrics } from '../metrics';
import { AckNotConfirmedError, GatewayError, LimitExceededError, StoreRejectedError } from '../errors';
import type { Channels } from './channels';
import { StoreLink } from './link';
import type { MasterSource } from './masters';
import { SeqMap } from '@hawser/broker';

/** What every session of one gateway shares. */
export interface SessionContext {
  config: Config;
  metrics: GatewayMetrics;
  channels: Channels;
  source: MasterSource;
  gatewayId: string;
}

/** A delivery as the adapter writes it to its client. */
export interface ClientDelivery {
  subscriptionId: string;
  message: Message;
  /** What the client acks with: unique within this session across masters. */
  tag: number;
  redelivered: boolean;
  deliveryCount: number;
  /** Auto-ack subscriptions only: call once the delivery is on the wire to the client. */
  written?: () => void;
}

export interface ClientSessionEvents {
  /** The master opened the session ('' while the session waits for a master). */
  onOpened(sessionId: string): void;
  /** A request the client asked to be confirmed is done. */
  onReceipt(receipt: string): void;
  onDelivery(d: ClientDelivery): void;
  /** The store refused a request; `receipt` names it when the client asked for one. The session is over unless `err.fatal` is false. */
  onRefused(err: StoreRejectedError, receipt: string | undefined): void;
  /** The session cannot go on (no master in time, the store unavailable without failover). */
  onFatal(err: GatewayError): void;
  /** Stop / resume reading the client. */
  onBackpressure(): void;
  onDrain(): void;
}

/** Deliveries per session remembered to mark redeliveries after a failover (bounded memory). */
const RECENT_DELIVERIES = 4096;

/** A delivery the client holds (client and client-individual modes), by its client tag. */
interface Outstanding { subscriptionId: string; messageId: string; gen: number; storeTag: number }

/** An ACK/NACK with a receipt, by the message it settles ("<subscription>\0<message id>"). */
interface AckRequest { key: string; kind: 'ack' | 'nack'; transaction: string }

/** D2: an ACK/NACK of a gone master's delivery, waiting for the message to come again to this session. */
interface HeldAck extends AckRequest { receipt: string; timer: NodeJS.Timeout }

export class ClientSession {
  private link: StoreLink | undefined;
  /** Store session the last event came from, and the client-tag offset of its deliveries. */
  private gen = 0;
  private tagBase = 0;
  private maxTag = 0;
  /**
   * Failover: "<subscription>\0<message id>" of the last RECENT deliveries of this session, and,
   * after a move, those of the previous one. A message the client already got once comes
   * again marked redelivered even when the new master cannot know it was delivered (the
   * delivery was not replicated, or the client's ack was lost) — as ActiveMQ's consumer marks
   * previously delivered messages after a failover.
   */
  private recent: string[] = [];
  private recentAt = 0;
  private previouslyDelivered: Set<string> | undefined;
  private nextRequestId = 1;
  /** requestId -> the client's receipt token */
  private readonly receipts = new SeqMap<string>();
  private readonly subscriptions = new Map<string, AckMode>();
  /** Transactions begun and not yet committed or aborted (limits.maxTransactions). */
  private readonly transactions = new Set<string>();
  private readonly outstanding = new SeqMap<Outstanding>();
  /**
   * Redeliveries (by client tag -> subscription) already settled through an ACK/NACK of the
   * previous master's delivery of the same message: the client may still settle them itself.
   */
  private readonly settledLive = new Map<number, string>();
  /** Message id -> client tags (one per subscription it went to): protocols that ack by message id. */
  private readonly byMessageId = new Map<string, number[]>();
  /** ACK/NACKs sent with a receipt not yet answered, by requestId: a move may leave them in doubt. */
  private readonly ackRequests = new SeqMap<AckRequest>();
  /**
   * ACK/NACKs (with a receipt) of deliveries of a master that is gone, by message key: their
   * receipt waits for the message to come again to this session, whose delivery is then settled
   * instead — or for failover.ackWaitMs, then an ERROR (docs/reliability.md D2).
   */
  private readonly heldAcks = new Map<string, HeldAck>();
  private ended = false;
  /**
   * limits.producerWindow: requestIds of SENDs the store has not confirmed. Every SEND asks for
   * a receipt (the gateway's own when the client wants none), so a producer the store holds
   * for room (producer flow control) stops being read here, receipts or not.
   */
  private readonly unconfirmed = new Set<number>();
  private windowFull = false;
  /** The link asked to stop reading the client (its stream is full, or no master). */
  private linkFull = false;
  private readingPaused = false;

  constructor(private readonly ctx: SessionContext, private readonly log: Logger, private readonly events: ClientSessionEvents) {}

  get failover(): boolean { return this.ctx.source.failover; }

  /**
   * Opens the session. With failover (the topology names the master) the session reaches a
   * master only with the client's first request: an idle connection costs the stores nothing,
   * and the client is told it is connected at once, as it is while a group elects. Without
   * failover (one fixed store) it opens at once, so a store that is down fails the connect.
   */
  open(connectionId: string, clientId: string, principal: Principal): void {
    this.principal = principal;
    this.openArgs = { connectionId, clientId, login: principal.login, groups: [...principal.groups], gateway: this.ctx.gatewayId };
    if (this.failover) this.events.onOpened('');
    else this.ensureLink();
  }

  private openArgs: Open | undefined;
  /** Who this session is (set at open): the stores authorize every request against it. */
  principal: Principal | undefined;

  /** The link to the master, opened with the first request that needs one. */
  private ensureLink(): StoreLink {
    if (this.link) return this.link;
    const c = this.ctx.config;
    this.link = new StoreLink({
      channels: this.ctx.channels,
      source: this.ctx.source,
      metrics: this.ctx.metrics,
      openTimeoutMs: c.store.openTimeout,
      maxWaitMs: c.failover.maxWaitMs,
      resendTimeoutMs: c.failover.resendTimeoutMs,
      maxWaitingFrames: c.failover.maxWaitingFrames,
    }, this.log, {
      onEvent: (ev, gen) => this.guard(() => this.onStoreEvent(ev, gen)),
      onFailure: (why) => {
        this.ctx.metrics.storeFailures.inc();
        this.log.warn({ err: why }, 'store stream failed');
        this.events.onFatal(new GatewayError('BROKER_UNAVAILABLE', `broker unavailable: ${why}`));
      },
      onFatal: (err) => this.events.onFatal(err),
      // No master at open (or the first one refused): the client is connected to the gateway
      // all the same; its requests wait for a master like any others.
      onWaiting: () => this.events.onOpened(''),
      onAckInDoubt: (requestId) => this.guard(() => this.ackInDoubt(requestId)),
      onBackpressure: () => { this.linkFull = true; this.updateReading(); },
      onDrain: () => { this.linkFull = false; this.updateReading(); },
    });
    this.link.open(this.openArgs!);
    return this.link;
  }

  /**
   * Runs what a store event makes happen (the adapter writing a frame, a packet). It is called
   * from a channel shared by every session (one gRPC stream per store, or the store's own
   * dispatch in-process): a bug in one client's handling must end that client, not the
   * gateway and everyone on it. Found by tools/fuzz: a header the client's version could not
   * carry threw here and the process exited.
   */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.log.error({ err: e }, 'unexpected error handling a store event: closing this client');
      try {
        this.events.onFatal(new GatewayError('INTERNAL', 'internal error'));
      } catch (e2) {
        this.log.error({ err: e2 }, 'unexpected error closing the client after an internal error');
      }
    }
  }

  /**
   * A requestId when the client asked for a receipt (any request may). With `always` (SEND,
   * COMMIT, ABORT) and failover on, one anyway: the store's receipt tells the replay log the
   * request is done and need not be resent to a new master.
   */
  private requestId(receipt: string | undefined, always = false): number {
    if (receipt === undefined) return always && this.failover ? this.nextRequestId++ : 0;
    const id = this.nextRequestId++;
    this.receipts.set(id, receipt);
    return id;
  }

  send(message: Message, transaction: string, receipt?: string): void {
    const window = this.ctx.config.limits.producerWindow;
    let id = this.requestId(receipt, true);
    if (window > 0) {
      if (id === 0) id = this.nextRequestId++;
      this.unconfirmed.add(id);
      if (!this.windowFull && this.unconfirmed.size >= window) {
        this.windowFull = true;
        this.updateReading();
      }
    }
    this.ensureLink().request('send', { message, transaction }, id);
  }

  /** A SEND of the window was answered (receipt or error). */
  private confirmed(requestId: number): void {
    if (!this.unconfirmed.delete(requestId) || !this.windowFull) return;
    if (this.unconfirmed.size <= this.ctx.config.limits.producerWindow / 2) {
      this.windowFull = false;
      this.updateReading();
    }
  }

  /** Stop / resume reading the client: the link's reasons and the producer window's together. */
  private updateReading(): void {
    const pause = this.linkFull || this.windowFull;
    if (pause === this.readingPaused) return;
    this.readingPaused = pause;
    if (pause) this.events.onBackpressure();
    else this.events.onDrain();
  }

  subscribe(sub: Subscribe, receipt?: string): void {
    const max = this.ctx.config.limits.maxSubscriptions;
    if (!this.subscriptions.has(sub.subscriptionId) && this.subscriptions.size >= max) {
      throw new LimitExceededError('limits.maxSubscriptions', `too many subscriptions: this connection holds ${max}, the most allowed (limits.maxSubscriptions); UNSUBSCRIBE one first, or raise limits.maxSubscriptions`);
    }
    this.subscriptions.set(sub.subscriptionId, sub.ackMode);
    this.ensureLink().request('subscribe', sub, this.requestId(receipt));
  }

  unsubscribe(subscriptionId: string, removeDurable: boolean, receipt?: string): void {
    this.subscriptions.delete(subscriptionId);
    // Nothing of this subscription comes again: held acks of it cannot be confirmed.
    for (const [key, h] of this.heldAcks) if (key.startsWith(`${subscriptionId}\0`)) this.refuseHeld(h, `the subscription ${subscriptionId} was closed before the message came again`);
    // The store takes back what this subscription had not acked; forget those tags.
    for (const [tag, o] of this.outstanding) if (o.subscriptionId === subscriptionId) this.forget(tag);
    for (const [tag, s] of this.settledLive) if (s === subscriptionId) this.settledLive.delete(tag);
    this.ensureLink().request('unsubscribe', { subscriptionId, removeDurable }, this.requestId(receipt));
  }

  transaction(kind: 'begin' | 'commit' | 'abort', transaction: string, receipt?: string): void {
    if (kind === 'begin') {
      const max = this.ctx.config.limits.maxTransactions;
      if (!this.transactions.has(transaction) && this.transactions.size >= max) {
        throw new LimitExceededError('limits.maxTransactions', `too many open transactions: this connection has ${max} open, the most allowed (limits.maxTransactions); COMMIT or ABORT one first, or raise limits.maxTransactions`);
      }
      this.transactions.add(transaction);
    } else this.transactions.delete(transaction);
    this.ensureLink().request(kind, { transaction }, this.requestId(receipt, kind !== 'begin'));
  }

  /** Ends the session on the master; the receipt (if asked) comes once it has settled. */
  close(receipt?: string): void {
    for (const h of [...this.heldAcks.values()]) this.refuseHeld(h, 'the session was closed before the message came again');
    if (!this.link) {
      // Never reached a master: nothing to settle there.
      if (receipt !== undefined) this.events.onReceipt(receipt);
      return;
    }
    this.link.request('close', {}, this.requestId(receipt));
  }

  /** Requests whose receipt the client asked for and the store has not sent yet (limits.maxPendingReceipts). */
  get pendingReceipts(): number { return this.receipts.size; }

  /** Whether `tag` names a delivery the client holds. */
  holds(tag: number): boolean { return this.outstanding.has(tag) || this.settledLive.has(tag); }

  /**
   * The tags of the deliveries of `messageId` the client holds (on `subscriptionId` if given),
   * the live session's first: after a failover the same message may be held twice.
   */
  tagsOf(messageId: string, subscriptionId?: string): number[] {
    const tags = (this.byMessageId.get(messageId) ?? []).filter((t) => subscriptionId === undefined || this.outstanding.get(t)?.subscriptionId === subscriptionId);
    return tags.sort((a, b) => Number(this.outstanding.get(b)!.gen === this.gen) - Number(this.outstanding.get(a)!.gen === this.gen));
  }

  /**
   * ACK or NACK the delivery the client knows as `tag` (it must hold it: see holds/tagsOf).
   * A delivery of a previous master's session means nothing to the new one: if the message
   * came again, its redelivery is settled instead; if not, the ack cannot take now. Without a
   * receipt it is dropped (the message will come again and the client settles that). With
   * one, it is held (client-individual) until the message comes again to this session, which
   * is then settled in its place and receipted; if it does not come within failover.ackWaitMs
   * (it went to another consumer), or in client (cumulative) mode, the receipt is answered
   * with ERROR ACK_NOT_CONFIRMED: a client is never told an ack took when it did not (D2).
   * That is `strict` (STOMP: a client reads a RECEIPT as "the ack took"). Not strict (MQTT's
   * session records, whose removal is redone when a record comes again): dropped and
   * receipted, as before.
   */
  settle(kind: 'ack' | 'nack', tag: number, transaction: string, receipt?: string, strict = false): void {
    if (this.settledLive.delete(tag)) {
      // Already settled through the previous master's delivery of the same message (below).
      if (receipt !== undefined) this.events.onReceipt(receipt);
      return;
    }
    const held = this.outstanding.get(tag);
    if (!held) throw new GatewayError('UNKNOWN_DELIVERY', `${kind.toUpperCase()} for unknown delivery ${tag}`);
    const sub = held.subscriptionId;
    // The link's session, not the last one heard from: a move opens the new session at once,
    // and until its first event comes a delivery of the old one must not be settled as live —
    // its store tag would name whatever the new master numbered so (docs/reliability.md D10).
    const current = this.link?.gen ?? this.gen;
    let live: number | undefined = held.gen === current ? tag : undefined;
    if (live === undefined) {
      for (const [t, o] of this.outstanding) {
        if (o.gen === current && o.messageId === held.messageId && o.subscriptionId === sub) { live = t; break; }
      }
      this.log.debug({ kind, tag, messageId: held.messageId, mappedTo: live }, live === undefined
        ? 'ACK/NACK for a delivery of the previous master dropped: the message will be redelivered'
        : 'ACK/NACK for a delivery of the previous master mapped to its redelivery');
    }
    const liveStoreTag = live === undefined ? 0 : this.outstanding.get(live)!.storeTag;
    if (live !== undefined && live !== tag) {
      // The client holds the redelivery too and will settle it as well (client-individual
      // clients ack every message they get): that second ACK/NACK is answered, not refused.
      if (this.settledLive.size >= RECENT_DELIVERIES) this.settledLive.delete(this.settledLive.keys().next().value!);
      this.settledLive.set(live, sub);
    }
    // Client mode is cumulative (broker.proto AckMode): acking T settles every earlier delivery too.
    if (kind === 'ack' && this.subscriptions.get(sub) === 'ACK_MODE_CLIENT') {
      for (const [t, o] of this.outstanding) if ((t <= tag || (live !== undefined && t <= live)) && o.subscriptionId === sub) this.forget(t);
    } else {
      this.forget(tag);
      if (live !== undefined) this.forget(live);
    }
    if (live === undefined) {
      if (receipt === undefined) return;
      if (!strict) { this.events.onReceipt(receipt); return; }
      const key = `${sub}\0${held.messageId}`;
      if (this.subscriptions.get(sub) === 'ACK_MODE_CLIENT_INDIVIDUAL') this.hold({ key, kind, transaction, receipt });
      else this.events.onRefused(new AckNotConfirmedError(`${kind.toUpperCase()} of message ${held.messageId} not confirmed: it was delivered by a master that is gone, and a cumulative (ack:client) acknowledgement cannot be carried over; the message will be delivered again: acknowledge that delivery`), receipt);
      return;
    }
    this.sendSettle(kind, liveStoreTag, transaction, receipt, strict ? `${sub}\0${held.messageId}` : undefined);
  }

  /** ACK/NACK of a live delivery; a strict one (`key`) with a receipt is remembered until answered (a move may leave it in doubt). */
  private sendSettle(kind: 'ack' | 'nack', storeTag: number, transaction: string, receipt: string | undefined, key: string | undefined): void {
    const id = this.requestId(receipt);
    if (id && key !== undefined && this.failover) this.ackRequests.set(id, { key, kind, transaction });
    this.ensureLink().request(kind, { deliveryTag: storeTag, transaction }, id);
  }

  /** The store that had this ACK/NACK is gone without answering it (StoreLink onAckInDoubt). */
  private ackInDoubt(requestId: number): void {
    const a = this.ackRequests.get(requestId);
    const receipt = this.receipts.get(requestId);
    this.ackRequests.delete(requestId);
    this.receipts.delete(requestId);
    if (receipt === undefined) return;
    if (!a) { this.events.onReceipt(receipt); return; } // not strict: answered as before
    if (this.subscriptions.get(a.key.slice(0, a.key.indexOf('\0'))) !== 'ACK_MODE_CLIENT_INDIVIDUAL') {
      this.events.onRefused(new AckNotConfirmedError('acknowledgement not confirmed: the master that had it is gone without answering; if the message is delivered again, acknowledge that delivery'), receipt);
      return;
    }
    this.hold({ ...a, receipt });
  }

  /** Holds an ACK/NACK's receipt until the message comes again (deliver()) or failover.ackWaitMs passes. */
  private hold(a: AckRequest & { receipt: string }): void {
    const before = this.heldAcks.get(a.key);
    if (before) this.refuseHeld(before, 'a later acknowledgement of the same message replaced it');
    const ms = this.ctx.config.failover.ackWaitMs;
    const h: HeldAck = {
      ...a,
      timer: setTimeout(() => {
        if (this.heldAcks.get(a.key) === h) this.refuseHeld(h, `the message did not come again to this session within ${ms} ms (failover.ackWaitMs): it may have gone to another consumer`);
      }, ms),
    };
    h.timer.unref();
    this.heldAcks.set(a.key, h);
    this.log.debug({ kind: a.kind, key: a.key, waitMs: ms }, 'ACK/NACK of a delivery of a previous master held until the message comes again');
  }

  private refuseHeld(h: HeldAck, why: string): void {
    clearTimeout(h.timer);
    if (this.heldAcks.get(h.key) !== h) return; // answered already
    this.heldAcks.delete(h.key);
    const id = h.key.slice(h.key.indexOf('\0') + 1);
    this.events.onRefused(new AckNotConfirmedError(`${h.kind.toUpperCase()} of message ${id} not confirmed: it named a delivery of a master that is gone and ${why}; if the message is delivered again, acknowledge that delivery`), h.receipt);
  }

  pause(): void { this.link?.pause(); }
  resume(): void { this.link?.resume(); }

  /** The client is gone or done: the master takes back what it had not acked. Idempotent. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    // Their receipts cannot be confirmed now (the adapter writes the ERRORs if it still can).
    for (const h of [...this.heldAcks.values()]) this.refuseHeld(h, 'the session ended before the message came again');
    this.link?.end();
  }

  // ---- events from the master -------------------------------------------------------------

  private onStoreEvent(ev: SessionEvent, gen: number): void {
    if (this.ended) return;
    if (gen !== this.gen) {
      // A new store session (failover): its delivery tags start again at 1; shift them past
      // every tag the client has seen.
      this.gen = gen;
      this.tagBase = this.maxTag;
      if (gen > 1) this.previouslyDelivered = new Set([...this.previouslyDelivered ?? [], ...this.recent]);
      this.recent = [];
      this.recentAt = 0;
    }
    switch (ev.kind) {
      case 'opened': return this.events.onOpened(ev.opened.sessionId);
      case 'receipt': {
        if (this.unconfirmed.size) this.confirmed(ev.receipt.requestId);
        if (this.ackRequests.size) this.ackRequests.delete(ev.receipt.requestId);
        const receipt = this.receipts.get(ev.receipt.requestId);
        if (receipt === undefined) return;
        this.receipts.delete(ev.receipt.requestId);
        return this.events.onReceipt(receipt);
      }
      case 'delivery': return this.deliver(ev.delivery);
      case 'error': {
        // The store refused something (or ended the session): the client hears it as an
        // error answering the request that asked for a receipt, with the store's code.
        if (this.unconfirmed.size) this.confirmed(ev.error.requestId);
        if (this.ackRequests.size) this.ackRequests.delete(ev.error.requestId);
        const err = new StoreRejectedError(ev.error.code || 'STORE_ERROR', ev.error.message || 'the store refused the request', ev.error.fatal !== false);
        const receipt = this.receipts.get(ev.error.requestId);
        this.receipts.delete(ev.error.requestId);
        return this.events.onRefused(err, receipt);
      }
    }
  }

  private deliver(d: Delivery): void {
    const ackMode = this.subscriptions.get(d.subscriptionId);
    if (!ackMode) {
      // Raced with an unsubscribe: the store takes the delivery back with the subscription.
      this.log.debug({ subscriptionId: d.subscriptionId, deliveryTag: d.deliveryTag }, 'delivery for a closed subscription dropped');
      return;
    }
    const m = d.message;
    let redelivered = d.redelivered;
    let deliveryCount = d.deliveryCount || 1;
    if (this.failover) {
      const key = `${d.subscriptionId}\0${m.id}`;
      if (this.previouslyDelivered?.delete(key)) {
        redelivered = true;
        deliveryCount = Math.max(deliveryCount, 2);
        if (this.previouslyDelivered.size === 0) this.previouslyDelivered = undefined;
      }
      this.recent[this.recentAt] = key;
      this.recentAt = (this.recentAt + 1) % RECENT_DELIVERIES;
    }
    const tag = this.tagBase + d.deliveryTag;
    if (tag > this.maxTag) this.maxTag = tag;
    if (this.heldAcks.size && ackMode !== 'ACK_MODE_AUTO') {
      const key = `${d.subscriptionId}\0${m.id}`;
      const h = this.heldAcks.get(key);
      if (h) {
        // D2: the client already acked (nacked) this message on a gone master and waits for the
        // receipt: this delivery is settled in its place, and the client does not get it again.
        clearTimeout(h.timer);
        this.heldAcks.delete(key);
        this.log.debug({ kind: h.kind, key }, 'held ACK/NACK of a previous master\'s delivery settles its redelivery');
        this.sendSettle(h.kind, d.deliveryTag, h.transaction, h.receipt, key);
        return;
      }
    }
    const out: ClientDelivery = { subscriptionId: d.subscriptionId, message: m, tag, redelivered, deliveryCount };
    if (ackMode === 'ACK_MODE_AUTO') {
      // Auto ack: the store may forget the message once it is on the wire to the client.
      const storeTag = d.deliveryTag;
      const gen = this.gen;
      out.written = () => { if (!this.ended) this.link?.requestOn(gen, 'ack', { deliveryTag: storeTag, transaction: '' }); };
    } else {
      this.outstanding.set(tag, { subscriptionId: d.subscriptionId, messageId: m.id, gen: this.gen, storeTag: d.deliveryTag });
      const tags = this.byMessageId.get(m.id);
      if (tags) tags.push(tag);
      else this.byMessageId.set(m.id, [tag]);
    }
    this.events.onDelivery(out);
  }

  private forget(tag: number): void {
    const o = this.outstanding.get(tag);
    if (!o) return;
    this.outstanding.delete(tag);
    const tags = this.byMessageId.get(o.messageId);
    if (!tags) return;
    const rest = tags.filter((t) => t !== tag);
    if (rest.length) this.byMessageId.set(o.messageId, rest);
    else this.byMessageId.delete(o.messageId);
  }
}
