// One STOMP client connection: its state machine, and its translation to and from one
// Broker.Session stream on the store (proto/hawser/broker.proto).
//
//   connecting --CONNECT--> opening --opened--> connected --DISCONNECT/ERROR--> closing --> closed
//
// Everything the client sends goes through the codec (@hawser/stomp); any StompError or
// GatewayError becomes an ERROR frame and a closed connection at one place, fail(). The
// transport (TCP socket or WebSocket) is behind the Transport interface (listeners.ts).
import {
  StompParser, StompError, encodeFrame, HEARTBEAT, negotiateVersion, negotiateHeartBeat, getHeader, frame,
  validateClientFrame, SUPPORTED_VERSIONS, CLIENT_COMMANDS, type StompFrame, type StompVersion, type HeartBeat,
} from '@hawser/stomp';
import type { AckMode, SessionEvent, Delivery, Message } from '@hawser/proto';
import type { Logger } from '@hawser/observability';
import type { Config } from '../../config';
import type { Transport } from '../../transports/transport';
import type { GatewayMetrics } from '../../metrics';
import { GatewayError, StoreRejectedError } from '../../errors';
import type { Channels } from '../../session/channel';
import { StoreLink } from '../../session/link';
import type { MasterSource } from '../../session/masters';

/** What every connection of one gateway shares. */
export interface GatewayContext {
  config: Config;
  log: Logger;
  metrics: GatewayMetrics;
  /** Channels to masters (gRPC per store address, or in-process on this node). */
  channels: Channels;
  /** Where the group's master is (fixed store.address, or followed from the coordinators). */
  source: MasterSource;
  gatewayId: string;
  /** Distinguishes this process's generated message ids from a previous run's with the same gateway id. */
  bootId: string;
  /** CONNECTED `server` header, e.g. Hawser/0.1.0 */
  server: string;
  /** login -> passcode; empty: anonymous allowed */
  users: Map<string, string>;
}

type State = 'connecting' | 'opening' | 'connected' | 'closing' | 'closed';

/** Headers STOMP (or ActiveMQ's STOMP) gives a meaning on SEND; they never reach Message.headers. */
const SEND_PROTOCOL_HEADERS = new Set([
  'destination', 'content-length', 'receipt', 'transaction', 'message-id', 'persistent', 'priority', 'expires',
  'timestamp', 'subscription', 'ack', 'redelivered', 'delivery-count', 'host', 'login', 'passcode',
  'accept-version', 'heart-beat',
]);

const ACK_MODES: Record<string, AckMode> = {
  auto: 'ACK_MODE_AUTO',
  client: 'ACK_MODE_CLIENT',
  'client-individual': 'ACK_MODE_CLIENT_INDIVIDUAL',
};

const KNOWN_COMMANDS = new Set<string>(CLIENT_COMMANDS);

/** Deliveries per session remembered to mark redeliveries after a failover (bounded memory). */
const RECENT_DELIVERIES = 4096;

/**
 * A delivery the client holds, by the tag the CLIENT sees (`ack` header). Tags are
 * `tagBase + store tag` where tagBase grows with every new store session (failover), so a
 * tag never names two deliveries even though each store numbers its own from 1.
 */
interface Outstanding { subscriptionId: string; messageId: string; gen: number; storeTag: number }

export class StompConnection {
  readonly id: string;
  private readonly log: Logger;
  private state: State = 'connecting';
  private version: StompVersion = '1.0';
  private readonly parser: StompParser;
  private link: StoreLink | undefined;
  /** Store session the last event came from, and the client-tag offset of its deliveries. */
  private gen = 0;
  private tagBase = 0;
  private maxTag = 0;
  private connectedSent = false;
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
  /** requestId -> the client's receipt header */
  private readonly receipts = new Map<number, string>();
  private disconnectRequestId = 0;
  private disconnecting = false;
  private readonly subscriptions = new Map<string, { ackMode: AckMode }>();
  /** Deliveries written to the client and waiting for its ACK/NACK (client and client-individual modes). */
  private readonly outstanding = new Map<number, Outstanding>();
  /** STOMP 1.0/1.1 ACK by message-id: message id -> delivery tags (one per subscription it went to). */
  private readonly byMessageId = new Map<string, number[]>();
  private messageSeq = 0;
  private lastRead = Date.now();
  private lastWrite = Date.now();
  private readonly timers: NodeJS.Timeout[] = [];
  private openTimer: NodeJS.Timeout | undefined;
  private heartBeat: HeartBeat = { send: 0, expect: 0 };
  private pausedForClient = false;
  private pausedForStore = false;
  /** Called once when the connection is closed, whoever closed it. */
  onClosed: (() => void) | undefined;

  constructor(private readonly ctx: GatewayContext, private readonly transport: Transport, connectionSeq: number) {
    this.id = `${ctx.gatewayId}:${ctx.bootId}-${connectionSeq}`;
    this.log = ctx.log.child({ connectionId: this.id, protocol: transport.protocol, remote: transport.remote });
    this.parser = new StompParser({
      side: 'server',
      maxFrameSize: ctx.config.limits.maxFrameSize,
      maxHeaders: ctx.config.limits.maxHeaders,
      maxHeaderLength: ctx.config.limits.maxHeaderLength,
    });
    // A socket that never sends CONNECT would hold a connection slot for ever.
    const connectTimeout = ctx.config.limits.connectTimeout;
    if (connectTimeout > 0) {
      this.openTimer = setTimeout(() => {
        if (this.state !== 'connecting') return;
        this.log.info({ connectTimeoutMs: connectTimeout }, 'closing connection: no CONNECT frame in time');
        this.fail(new GatewayError('NOT_CONNECTED', `no CONNECT frame within ${connectTimeout} ms`));
      }, connectTimeout);
      this.openTimer.unref();
    }
  }

  get isOpen(): boolean { return this.state !== 'closing' && this.state !== 'closed'; }

  // ---- input from the client ------------------------------------------------------------

  /** Bytes from the transport. Never throws: bad input becomes an ERROR frame and a close. */
  receive(chunk: Buffer): void {
    if (!this.isOpen || this.disconnecting) return;
    this.lastRead = Date.now();
    this.ctx.metrics.bytesIn.inc({ protocol: this.transport.protocol }, chunk.length);
    try {
      for (const ev of this.parser.push(chunk)) {
        if (!this.isOpen || this.disconnecting) return;
        if (ev.type === 'frame') this.handleFrame(ev.frame);
      }
    } catch (e) {
      this.failWith(e);
    }
  }

  private handleFrame(f: StompFrame): void {
    const command = f.command;
    this.ctx.metrics.framesIn.inc({ command: KNOWN_COMMANDS.has(command) ? command : 'UNKNOWN' });
    if (!KNOWN_COMMANDS.has(command)) throw new StompError('UNKNOWN_COMMAND', `unknown command ${JSON.stringify(command)}`);
    if (this.state === 'connecting') {
      if (command !== 'CONNECT' && command !== 'STOMP') {
        throw new GatewayError('NOT_CONNECTED', `expected a CONNECT or STOMP frame first, got ${command}`);
      }
      this.onConnect(f);
      return;
    }
    if (command === 'CONNECT' || command === 'STOMP') throw new GatewayError('ALREADY_CONNECTED', `already connected: a second ${command} frame is not allowed`);
    validateClientFrame(f, this.version);
    switch (command) {
      case 'SEND': return this.onSend(f);
      case 'SUBSCRIBE': return this.onSubscribe(f);
      case 'UNSUBSCRIBE': return this.onUnsubscribe(f);
      case 'ACK':
      case 'NACK': return this.onAck(f, command);
      case 'BEGIN': return this.simple(f, 'begin');
      case 'COMMIT': return this.simple(f, 'commit');
      case 'ABORT': return this.simple(f, 'abort');
      case 'DISCONNECT': return this.onDisconnect(f);
    }
  }

  // STOMP 1.2: CONNECT / STOMP. Negotiates the version and heart-beats, checks the login,
  // then opens the store session; CONNECTED waits for the store's `opened`.
  private onConnect(f: StompFrame): void {
    validateClientFrame(f, '1.0');
    const version = negotiateVersion(getHeader(f, 'accept-version'), SUPPORTED_VERSIONS);
    if (!version) {
      this.fail(new StompError('UNSUPPORTED_VERSION', `Supported protocol versions are ${SUPPORTED_VERSIONS.join(',')}`), { version: SUPPORTED_VERSIONS.join(',') });
      return;
    }
    // STOMP 1.0 has no heart-beating.
    const hb = this.ctx.config.heartbeat;
    this.heartBeat = version === '1.0' ? { send: 0, expect: 0 } : negotiateHeartBeat(getHeader(f, 'heart-beat'), [hb.send, hb.expect]);
    const login = getHeader(f, 'login') ?? '';
    if (this.ctx.users.size > 0) {
      const passcode = getHeader(f, 'passcode') ?? '';
      if (!this.ctx.users.has(login) || this.ctx.users.get(login) !== passcode) {
        this.log.info({ login }, 'login failed');
        throw new GatewayError('LOGIN_FAILED', 'login failed');
      }
    }
    this.version = version;
    this.parser.setVersion(version);
    this.state = 'opening';
    clearTimeout(this.openTimer);
    const link = new StoreLink({
      channels: this.ctx.channels,
      source: this.ctx.source,
      metrics: this.ctx.metrics,
      openTimeoutMs: this.ctx.config.store.openTimeout,
      maxWaitMs: this.ctx.config.failover.maxWaitMs,
      resendTimeoutMs: this.ctx.config.failover.resendTimeoutMs,
      maxWaitingFrames: this.ctx.config.failover.maxWaitingFrames,
    }, this.log, {
      onEvent: (ev, gen) => this.onStoreEvent(ev, gen),
      onFailure: (why) => this.onStoreFailure(why),
      onFatal: (err) => this.fail(err),
      // No master at CONNECT (or the first one refused): the client is connected to the
      // gateway all the same; its frames wait for a master like any others.
      onWaiting: () => { if (this.state === 'opening') this.onOpened(''); },
      onBackpressure: () => { this.pausedForStore = true; this.updateReading(); },
      onDrain: () => { this.pausedForStore = false; this.updateReading(); },
    });
    this.link = link;
    link.open({ connectionId: this.id, clientId: getHeader(f, 'client-id') ?? '', login, gateway: this.ctx.gatewayId });
  }

  /**
   * Allocates a requestId when the frame asks for a receipt (any frame may). With `always`
   * (SEND, COMMIT, ABORT) and failover on, it allocates one anyway: the store's receipt tells
   * the replay log the request is done and need not be resent to a new master.
   */
  private requestIdFor(f: StompFrame, always = false): number {
    const receipt = getHeader(f, 'receipt');
    if (receipt === undefined) return always && this.ctx.source.failover ? this.nextRequestId++ : 0;
    const id = this.nextRequestId++;
    this.receipts.set(id, receipt);
    return id;
  }

  private onSend(f: StompFrame): void {
    const destination = getHeader(f, 'destination')!;
    const headers: Record<string, string> = {};
    for (const [k, v] of f.headers) {
      // STOMP 1.2: the first occurrence of a repeated header wins.
      if (!SEND_PROTOCOL_HEADERS.has(k) && !(k in headers)) headers[k] = v;
    }
    const message: Message = {
      id: getHeader(f, 'message-id') || `${this.id}:${++this.messageSeq}`,
      destination,
      headers,
      body: f.body,
      persistent: (getHeader(f, 'persistent') ?? '').toLowerCase() === 'true',
      priority: intHeader(f, 'priority', 4, 0, 9),
      expires: intHeader(f, 'expires', 0, 0, Number.MAX_SAFE_INTEGER),
      timestamp: 0, // set by the store on enqueue
    };
    this.link!.request('send', { message, transaction: getHeader(f, 'transaction') ?? '' }, this.requestIdFor(f, true));
  }

  private onSubscribe(f: StompFrame): void {
    const destination = getHeader(f, 'destination')!;
    // STOMP 1.0 makes `id` optional: the destination then names the subscription.
    const subscriptionId = getHeader(f, 'id') ?? destination;
    const ackName = getHeader(f, 'ack') ?? 'auto';
    const ackMode = ACK_MODES[ackName];
    if (!ackMode) throw new StompError('BAD_HEADER_VALUE', `ack header must be auto, client or client-individual, got ${JSON.stringify(ackName)}`);
    const noLocal = (getHeader(f, 'activemq.noLocal') ?? '').toLowerCase() === 'true';
    this.subscriptions.set(subscriptionId, { ackMode });
    this.link!.request('subscribe', {
      subscriptionId,
      destination,
      ackMode,
      prefetch: intHeader(f, 'activemq.prefetchSize', 0, 0, 0xffff_ffff),
      selector: getHeader(f, 'selector') ?? '',
      durableName: getHeader(f, 'activemq.subscriptionName') ?? getHeader(f, 'durable-subscription-name') ?? '',
      noLocal,
      // ActiveMQ's consumer priority header (the store prefers higher priorities).
      priority: intHeader(f, 'activemq.priority', 0, -128, 127),
    }, this.requestIdFor(f));
  }

  private onUnsubscribe(f: StompFrame): void {
    const subscriptionId = getHeader(f, 'id') ?? getHeader(f, 'destination')!;
    this.subscriptions.delete(subscriptionId);
    // The store takes back what this subscription had not acked; forget those tags.
    for (const [tag, o] of this.outstanding) if (o.subscriptionId === subscriptionId) this.forget(tag);
    // ActiveMQ: an UNSUBSCRIBE carrying the durable name also removes the durable subscription.
    const removeDurable = getHeader(f, 'activemq.subscriptionName') !== undefined || getHeader(f, 'durable-subscription-name') !== undefined;
    this.link!.request('unsubscribe', { subscriptionId, removeDurable }, this.requestIdFor(f));
  }

  // STOMP 1.2: ACK/NACK `id` is the MESSAGE's `ack` header (our client tag). STOMP 1.0/1.1:
  // `message-id` (+ `subscription` in 1.1), mapped back through the outstanding table.
  private onAck(f: StompFrame, command: 'ACK' | 'NACK'): void {
    let tag: number | undefined;
    let shown: string;
    if (this.version === '1.2') {
      shown = getHeader(f, 'id') ?? '';
      const n = /^\d+$/.test(shown) ? Number(shown) : NaN;
      if (this.outstanding.has(n)) tag = n;
    } else {
      shown = getHeader(f, 'message-id') ?? '';
      const subscription = getHeader(f, 'subscription');
      const tags = (this.byMessageId.get(shown) ?? []).filter((t) => subscription === undefined || this.outstanding.get(t)?.subscriptionId === subscription);
      // After a failover the same message may be held twice (old and redelivered): prefer the live one.
      tag = tags.find((t) => this.outstanding.get(t)!.gen === this.gen) ?? tags[0];
    }
    if (tag === undefined) throw new GatewayError('UNKNOWN_DELIVERY', `${command} for unknown message id ${shown}`);
    const held = this.outstanding.get(tag)!;
    const sub = held.subscriptionId;
    let live: number | undefined = held.gen === this.gen ? tag : undefined;
    if (live === undefined) {
      // A delivery of a session on an old master (failover): its tag means nothing to the new
      // one. If the message came again, settle that delivery; if not, it will come again later.
      for (const [t, o] of this.outstanding) {
        if (o.gen === this.gen && o.messageId === held.messageId && o.subscriptionId === sub) { live = t; break; }
      }
      this.log.debug({ command, tag, messageId: held.messageId, mappedTo: live }, live === undefined
        ? 'ACK/NACK for a delivery of the previous master dropped: the message will be redelivered'
        : 'ACK/NACK for a delivery of the previous master mapped to its redelivery');
    }
    const liveStoreTag = live === undefined ? 0 : this.outstanding.get(live)!.storeTag;
    // Client mode is cumulative (broker.proto AckMode): acking T settles every earlier delivery too.
    if (command === 'ACK' && this.subscriptions.get(sub)?.ackMode === 'ACK_MODE_CLIENT') {
      for (const [t, o] of this.outstanding) if ((t <= tag || (live !== undefined && t <= live)) && o.subscriptionId === sub) this.forget(t);
    } else {
      this.forget(tag);
      if (live !== undefined) this.forget(live);
    }
    if (live === undefined) {
      // Nothing to tell the store; the client still gets the receipt it asked for.
      const receipt = getHeader(f, 'receipt');
      if (receipt !== undefined) this.writeFrame(frame('RECEIPT', { 'receipt-id': receipt }));
      return;
    }
    const payload = { deliveryTag: liveStoreTag, transaction: getHeader(f, 'transaction') ?? '' };
    if (command === 'ACK') this.link!.request('ack', payload, this.requestIdFor(f));
    else this.link!.request('nack', payload, this.requestIdFor(f));
  }

  private simple(f: StompFrame, kind: 'begin' | 'commit' | 'abort'): void {
    this.link!.request(kind, { transaction: getHeader(f, 'transaction')! }, this.requestIdFor(f, kind !== 'begin'));
  }

  // STOMP 1.2: "the client SHOULD send a DISCONNECT with a receipt and wait for the RECEIPT
  // before closing the socket" — we send it once the store has settled the session.
  private onDisconnect(f: StompFrame): void {
    this.disconnecting = true;
    const requestId = this.requestIdFor(f);
    this.link!.request('close', {}, requestId);
    if (requestId === 0) {
      this.close('client disconnected');
      return;
    }
    this.disconnectRequestId = requestId;
    const t = setTimeout(() => this.close('disconnect receipt timed out'), 5_000);
    t.unref();
    this.timers.push(t);
  }

  // ---- events from the store ------------------------------------------------------------

  private onStoreEvent(ev: SessionEvent, gen: number): void {
    if (!this.isOpen) return;
    if (gen !== this.gen) {
      // A new store session (failover): its delivery tags start again at 1; shift them past
      // every tag the client has seen.
      this.gen = gen;
      this.tagBase = this.maxTag;
      if (gen > 1) this.previouslyDelivered = new Set([...this.previouslyDelivered ?? [], ...this.recent]);
      this.recent = [];
      this.recentAt = 0;
    }
    try {
      switch (ev.kind) {
        case 'opened': return this.onOpened(ev.opened.sessionId);
        case 'receipt': return this.onReceipt(ev.receipt.requestId);
        case 'delivery': return this.deliver(ev.delivery);
        case 'error': {
          // The store refused something (or ended the session): the client hears it as an
          // ERROR answering the frame that asked for a receipt, with the store's code in the body.
          const receiptId = this.receipts.get(ev.error.requestId);
          const err = new StoreRejectedError(ev.error.code || 'STORE_ERROR', ev.error.message || 'the store refused the request');
          this.fail(err, receiptId !== undefined ? { 'receipt-id': receiptId } : {}, `${err.code}: ${err.message}\n`);
          return;
        }
      }
    } catch (e) {
      this.failWith(e);
    }
  }

  private onOpened(sessionId: string): void {
    if (this.state !== 'opening') return;
    clearTimeout(this.openTimer);
    this.state = 'connected';
    this.connectedSent = true;
    const hb = this.ctx.config.heartbeat;
    const headers: Record<string, string> = { version: this.version, server: this.ctx.server, session: sessionId || this.id };
    if (this.version !== '1.0') headers['heart-beat'] = `${hb.send},${hb.expect}`;
    this.writeFrame(frame('CONNECTED', headers));
    this.startHeartBeats();
    this.log.debug({ version: this.version, heartBeat: this.heartBeat, sessionId }, 'client connected');
  }

  private onReceipt(requestId: number): void {
    const receiptId = this.receipts.get(requestId);
    if (receiptId === undefined) return;
    this.receipts.delete(requestId);
    this.writeFrame(frame('RECEIPT', { 'receipt-id': receiptId }));
    if (requestId === this.disconnectRequestId) this.close('client disconnected');
  }

  private deliver(d: Delivery): void {
    const sub = this.subscriptions.get(d.subscriptionId);
    if (!sub) {
      // Raced with an UNSUBSCRIBE: the store takes the delivery back with the subscription.
      this.log.debug({ subscriptionId: d.subscriptionId, deliveryTag: d.deliveryTag }, 'delivery for a closed subscription dropped');
      return;
    }
    const m = d.message;
    let redelivered = d.redelivered;
    let deliveryCount = d.deliveryCount || 1;
    if (this.ctx.source.failover) {
      const key = `${d.subscriptionId}\0${m.id}`;
      if (this.previouslyDelivered?.delete(key)) {
        redelivered = true;
        deliveryCount = Math.max(deliveryCount, 2);
        if (this.previouslyDelivered.size === 0) this.previouslyDelivered = undefined;
      }
      this.recent[this.recentAt] = key;
      this.recentAt = (this.recentAt + 1) % RECENT_DELIVERIES;
    }
    const list: Array<[string, string]> = [
      ['destination', m.destination],
      ['message-id', m.id],
      ['subscription', d.subscriptionId],
      ['content-length', String(m.body.length)],
      ['persistent', String(m.persistent)],
      ['priority', String(m.priority)],
      ['timestamp', String(m.timestamp)],
    ];
    if (m.expires) list.push(['expires', String(m.expires)]);
    if (redelivered) list.push(['redelivered', 'true']);
    list.push(['delivery-count', String(deliveryCount)]);
    const clientTag = this.tagBase + d.deliveryTag;
    if (clientTag > this.maxTag) this.maxTag = clientTag;
    if (this.version === '1.2') list.push(['ack', String(clientTag)]);
    const taken = new Set(list.map(([k]) => k));
    for (const [k, v] of Object.entries(m.headers ?? {})) {
      // STOMP 1.0 cannot escape line breaks in header values.
      if (!taken.has(k)) list.push([k, this.version === '1.0' ? v.replace(/[\r\n]/g, ' ') : v]);
    }
    const f: StompFrame = { command: 'MESSAGE', headers: list, body: m.body };
    if (sub.ackMode === 'ACK_MODE_AUTO') {
      // Auto ack: the store may forget the message once it is on the wire to the client.
      const tag = d.deliveryTag;
      const gen = this.gen;
      this.writeFrame(f, (err) => { if (!err && this.isOpen) this.link?.requestOn(gen, 'ack', { deliveryTag: tag, transaction: '' }); });
    } else {
      this.outstanding.set(clientTag, { subscriptionId: d.subscriptionId, messageId: m.id, gen: this.gen, storeTag: d.deliveryTag });
      const tags = this.byMessageId.get(m.id);
      if (tags) tags.push(clientTag);
      else this.byMessageId.set(m.id, [clientTag]);
      this.writeFrame(f);
    }
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

  private onStoreFailure(why: string): void {
    if (!this.isOpen) return;
    this.ctx.metrics.storeFailures.inc();
    this.log.warn({ err: why }, 'store stream failed');
    this.fail(new GatewayError('BROKER_UNAVAILABLE', `broker unavailable: ${why}`));
  }

  // ---- output, heart-beats, backpressure ------------------------------------------------

  private writeFrame(f: StompFrame, done?: (err?: Error) => void): void {
    // Before CONNECTED the client does not know the version yet: no 1.1+ header escaping
    // (an ERROR answering CONNECT, e.g. "no master for group g1: ...", must read as sent).
    const bytes = encodeFrame(f, this.connectedSent ? this.version : '1.0');
    this.ctx.metrics.framesOut.inc({ command: f.command });
    this.write(bytes, done);
  }

  private write(bytes: Buffer, done?: (err?: Error) => void): void {
    this.ctx.metrics.bytesOut.inc({ protocol: this.transport.protocol }, bytes.length);
    this.lastWrite = Date.now();
    this.transport.write(bytes, done);
    if (!this.pausedForClient && this.transport.buffered > this.ctx.config.limits.writeBufferHigh) {
      // The client reads slower than we write: stop taking its frames and the store's deliveries.
      this.pausedForClient = true;
      this.log.debug({ buffered: this.transport.buffered }, 'client reads slowly: pausing its input and its deliveries');
      this.link?.pause();
      this.updateReading();
    }
  }

  /** The transport flushed its queue (listeners.ts calls this). */
  drained(): void {
    if (!this.pausedForClient || this.transport.buffered > this.ctx.config.limits.writeBufferHigh / 2) return;
    this.pausedForClient = false;
    this.log.debug('client caught up: resuming');
    this.link?.resume();
    this.updateReading();
  }

  private updateReading(): void {
    if (this.pausedForClient || this.pausedForStore) this.transport.pauseReading();
    else this.transport.resumeReading();
  }

  // STOMP 1.1: heart-beating. We send an EOL when we have been silent for the negotiated
  // interval, and give the client 2x its interval before calling it dead (as ActiveMQ's
  // and RabbitMQ's grace margins do: timers and networks jitter).
  private startHeartBeats(): void {
    const { send, expect } = this.heartBeat;
    if (send > 0) {
      const tick = Math.max(Math.floor(send / 2), 10);
      const t = setInterval(() => {
        if (this.isOpen && Date.now() - this.lastWrite >= tick) {
          this.ctx.metrics.bytesOut.inc({ protocol: this.transport.protocol }, HEARTBEAT.length);
          this.lastWrite = Date.now();
          this.transport.write(HEARTBEAT);
        }
      }, tick);
      t.unref();
      this.timers.push(t);
    }
    if (expect > 0) {
      const limit = 2 * expect;
      const t = setInterval(() => {
        const silent = Date.now() - this.lastRead;
        if (this.isOpen && silent > limit) {
          this.ctx.metrics.heartbeatTimeouts.inc();
          this.log.info({ silentMs: silent, expectMs: expect }, 'closing connection: no heart-beat or frame from the client within 2x the negotiated interval');
          this.close('heart-beat timeout', true);
        }
      }, Math.max(Math.floor(expect / 2), 10));
      t.unref();
      this.timers.push(t);
    }
  }

  // ---- errors and closing ---------------------------------------------------------------

  private failWith(e: unknown): void {
    if (e instanceof StompError || e instanceof GatewayError) {
      this.fail(e);
    } else {
      this.log.error({ err: e }, 'internal error handling a client frame');
      this.fail(new GatewayError('INTERNAL', `internal error: ${(e as Error)?.message ?? String(e)}`));
    }
  }

  /**
   * Sends an ERROR frame whose `message` header says what was wrong, then closes the
   * connection (STOMP 1.2: "the server MUST close the connection just after sending" it).
   */
  fail(err: StompError | GatewayError | StoreRejectedError, extra: Record<string, string> = {}, body?: string): void {
    if (!this.isOpen) return;
    const code = err.code;
    this.ctx.metrics.errors.inc({ code });
    this.log.info({ code, error: err.message }, 'sending ERROR and closing');
    const message = err.message.replace(/[\r\n]+/g, ' ');
    try {
      this.writeFrame(frame('ERROR', { message, 'content-type': 'text/plain', ...extra }, body ?? `${message}\n`));
    } catch (e) {
      this.log.warn({ err: e }, 'could not encode the ERROR frame');
    }
    this.close(`error: ${code}`);
  }

  /** Ends the store stream and closes the transport (flushing it unless `hard`). Idempotent. */
  close(reason: string, hard = false): void {
    if (!this.isOpen) return;
    this.state = 'closing';
    this.log.debug({ reason }, 'closing connection');
    this.stopTimers();
    this.link?.end();
    if (hard) this.transport.destroy();
    else this.transport.end();
  }

  /** The transport is gone (either side closed it). */
  transportClosed(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.stopTimers();
    // Client gone: end the stream; the store takes back its unacked deliveries.
    this.link?.end();
    this.onClosed?.();
  }

  private stopTimers(): void {
    clearTimeout(this.openTimer);
    for (const t of this.timers) clearInterval(t);
    this.timers.length = 0;
  }
}

/** An integer header in [min, max], or `def` when absent. */
function intHeader(f: StompFrame, name: string, def: number, min: number, max: number): number {
  const v = getHeader(f, name);
  if (v === undefined || v === '') return def;
  const n = /^\s*-?\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new StompError('BAD_HEADER_VALUE', `${name} header must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
  return n;
}
