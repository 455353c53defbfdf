// The failover connection: ActiveMQ's failover transport for our STOMP client. It holds one
// StompClient at a time and, when that connection drops, dials again as the pure
// ReconnectSchedule (reconnect.ts) decides; on the new connection it re-subscribes every
// subscription (same ids, ack modes, selectors, durable names) and resends every SEND that
// had no RECEIPT yet with the SAME message-id header, so the broker drops the duplicates
// (docs/architecture.md: clients list several gateways in a failover:(...) URI).
//
// What the application sees: Subscriptions and send() promises that survive reconnects;
// 'reconnecting' / 'reconnected' events; messages that were not acked come again
// (redelivered); a typed error once the schedule gives up (ReconnectFailedError), when a send
// waited longer than `timeout` while disconnected (FailoverTimeoutError), or when a
// transaction spanned a reconnect (TransactionRolledBackError).
//
// Messages and a lost connection (docs/reliability.md D10): when a connection goes, the
// messages it delivered into a client-ack subscription's buffer that the application has not
// taken yet are dropped ('discarded' event, `discarded` counters): the broker took them back
// and redelivers them, marked, on the new connection or to another consumer — as ActiveMQ's
// failover transport clears its consumers' prefetch on a transport interruption. A message the
// application took already cannot be acked any more (its connection is gone): ack()/nack()
// with a receipt (the default) reject with AckNotConfirmedError (`sent: false`); without a
// receipt they resolve having sent nothing (`acksDropped`). An ack with a receipt resolves
// only on the RECEIPT of the connection that delivered the message, so it is a confirmed ack.
// ack:'auto' subscriptions keep their buffer (the broker forgot those messages when it sent them).
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { StompClient, type Body, type ConnectOptions, type DisconnectOptions, type SendOptions, type SubscribeOptions } from './client';
import {
  AckNotConfirmedError, ConnectionClosedError, FailoverTimeoutError, InvalidStateError, ReceiptTimeoutError, ReconnectFailedError,
  StompClientError, StompServerError, TransactionRolledBackError,
} from './errors';
import { ReconnectSchedule, type ReconnectAction } from './reconnect';
import { Message, Subscription, type AckOptions, type SubscriptionHost, type UnsubscribeOptions } from './subscription';
import { SendWindow, Transaction, type TransactionHost } from './transaction';
import { parseFailover, parseTarget, FAILOVER_DEFAULTS, type Endpoint, type FailoverOptions } from './uri';

export interface FailoverConnectOptions extends ConnectOptions {
  /** Overrides of the URI's failover options. */
  failover?: Partial<FailoverOptions>;
  /** Random source for `randomize` (tests). */
  random?: () => number;
}

export interface ReconnectingInfo {
  /** The URI that was lost or failed to dial. */
  uri: string;
  /** Reconnect pass (1 = the first after the loss). */
  pass: number;
  /** Wait before the next pass, when the last one failed. */
  delayMs?: number;
  error?: Error;
}

export interface ReconnectedInfo {
  uri: string;
  /** Subscriptions made again and SENDs resent on the new connection. */
  resubscribed: number;
  resent: number;
  /** true when priorityBackup moved us back to the priority URI. */
  priority: boolean;
}

/** Buffered messages dropped untaken at a connection loss or move (their acks could not reach the broker). */
export interface DiscardedInfo {
  /** The connection they came on. */
  uri: string;
  subscription: string;
  destination: string;
  count: number;
}

export interface FailoverEvents {
  reconnecting: [info: ReconnectingInfo];
  discarded: [info: DiscardedInfo];
  reconnected: [info: ReconnectedInfo];
  error: [error: StompClientError];
  close: [error: StompClientError | undefined];
}

export interface FailoverClient {
  on<E extends keyof FailoverEvents>(event: E, listener: (...args: FailoverEvents[E]) => void): this;
  once<E extends keyof FailoverEvents>(event: E, listener: (...args: FailoverEvents[E]) => void): this;
  off<E extends keyof FailoverEvents>(event: E, listener: (...args: FailoverEvents[E]) => void): this;
}

interface PendingSend {
  destination: string;
  body: Body;
  options: SendOptions;
  messageId: string;
  /** Connection generation it was last written on (-1: not written on the current one). */
  gen: number;
  timer?: NodeJS.Timeout;
  resolve(): void;
  reject(e: Error): void;
}

interface SubRecord {
  sub: Subscription;
  options: SubscribeOptions & { id: string };
  destination: string;
  inner?: Subscription;
  gen: number;
  ready?: { resolve(): void; reject(e: Error): void; timer?: NodeJS.Timeout };
  /** Message ids delivered on the current connection and not acked yet (bounded, oldest dropped). */
  unacked: Set<string>;
  /**
   * Those of earlier connections: if one comes again it is marked redelivered, even when the
   * broker cannot know it was delivered (the node that delivered it died with its memory) —
   * as ActiveMQ's consumer marks previously delivered messages after a failover.
   */
  previous: Set<string>;
}

/** Unacked message ids remembered per subscription for the redelivered mark. */
const MAX_TRACKED = 10_000;

/** Where a message handed to the application came from (its ack goes there, or nowhere). */
interface Origin { client: StompClient; message: Message }

/**
 * An ERROR frame that answers the operation itself (it names the operation's receipt): the
 * broker refused it. An ERROR without a receipt-id ("server shutting down", a heart-beat
 * timeout) closes the connection under every pending operation and says nothing of them: for
 * those it is a connection failure, their outcome unknown (a COMMIT the master already took
 * is not "failed").
 */
function answers(err: unknown): err is StompServerError {
  return err instanceof StompServerError && err.receiptId !== undefined;
}

/** Connects with a failover URI (a plain URI works too: a list of one). Resolves once connected. */
export async function connectFailover(uri: string, options: FailoverConnectOptions = {}): Promise<FailoverClient> {
  const target = /^\s*failover:/i.test(uri) ? parseFailover(uri) : { ...parseTarget(uri), failover: { ...FAILOVER_DEFAULTS, priorityURIs: [] } };
  const client = new FailoverClient(target.endpoints, { ...target.failover!, ...options.failover }, options);
  await client.start();
  return client;
}

export class FailoverClient extends EventEmitter implements SubscriptionHost, TransactionHost {
  readonly endpoints: readonly Endpoint[];
  readonly failover: Readonly<FailoverOptions>;
  private readonly connectOptions: ConnectOptions;
  private readonly schedule: ReconnectSchedule;
  private inner: StompClient | undefined;
  private innerEndpoint = -1;
  private state: 'connecting' | 'connected' | 'reconnecting' | 'closing' | 'closed' = 'connecting';
  private gen = 0;
  private readonly pending: PendingSend[] = [];
  private readonly subs = new Map<string, SubRecord>();
  private readonly origins = new WeakMap<Message, Origin>();
  private readonly prefix = randomUUID();
  private counter = 0;
  private timer: NodeJS.Timeout | undefined;
  private started: { resolve(): void; reject(e: Error): void } | undefined;
  private closeError: StompClientError | undefined;
  private lastError: Error | undefined;
  private readonly closedPromise: Promise<void>;
  private markClosed!: () => void;
  /** Reconnects done so far. */
  reconnects = 0;
  /** Buffered messages dropped untaken because their connection went (all subscriptions; see 'discarded'). */
  discarded = 0;
  /** ack()/nack() without a receipt of a message whose connection was gone: nothing was sent. */
  acksDropped = 0;

  constructor(endpoints: readonly Endpoint[], failover: FailoverOptions, options: FailoverConnectOptions = {}) {
    super();
    this.endpoints = endpoints;
    this.failover = failover;
    const { failover: _f, random, ...connectOptions } = options;
    this.connectOptions = connectOptions;
    this.schedule = new ReconnectSchedule(endpoints, failover, random);
    this.closedPromise = new Promise((r) => { this.markClosed = r; });
  }

  /** Connected right now (false while reconnecting). */
  get connected(): boolean { return this.state === 'connected'; }
  /** The connection in use (undefined while reconnecting). */
  get current(): StompClient | undefined { return this.inner; }
  /** The URI in use. */
  get uri(): string | undefined { return this.inner ? this.endpoints[this.innerEndpoint]?.uri : undefined; }
  /** SENDs waiting for a RECEIPT (resent after a reconnect). */
  get unreceipted(): number { return this.pending.length; }

  /** @internal connectFailover() */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.started = { resolve, reject };
      this.run(this.schedule.start());
    });
  }

  // ---- the schedule's actions --------------------------------------------------------------

  private run(action: ReconnectAction): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    switch (action.type) {
      case 'dial':
        void this.dial(action.endpoint);
        return;
      case 'wait':
        this.emit('reconnecting', { uri: this.endpoints.map((e) => e.uri).join(','), pass: this.schedule.failures, delayMs: action.ms, error: this.lastError });
        this.timer = setTimeout(() => this.run(this.schedule.waited()), action.ms);
        return;
      case 'give-up': {
        const uris = this.endpoints.map((e) => e.uri).join(', ');
        const err = new ReconnectFailedError(
          `could not ${this.gen === 0 ? 'connect' : 'reconnect'} to any of ${uris} after ${action.passes} attempt(s)${this.lastError ? `: ${this.lastError.message}` : ''}`,
          action.passes, { cause: this.lastError });
        this.close(err);
        return;
      }
      case 'probe':
        this.timer = setTimeout(() => void this.probe(action.endpoint), action.ms);
        return;
      case 'idle':
        return;
    }
  }

  private async dial(endpoint: number): Promise<void> {
    const e = this.endpoints[endpoint]!;
    let client: StompClient;
    try {
      client = await StompClient.dial(e, this.connectOptions);
    } catch (err) {
      this.lastError = err as Error;
      if (this.state === 'closing' || this.state === 'closed') return;
      this.run(this.schedule.dialFailed());
      return;
    }
    if (this.state === 'closing' || this.state === 'closed') { client.destroy(); return; }
    this.attach(client, endpoint, false);
  }

  /** priorityBackup: the priority URI answers again: move there (gracefully leaving the other). */
  private async probe(endpoint: number): Promise<void> {
    let client: StompClient;
    try {
      client = await StompClient.dial(this.endpoints[endpoint]!, this.connectOptions);
    } catch {
      if (this.state === 'connected') this.run(this.schedule.probeFailed());
      return;
    }
    if (this.state !== 'connected') { client.destroy(); return; }
    const old = this.inner!;
    const oldUri = this.uri ?? '';
    // Detach first so the old connection's close is not a failure; sends still in flight
    // there either get their receipt before the DISCONNECT receipt, or are resent (same id).
    this.emitDiscarded(oldUri, this.detach());
    this.state = 'reconnecting';
    await old.disconnect({ timeoutMs: 2_000 }).catch(() => old.destroy());
    if (this.state !== 'reconnecting') { client.destroy(); return; }
    this.attach(client, endpoint, true);
  }

  private attach(client: StompClient, endpoint: number, priority: boolean): void {
    const first = this.gen === 0;
    const gen = ++this.gen;
    this.inner = client;
    this.innerEndpoint = endpoint;
    // An error (an ERROR frame, a heart-beat or protocol failure) dooms the connection: handle
    // the loss now, not at the socket's close a few ticks later, so the application cannot take
    // a message of that connection's buffer in between (its ack would go nowhere).
    client.on('error', (err) => this.onInnerClosed(client, err));
    client.once('close', (err) => this.onInnerClosed(client, err));
    if (!client.connected) { this.onInnerClosed(client, undefined); return; }
    this.state = 'connected';
    let resubscribed = 0;
    for (const rec of this.subs.values()) { this.subscribeOn(client, gen, rec); resubscribed++; }
    let resent = 0;
    for (const p of [...this.pending]) { this.sendOn(client, gen, p); resent++; }
    if (first) {
      this.started?.resolve();
      this.started = undefined;
    } else {
      this.reconnects++;
      this.emit('reconnected', { uri: this.endpoints[endpoint]!.uri, resubscribed, resent, priority });
    }
    this.run(this.schedule.connected(endpoint));
  }

  /**
   * Forget the current connection (its late events are ignored). With `discard`, drop what it
   * delivered into client-ack subscriptions that the application has not taken yet: the broker
   * takes those back with the connection (their acks would go nowhere) and redelivers them.
   * Returns the counts dropped per subscription.
   */
  private detach(discard = true): Array<{ rec: SubRecord; count: number }> {
    clearTimeout(this.timer);
    const old = this.inner;
    this.inner = undefined;
    this.innerEndpoint = -1;
    const dropped: Array<{ rec: SubRecord; count: number }> = [];
    for (const rec of this.subs.values()) {
      rec.inner = undefined;
      for (const id of rec.unacked) remember(rec.previous, id);
      rec.unacked.clear();
      if (!discard || !old || rec.sub.ack === 'auto') continue;
      const count = rec.sub._discard((m) => this.origins.get(m)?.client === old);
      if (count > 0) { this.discarded += count; dropped.push({ rec, count }); }
    }
    return dropped;
  }

  private emitDiscarded(uri: string, dropped: Array<{ rec: SubRecord; count: number }>): void {
    for (const { rec, count } of dropped) this.emit('discarded', { uri, subscription: rec.options.id, destination: rec.destination, count });
  }

  private onInnerClosed(client: StompClient, err: StompClientError | undefined): void {
    if (client !== this.inner) return;
    const uri = this.endpoints[this.innerEndpoint]?.uri ?? '';
    const closing = this.state === 'closing' || this.state === 'closed';
    const dropped = this.detach(!closing);
    if (closing) return;
    this.state = 'reconnecting';
    this.lastError = err;
    for (const p of this.pending) { p.gen = -1; this.armTimeout(p); }
    for (const rec of this.subs.values()) if (rec.ready) this.armSubscribeTimeout(rec);
    this.emit('reconnecting', { uri, pass: 1, error: err });
    this.emitDiscarded(uri, dropped);
    this.run(this.schedule.lost());
  }

  // ---- sends ---------------------------------------------------------------------------------

  /**
   * SEND with failover: resolves on the RECEIPT, from this connection or a later one (the
   * message is resent with the same message-id after a reconnect, so the broker stores it once).
   * Every failover send asks for a receipt (that is how it knows what to resend); `receipt: false`
   * is ignored. Inside a transaction it is not resent: the transaction is rolled back instead.
   */
  send(destination: string, body: Body = '', options: SendOptions = {}): Promise<void> {
    if (this.state === 'closing' || this.state === 'closed') return Promise.reject(this.closedError('send'));
    if (options.transaction !== undefined) return this.sendInTransaction(destination, body, options);
    const given = options.headers?.['message-id'];
    const messageId = given === undefined ? `${this.prefix}-${++this.counter}` : String(given);
    const opts: SendOptions = { ...options, receipt: true, headers: { ...options.headers, 'message-id': messageId } };
    return new Promise<void>((resolve, reject) => {
      const p: PendingSend = { destination, body, options: opts, messageId, gen: -1, resolve, reject };
      this.pending.push(p);
      if (this.state === 'connected' && this.inner) this.sendOn(this.inner, this.gen, p);
      else this.armTimeout(p);
    });
  }

  private sendOn(client: StompClient, gen: number, p: PendingSend): void {
    p.gen = gen;
    if (p.timer) { clearTimeout(p.timer); p.timer = undefined; }
    const receiptId = `${this.prefix}-r${++this.counter}`;
    client.send(p.destination, p.body, { ...p.options, receiptId }).then(() => {
      this.settle(p);
      p.resolve();
    }, (err: Error) => {
      if (!this.pending.includes(p)) return;
      // An ERROR answering this very SEND (e.g. a bad destination) or a receipt that never
      // came on a live connection: the application must hear it. Anything else is the
      // connection going away: the send stays pending and goes out again after the reconnect.
      if ((err instanceof StompServerError && err.receiptId === receiptId) || err instanceof ReceiptTimeoutError) {
        this.settle(p);
        p.reject(err);
      }
    });
  }

  private settle(p: PendingSend): void {
    const i = this.pending.indexOf(p);
    if (i >= 0) this.pending.splice(i, 1);
    if (p.timer) clearTimeout(p.timer);
  }

  // ActiveMQ `timeout`: how long an operation may wait while disconnected.
  private armTimeout(p: PendingSend): void {
    const ms = this.failover.timeout;
    if (ms < 0 || p.timer) return;
    p.timer = setTimeout(() => {
      p.timer = undefined;
      if (p.gen !== -1 || !this.pending.includes(p)) return;
      this.settle(p);
      p.reject(new FailoverTimeoutError(`SEND to ${p.destination} (message-id ${p.messageId}) waited ${ms} ms for a connection (failover timeout)`));
    }, ms);
  }

  /** A send window over the failover connection (resends included). */
  pipeline(window: number): SendWindow { return new SendWindow(this, window); }

  sendPipelined(messages: Iterable<{ destination: string; body?: Body; options?: SendOptions }>, window: number): Promise<void>[] {
    const w = this.pipeline(window);
    return Array.from(messages, (m) => w.send(m.destination, m.body ?? '', m.options));
  }

  // ---- subscriptions ---------------------------------------------------------------------------

  /** SUBSCRIBE; the subscription is made again on every new connection. Resolves once in place. */
  subscribe(destination: string, options: SubscribeOptions = {}): Promise<Subscription> {
    if (this.state === 'closing' || this.state === 'closed') return Promise.reject(this.closedError(`subscribe to ${destination}`));
    const id = options.id ?? `sub-${++this.counter}`;
    if (this.subs.has(id)) return Promise.reject(new InvalidStateError(`subscription id '${id}' is already in use`));
    const rec: SubRecord = {
      sub: new Subscription(this, id, destination, options.ack ?? 'auto', options.durableName),
      options: { ...options, id, receipt: true },
      destination,
      gen: -1,
      unacked: new Set(),
      previous: new Set(),
    };
    this.subs.set(id, rec);
    return new Promise<Subscription>((resolve, reject) => {
      rec.ready = { resolve: () => resolve(rec.sub), reject };
      if (this.state === 'connected' && this.inner) this.subscribeOn(this.inner, this.gen, rec);
      else this.armSubscribeTimeout(rec);
    });
  }

  private subscribeOn(client: StompClient, gen: number, rec: SubRecord): void {
    rec.gen = gen;
    if (rec.ready?.timer) { clearTimeout(rec.ready.timer); rec.ready.timer = undefined; }
    const receiptId = `${this.prefix}-r${++this.counter}`;
    client.subscribe(rec.destination, { ...rec.options, receiptId }).then((inner) => {
      if (gen !== this.gen || this.subs.get(rec.options.id) !== rec) return;
      rec.inner = inner;
      const ready = rec.ready;
      rec.ready = undefined;
      ready?.resolve();
      void this.pump(client, rec, inner);
    }, (err: Error) => {
      if (err instanceof StompServerError && err.receiptId === receiptId) {
        // The broker refused it (bad selector, not allowed): it would fail on every connection.
        this.subs.delete(rec.options.id);
        rec.sub._end(err);
        const ready = rec.ready;
        rec.ready = undefined;
        ready?.reject(err);
      }
    });
  }

  private armSubscribeTimeout(rec: SubRecord): void {
    const ms = this.failover.timeout;
    if (ms < 0 || !rec.ready || rec.ready.timer) return;
    rec.ready.timer = setTimeout(() => {
      const ready = rec.ready;
      if (!ready || rec.inner) return;
      this.subs.delete(rec.options.id);
      const err = new FailoverTimeoutError(`SUBSCRIBE to ${rec.destination} waited ${ms} ms for a connection (failover timeout)`);
      rec.sub._end(err);
      rec.ready = undefined;
      ready.reject(err);
    }, ms);
  }

  /** Moves the messages of one connection's subscription into the application's subscription. */
  private async pump(client: StompClient, rec: SubRecord, inner: Subscription): Promise<void> {
    for (;;) {
      let m: Message;
      try {
        m = await inner.next();
      } catch {
        return; // unsubscribed, or that connection is gone (a new pump runs on the next one)
      }
      if (this.subs.get(rec.options.id) !== rec) return;
      if (client !== this.inner && rec.sub.ack !== 'auto') {
        // Still in that connection's buffer when it went: dropped as in detach().
        rec.sub.discarded++;
        this.discarded++;
        this.emit('discarded', { uri: client.endpoint.uri, subscription: rec.options.id, destination: rec.destination, count: 1 });
        continue;
      }
      const id = m.messageId;
      const again = rec.previous.size > 0 && rec.previous.delete(id) && !m.redelivered;
      remember(rec.unacked, id); // auto: never acked by the application, so the last MAX_TRACKED
      const frame = again ? { ...m.frame, headers: [...m.frame.headers.filter(([k]) => k !== 'redelivered'), ['redelivered', 'true'] as [string, string]] } : m.frame;
      const outer = new Message(frame, rec.sub, this, m.arrivedAt);
      this.origins.set(outer, { client, message: m });
      rec.sub._push(outer);
    }
  }

  /**
   * @internal Message.ack()/nack(): on the connection that delivered it. With a receipt (the
   * default) it resolves only on that connection's RECEIPT, and rejects with AckNotConfirmedError
   * when that connection is gone (nothing sent) or closes before the RECEIPT; without a receipt
   * such an ack resolves having sent nothing. Either way the broker redelivers the message.
   */
  async ackMessage(message: Message, kind: 'ACK' | 'NACK', options: AckOptions): Promise<void> {
    const origin = this.origins.get(message);
    if (options.transaction !== undefined) this.checkTransaction(options.transaction);
    if (message.subscription.ack === 'auto' && kind === 'ACK' && options.transaction === undefined) return;
    const receipt = options.receipt ?? true;
    if (!origin || origin.client !== this.inner || this.state !== 'connected') {
      // Delivered on a connection that is gone: the broker took it back and redelivers it.
      if (options.transaction !== undefined) throw this.rolledBack(options.transaction);
      if (!receipt) { this.acksDropped++; return; }
      throw new AckNotConfirmedError(
        `${kind} of message ${message.messageId} not sent: it came on a connection that is gone (failover); the broker redelivers it (redelivered: true)`,
        message.messageId, false);
    }
    try {
      await origin.client.ackMessage(origin.message, kind, options);
      // Settled (receipted, or written when no receipt was asked): no redelivered mark if it comes again.
      if (kind === 'ACK' && origin.client === this.inner) this.subs.get(message.subscription.id)?.unacked.delete(message.messageId);
    } catch (err) {
      if (answers(err) || err instanceof ReceiptTimeoutError || options.transaction !== undefined) throw err;
      // The connection died under the ack (or closed with an ERROR that did not answer it): it may or may not have taken; the message may come again, redelivered.
      if (!receipt) return;
      throw new AckNotConfirmedError(
        `${kind} of message ${message.messageId}: the connection closed before its RECEIPT; it may or may not have taken (the message may come again, redelivered)`,
        message.messageId, true, { cause: err });
    }
  }

  /** @internal Subscription.unsubscribe() */
  async unsubscribe(sub: Subscription, options: UnsubscribeOptions): Promise<void> {
    const rec = this.subs.get(sub.id);
    if (!rec || rec.sub !== sub) return;
    this.subs.delete(sub.id);
    try {
      if (rec.inner && this.inner && this.state === 'connected') await this.inner.unsubscribe(rec.inner, options);
    } catch (err) {
      if (err instanceof StompServerError) throw err;
    } finally {
      sub._end();
    }
  }

  // ---- transactions --------------------------------------------------------------------------

  private readonly transactions = new Map<string, number>();

  /** BEGIN on the current connection. If the connection changes before COMMIT, the work is rolled back. */
  begin(id = `tx-${this.prefix}-${++this.counter}`): Transaction {
    if (this.state === 'closing' || this.state === 'closed') throw this.closedError('begin a transaction');
    if (this.state === 'connected' && this.inner) {
      this.inner.begin(id);
      this.transactions.set(id, this.gen);
    } else {
      this.transactions.set(id, -1);
    }
    return new Transaction(this, id);
  }

  private checkTransaction(tx: { readonly id: string } | string): void {
    const id = typeof tx === 'string' ? tx : tx.id;
    const gen = this.transactions.get(id);
    if (gen === undefined || gen !== this.gen || this.state !== 'connected') throw this.rolledBack(id);
  }

  private rolledBack(tx: { readonly id: string } | string): TransactionRolledBackError {
    const id = typeof tx === 'string' ? tx : tx.id;
    this.transactions.delete(id);
    return new TransactionRolledBackError(`transaction ${id} was rolled back: the connection failed over inside it; begin again`);
  }

  private async sendInTransaction(destination: string, body: Body, options: SendOptions): Promise<void> {
    this.checkTransaction(options.transaction!);
    try {
      await this.inner!.send(destination, body, options);
    } catch (err) {
      if (answers(err) || err instanceof ReceiptTimeoutError) throw err;
      throw this.rolledBack(options.transaction!);
    }
  }

  /** @internal Transaction.commit()/abort() */
  async endTransaction(id: string, kind: 'COMMIT' | 'ABORT'): Promise<void> {
    const gen = this.transactions.get(id);
    if (gen === undefined || gen !== this.gen || this.state !== 'connected' || !this.inner) {
      this.transactions.delete(id);
      if (kind === 'ABORT') return; // gone with the old connection anyway
      throw this.rolledBack(id);
    }
    this.transactions.delete(id);
    try {
      await this.inner.endTransaction(id, kind);
    } catch (err) {
      if (answers(err) || err instanceof ReceiptTimeoutError) throw err;
      if (kind === 'COMMIT') throw new TransactionRolledBackError(`transaction ${id}: the connection failed during COMMIT; its outcome is unknown to the client`, { cause: err });
    }
  }

  // ---- close ---------------------------------------------------------------------------------

  /** DISCONNECT (with receipt) and stop reconnecting. Sends still waiting fail with ConnectionClosedError. */
  async disconnect(options: DisconnectOptions = {}): Promise<void> {
    if (this.state === 'closed') return;
    const inner = this.inner;
    this.state = 'closing';
    clearTimeout(this.timer);
    if (inner) await inner.disconnect(options).catch(() => undefined);
    this.close(undefined);
  }

  /** Drops the connection and stops reconnecting (what a crash looks like to the broker). */
  destroy(): void {
    const inner = this.inner;
    this.state = 'closing';
    inner?.destroy();
    this.close(undefined);
  }

  /** Resolves when the failover client is closed for good. */
  waitClosed(): Promise<void> { return this.closedPromise; }

  private close(err: StompClientError | undefined): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.timer);
    const inner = this.inner;
    this.detach(false); // closed for good: what is buffered stays readable, as after unsubscribe()
    inner?.destroy();
    this.closeError = err;
    const pendingErr = err ?? new ConnectionClosedError('the failover connection was closed by disconnect()');
    for (const p of this.pending.splice(0)) { if (p.timer) clearTimeout(p.timer); p.reject(pendingErr); }
    for (const rec of this.subs.values()) {
      if (rec.ready?.timer) clearTimeout(rec.ready.timer);
      rec.ready?.reject(pendingErr);
      rec.sub._end(err);
    }
    this.subs.clear();
    if (this.started) { this.started.reject(pendingErr); this.started = undefined; }
    if (err && this.listenerCount('error') > 0) this.emit('error', err);
    this.emit('close', err);
    this.markClosed();
  }

  private closedError(what: string): StompClientError {
    return this.closeError
      ? new ConnectionClosedError(`cannot ${what}: the failover connection is closed (${this.closeError.message})`, { cause: this.closeError })
      : new InvalidStateError(`cannot ${what}: the failover connection is ${this.state}`);
  }
}

/** Adds `id` to a bounded set (the oldest entry goes when it is full). */
function remember(set: Set<string>, id: string): void {
  if (!id) return;
  set.add(id);
  if (set.size > MAX_TRACKED) set.delete(set.values().next().value as string);
}
