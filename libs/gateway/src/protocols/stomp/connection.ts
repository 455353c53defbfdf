// One STOMP client connection: the STOMP adapter on the protocol-neutral ClientSession
// (session/client-session.ts). It owns the protocol — frames, versions, heart-beats, how a
// delivery tag or an error is shown — and turns frames into session requests and session
// events into frames.
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
import type { AckMode, Message } from '@hawser/proto';
import type { Logger, Tally } from '@hawser/observability';
import { LoginError, type Authenticator, type Principal } from '@hawser/security';
import type { Transport } from '../../transports/transport';
import { GatewayError, LimitExceededError, StoreRejectedError } from '../../errors';
import { ClientSession, type ClientDelivery, type SessionContext } from '../../session/client-session';
import { StompDestinations, DESTINATION_HEADERS } from './destinations';
import { ReadBacklog } from '../read-backlog';

/** What every connection of one gateway shares. */
export interface GatewayContext extends SessionContext {
  log: Logger;
  /** Distinguishes this process's generated message ids from a previous run's with the same gateway id. */
  bootId: string;
  /** CONNECTED `server` header, e.g. Hawser/0.1.0 */
  server: string;
  /** Who may connect (auth.*): checks CONNECT's login/passcode or the client certificate. */
  auth: Authenticator;
}

type State = 'connecting' | 'authenticating' | 'opening' | 'connected' | 'closing' | 'closed';

/** Headers STOMP (or ActiveMQ's STOMP) gives a meaning on SEND; they never reach Message.headers. */
const SEND_PROTOCOL_HEADERS = new Set([
  'destination', 'content-length', 'receipt', 'transaction', 'message-id', 'persistent', 'priority', 'expires',
  'timestamp', 'subscription', 'ack', 'redelivered', 'delivery-count', 'host', 'login', 'passcode',
  'accept-version', 'heart-beat',
]);

/** The headers `deliver` always puts on a MESSAGE (expires, redelivered and ack: headerTaken). */
const MESSAGE_HEADERS = new Set(['destination', 'message-id', 'subscription', 'content-length', 'persistent', 'priority', 'timestamp', 'delivery-count']);

const ACK_MODES: Record<string, AckMode> = {
  auto: 'ACK_MODE_AUTO',
  client: 'ACK_MODE_CLIENT',
  'client-individual': 'ACK_MODE_CLIENT_INDIVIDUAL',
};

const KNOWN_COMMANDS = new Set<string>(CLIENT_COMMANDS);
const DESTINATION_VALUED = new Set<string>(DESTINATION_HEADERS);

export class StompConnection {
  readonly id: string;
  private readonly log: Logger;
  private state: State = 'connecting';
  private version: StompVersion = '1.0';
  private readonly parser: StompParser;
  /** ActiveMQ's STOMP destination names (default queue, temp destinations, composites) <-> the broker's. */
  private readonly destinations: StompDestinations;
  private session: ClientSession | undefined;
  private connectedSent = false;
  /** The receipt of the DISCONNECT being settled: when it comes, the connection closes. */
  private disconnectReceipt: string | undefined;
  private disconnecting = false;
  /** receipt-id of a SEND -> when it was read (performance.now()): its RECEIPT observes hawser_gateway_receipt_seconds. */
  private readonly sendsAwaitingReceipt = new Map<string, number>();
  /** This connection's byte counts (hawser_gateway_bytes_in/out_total of its protocol). */
  private readonly bytesIn: Tally;
  private readonly bytesOut: Tally;
  private messageSeq = 0;
  private lastRead = Date.now();
  private lastWrite = Date.now();
  private readonly timers: NodeJS.Timeout[] = [];
  private openTimer: NodeJS.Timeout | undefined;
  private heartBeat: HeartBeat = { send: 0, expect: 0 };
  private pausedForClient = false;
  private pausedForStore = false;
  /** Not reading the client: limits.maxPendingReceipts of its requests await the store's receipt. */
  private pausedForReceipts = false;
  /** Frames that came while the login was being checked: handled, in order, once it is. */
  private held: StompFrame[] | undefined;
  /** Frames read behind the store's back-pressure (read-backlog.ts): handled, in order, once it lifts. */
  private readonly backlog = new ReadBacklog<StompFrame>();
  /** Called once when the connection is closed, whoever closed it. */
  onClosed: (() => void) | undefined;

  constructor(private readonly ctx: GatewayContext, private readonly transport: Transport, connectionSeq: number) {
    this.id = `${ctx.gatewayId}:${ctx.bootId}-${connectionSeq}`;
    this.destinations = new StompDestinations(this.id);
    this.bytesIn = ctx.metrics.bytesIn.tally(transport.protocol);
    this.bytesOut = ctx.metrics.bytesOut.tally(transport.protocol);
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
    this.bytesIn.n += chunk.length;
    try {
      for (const ev of this.parser.push(chunk)) {
        if (!this.isOpen || this.disconnecting) return;
        if (ev.type !== 'frame') continue;
        if (this.held) this.held.push(ev.frame);
        else if (this.backlog.holding) this.backlog.push(ev.frame);
        else this.handleFrame(ev.frame);
      }
    } catch (e) {
      this.failWith(e);
    }
  }

  /** The store's back-pressure lifted: the frames read behind it, in order, until it comes back. */
  private drainBacklog(): void {
    try {
      this.backlog.drain(() => this.pausedForStore, () => this.isOpen && !this.disconnecting, (f) => this.handleFrame(f));
    } catch (e) {
      this.failWith(e);
    }
    this.updateReading();
  }

  private handleFrame(f: StompFrame): void {
    const command = f.command;
    // Receipts owed to the client are bounded: at limits.maxPendingReceipts stop reading it
    // (gentler than an ERROR; the frames of the read in hand still go through) until half came.
    if (!this.pausedForReceipts && this.session && this.session.pendingReceipts >= this.ctx.config.limits.maxPendingReceipts) {
      this.pausedForReceipts = true;
      this.ctx.metrics.limitPauses.inc({ limit: 'limits.maxPendingReceipts' });
      this.log.debug({ pendingReceipts: this.session.pendingReceipts }, 'too many receipts pending: pausing the client\'s input');
      this.updateReading();
    }
    this.ctx.metrics.framesIn.inc(KNOWN_COMMANDS.has(command) ? command : 'UNKNOWN');
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
    // STOMP 1.1: each way's interval is the larger of the two sides' values. Ours count down to
    // heartbeat.min, so a client asking for beats every 1 s gets them (ActiveMQ and RabbitMQ
    // honour it too) while clients that ask for none or slower ones get heartbeat.send/expect.
    const floor = (ours: number) => (ours === 0 ? 0 : Math.min(ours, hb.min));
    this.heartBeat = version === '1.0' ? { send: 0, expect: 0 } : negotiateHeartBeat(getHeader(f, 'heart-beat'), [floor(hb.send), floor(hb.expect)]);
    this.version = version;
    this.parser.setVersion(version);
    this.state = 'authenticating';
    clearTimeout(this.openTimer);
    // The check may take a scrypt (~0.1 s, off the event loop): hold what the client sends
    // meanwhile and stop reading it.
    this.held = [];
    this.updateReading();
    const peer = this.transport.tls?.peer;
    this.ctx.auth.authenticate({
      login: getHeader(f, 'login') ?? '',
      passcode: getHeader(f, 'passcode') ?? '',
      remote: remoteHost(this.transport.remote),
      certificateLogin: peer?.authorized ? peer.subject : undefined,
    }).then(
      (principal) => this.loggedIn(principal, getHeader(f, 'client-id') ?? ''),
      (e: unknown) => {
        if (!this.isOpen) return;
        if (e instanceof LoginError) {
          this.log.info({ login: getHeader(f, 'login') ?? '', code: e.code }, 'login refused');
          this.fail(new GatewayError(e.code, e.message));
        } else this.failWith(e);
      },
    );
  }

  private loggedIn(principal: Principal, clientId: string): void {
    if (!this.isOpen) return;
    this.state = 'opening';
    const session = new ClientSession(this.ctx, this.log, {
      onOpened: (sessionId) => this.onOpened(sessionId),
      onReceipt: (receipt) => this.onReceipt(receipt),
      onDelivery: (d) => this.deliver(d),
      onRefused: (err, receipt) => this.fail(err, receipt !== undefined ? { 'receipt-id': receipt } : {}, `${err.code}: ${err.message}\n`),
      onFatal: (err) => this.fail(err),
      onBackpressure: () => { this.pausedForStore = true; this.backlog.hold(); this.updateReading(); },
      onDrain: () => {
        this.pausedForStore = false;
        this.lastRead = Date.now(); // its silence while we did not read it was ours
        this.drainBacklog();
      },
    });
    this.session = session;
    session.open(this.id, clientId, principal);
    // What the client sent behind its CONNECT, in order, then read on.
    const held = this.held ?? [];
    this.held = undefined;
    this.updateReading();
    try {
      for (const f of held) {
        if (!this.isOpen || this.disconnecting) return;
        if (this.backlog.holding) this.backlog.push(f);
        else this.handleFrame(f);
      }
    } catch (e) {
      this.failWith(e);
    }
  }

  private onSend(f: StompFrame): void {
    const destination = this.destinations.toBroker(getHeader(f, 'destination')!);
    const messageId = getHeader(f, 'message-id');
    const maxId = this.ctx.config.limits.maxMessageIdLength;
    if (messageId && Buffer.byteLength(messageId) > maxId) {
      throw new LimitExceededError('limits.maxMessageIdLength', `message-id header too long: ${Buffer.byteLength(messageId)} bytes, the most allowed is ${maxId} (limits.maxMessageIdLength); use a shorter id, or raise limits.maxMessageIdLength`);
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of f.headers) {
      // STOMP 1.2: the first occurrence of a repeated header wins.
      if (!SEND_PROTOCOL_HEADERS.has(k) && !(k in headers)) headers[k] = DESTINATION_VALUED.has(k) ? this.destinations.toBroker(v) : v;
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
    const receipt = getHeader(f, 'receipt');
    if (receipt !== undefined) this.sendsAwaitingReceipt.set(receipt, performance.now());
    this.session!.send(message, getHeader(f, 'transaction') ?? '', receipt);
  }

  private onSubscribe(f: StompFrame): void {
    const named = getHeader(f, 'destination')!;
    const destination = this.destinations.toBroker(named);
    // STOMP 1.0 makes `id` optional: the destination (as the client wrote it) then names the subscription.
    const subscriptionId = getHeader(f, 'id') ?? named;
    const ackName = getHeader(f, 'ack') ?? 'auto';
    const ackMode = ACK_MODES[ackName];
    if (!ackMode) throw new StompError('BAD_HEADER_VALUE', `ack header must be auto, client or client-individual, got ${JSON.stringify(ackName)}`);
    const noLocal = (getHeader(f, 'activemq.noLocal') ?? '').toLowerCase() === 'true';
    this.session!.subscribe({
      subscriptionId,
      destination,
      ackMode,
      // Lowered to limits.maxPrefetch, not refused (a prefetch is a hint of how much the client takes).
      prefetch: Math.min(intHeader(f, 'activemq.prefetchSize', 0, 0, 0xffff_ffff), this.ctx.config.limits.maxPrefetch),
      selector: getHeader(f, 'selector') ?? '',
      durableName: getHeader(f, 'activemq.subscriptionName') ?? getHeader(f, 'durable-subscription-name') ?? '',
      noLocal,
      // ActiveMQ's consumer priority header (the store prefers higher priorities).
      priority: intHeader(f, 'activemq.priority', 0, -128, 127),
    }, getHeader(f, 'receipt'));
  }

  private onUnsubscribe(f: StompFrame): void {
    const subscriptionId = getHeader(f, 'id') ?? getHeader(f, 'destination')!;
    // ActiveMQ: an UNSUBSCRIBE carrying the durable name also removes the durable subscription.
    const removeDurable = getHeader(f, 'activemq.subscriptionName') !== undefined || getHeader(f, 'durable-subscription-name') !== undefined;
    this.session!.unsubscribe(subscriptionId, removeDurable, getHeader(f, 'receipt'));
  }

  // STOMP 1.2: ACK/NACK `id` is the MESSAGE's `ack` header (our client tag). STOMP 1.0/1.1:
  // `message-id` (+ `subscription` in 1.1), mapped back through the outstanding table.
  private onAck(f: StompFrame, command: 'ACK' | 'NACK'): void {
    const session = this.session!;
    let tag: number | undefined;
    let shown: string;
    if (this.version === '1.2') {
      shown = getHeader(f, 'id') ?? '';
      const n = /^\d+$/.test(shown) ? Number(shown) : NaN;
      if (session.holds(n)) tag = n;
    } else {
      shown = getHeader(f, 'message-id') ?? '';
      tag = session.tagsOf(shown, getHeader(f, 'subscription'))[0];
    }
    if (tag === undefined) throw new GatewayError('UNKNOWN_DELIVERY', `${command} for unknown message id ${shown}`);
    // Strict: a RECEIPT means the ack took, also across a failover (docs/reliability.md D2).
    session.settle(command === 'ACK' ? 'ack' : 'nack', tag, getHeader(f, 'transaction') ?? '', getHeader(f, 'receipt'), true);
  }

  private simple(f: StompFrame, kind: 'begin' | 'commit' | 'abort'): void {
    this.session!.transaction(kind, getHeader(f, 'transaction')!, getHeader(f, 'receipt'));
  }

  // STOMP 1.2: "the client SHOULD send a DISCONNECT with a receipt and wait for the RECEIPT
  // before closing the socket" — we send it once the store has settled the session.
  private onDisconnect(f: StompFrame): void {
    this.disconnecting = true;
    const receipt = getHeader(f, 'receipt');
    this.session!.close(receipt);
    if (receipt === undefined) {
      this.close('client disconnected');
      return;
    }
    this.disconnectReceipt = receipt;
    const t = setTimeout(() => this.close('disconnect receipt timed out'), 5_000);
    t.unref();
    this.timers.push(t);
  }

  // ---- events from the session -----------------------------------------------------------

  private onOpened(sessionId: string): void {
    if (this.state !== 'opening') return;
    clearTimeout(this.openTimer);
    this.state = 'connected';
    this.connectedSent = true;
    const hb = this.ctx.config.heartbeat;
    const headers: Record<string, string> = { version: this.version, server: this.ctx.server, session: sessionId || this.id };
    // The negotiated intervals, so the client computes the same ones (ours where it asked for none).
    if (this.version !== '1.0') headers['heart-beat'] = `${this.heartBeat.send || hb.send},${this.heartBeat.expect || hb.expect}`;
    this.writeFrame(frame('CONNECTED', headers));
    this.startHeartBeats();
    this.log.debug({ version: this.version, heartBeat: this.heartBeat, sessionId }, 'client connected');
  }

  private onReceipt(receipt: string): void {
    if (!this.isOpen) return;
    if (this.pausedForReceipts && this.session!.pendingReceipts <= this.ctx.config.limits.maxPendingReceipts / 2) {
      this.pausedForReceipts = false;
      this.lastRead = Date.now(); // its silence while we did not read it was ours
      this.updateReading();
    }
    this.writeFrame(frame('RECEIPT', { 'receipt-id': receipt }));
    const readAt = this.sendsAwaitingReceipt.get(receipt);
    if (readAt !== undefined) {
      this.sendsAwaitingReceipt.delete(receipt);
      this.ctx.metrics.receiptSeconds.observe(this.transport.protocol, (performance.now() - readAt) / 1e3);
    }
    if (this.disconnecting && receipt === this.disconnectReceipt) this.close('client disconnected');
  }

  private deliver(d: ClientDelivery): void {
    if (!this.isOpen) return;
    const m = d.message;
    const list: Array<[string, string]> = [
      ['destination', this.destinations.toClient(m.destination)],
      ['message-id', m.id],
      ['subscription', d.subscriptionId],
      ['content-length', String(m.body.length)],
      ['persistent', String(m.persistent)],
      ['priority', String(m.priority)],
      ['timestamp', String(m.timestamp)],
    ];
    if (m.expires) list.push(['expires', String(m.expires)]);
    if (d.redelivered) list.push(['redelivered', 'true']);
    list.push(['delivery-count', String(d.deliveryCount)]);
    if (this.version === '1.2') list.push(['ack', String(d.tag)]);
    const hs = m.headers;
    if (hs) {
      for (const k of Object.keys(hs)) {
        if (this.headerTaken(k, d)) continue;
        const v = hs[k]!;
        list.push([k, DESTINATION_VALUED.has(k) ? this.destinations.toClient(v) : v]);
      }
    }
    const f: StompFrame = { command: 'MESSAGE', headers: carriable(this.version, list), body: m.body };
    const written = d.written;
    this.writeFrame(f, written && ((err) => { if (!err && this.isOpen) written(); }));
  }

  /**
   * Does `deliver` already give header `k` for `d` (the message's own header of that name is
   * then left out)? The same test as a set of the list's names, without building one per message.
   */
  private headerTaken(k: string, d: ClientDelivery): boolean {
    switch (k) {
      case 'expires': return Boolean(d.message.expires);
      case 'redelivered': return d.redelivered;
      case 'ack': return this.version === '1.2';
      default: return MESSAGE_HEADERS.has(k);
    }
  }

  // ---- output, heart-beats, backpressure ------------------------------------------------

  private writeFrame(f: StompFrame, done?: (err?: Error) => void): void {
    // Before CONNECTED the client does not know the version yet: no 1.1+ header escaping
    // (an ERROR answering CONNECT, e.g. "no master for group g1: ...", must read as sent).
    const bytes = encodeFrame(f, this.connectedSent ? this.version : '1.0');
    this.ctx.metrics.framesOut.inc(f.command);
    this.write(bytes, done);
  }

  private write(bytes: Buffer, done?: (err?: Error) => void): void {
    this.bytesOut.n += bytes.length;
    this.lastWrite = Date.now();
    this.transport.write(bytes, done);
    if (!this.pausedForClient && this.transport.buffered > this.ctx.config.limits.writeBufferHigh) {
      // The client reads slower than we write: stop taking its frames and the store's deliveries.
      this.pausedForClient = true;
      this.log.debug({ buffered: this.transport.buffered }, 'client reads slowly: pausing its input and its deliveries');
      this.session?.pause();
      this.updateReading();
    }
  }

  /** The transport flushed its queue (listeners.ts calls this). */
  drained(): void {
    if (!this.pausedForClient || this.transport.buffered > this.ctx.config.limits.writeBufferHigh / 2) return;
    this.pausedForClient = false;
    this.log.debug('client caught up: resuming');
    this.session?.resume();
    this.updateReading();
  }

  private updateReading(): void {
    if (this.pausedForReceipts) { this.transport.pauseReading(); return; }
    if (this.pausedForClient || this.pausedForStore || this.held) this.transport.pauseReading();
    else this.transport.resumeReading();
  }

  // STOMP 1.1: heart-beating. We send an EOL before we have been silent for the negotiated
  // interval, and give the client 2x its interval before calling it dead (as ActiveMQ's
  // and RabbitMQ's grace margins do: timers and networks jitter).
  private startHeartBeats(): void {
    const { send, expect } = this.heartBeat;
    if (send > 0) {
      // Checked every quarter interval, sent once silent for three quarters: never a gap over
      // the interval, and ~1.33 beats per interval instead of the 2 a half-interval check sends
      // (measured: gateway CPU with 5,000 idle 1 s heart-beating clients, median of 5 pairs, 14.0% -> 10.2%).
      const tick = Math.max(Math.floor(send / 4), 10);
      const due = Math.max(send - tick, tick);
      const t = setInterval(() => {
        if (this.isOpen && Date.now() - this.lastWrite >= due) {
          this.bytesOut.n += HEARTBEAT.length;
          this.lastWrite = Date.now();
          this.transport.write(HEARTBEAT);
        }
      }, tick);
      t.unref();
      this.timers.push(t);
    }
    // heartbeat.idleTimeout caps the silence allowed, and is the only bound on a client that
    // declined heart-beats (STOMP 1.0, heart-beat 0,y): its socket would hold a slot for ever.
    const idle = this.ctx.config.heartbeat.idleTimeout;
    const beats = 2 * expect;
    const limit = expect > 0 && (idle === 0 || beats <= idle) ? beats : idle;
    if (limit > 0) {
      const t = setInterval(() => {
        const silent = Date.now() - this.lastRead;
        if (!this.isOpen || silent <= limit || this.pausedForReceipts || this.pausedForStore) return;
        if (limit === beats) {
          this.ctx.metrics.heartbeatTimeouts.inc();
          this.log.info({ silentMs: silent, expectMs: expect }, 'closing connection: no heart-beat or frame from the client within 2x the negotiated interval');
          this.close('heart-beat timeout', true);
        } else {
          this.log.info({ silentMs: silent, idleTimeoutMs: idle }, 'closing connection: idle for heartbeat.idleTimeout');
          this.fail(new LimitExceededError('heartbeat.idleTimeout', `no frame or heart-beat from the client for ${idle} ms (heartbeat.idleTimeout): send heart-beats (CONNECT heart-beat header) or raise heartbeat.idleTimeout`, 'IDLE_TIMEOUT'));
        }
      }, Math.max(Math.floor(limit / 4), 10)); // 2x interval: checked every half interval
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
    if (err instanceof LimitExceededError) this.ctx.metrics.limitRefusals.inc({ limit: err.limit });
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
    this.session?.end();
    if (hard) this.transport.destroy();
    else this.transport.end();
  }

  /** The transport is gone (either side closed it). */
  transportClosed(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.stopTimers();
    // Client gone: end the stream; the store takes back its unacked deliveries.
    this.session?.end();
    this.onClosed?.();
  }

  private stopTimers(): void {
    clearTimeout(this.openTimer);
    for (const t of this.timers) clearInterval(t);
    this.timers.length = 0;
  }
}

/**
 * A MESSAGE's headers as this client's version can carry them: they may come from a client of
 * another version (a 1.2 producer's `x:a\\rb`, or a message-id or destination it chose).
 * STOMP 1.0 escapes nothing: a name with a CR, LF or ':' is left out, line breaks in a value
 * become spaces. STOMP 1.1 cannot escape a CR: likewise for CR. Otherwise encodeFrame throws
 * inside the store's delivery callback and the gateway process exits (found by tools/fuzz).
 */
export function carriable(version: StompVersion, headers: Array<[string, string]>): Array<[string, string]> {
  if (version === '1.2') return headers;
  const breaks = version === '1.0' ? /[\r\n]/g : /\r/g;
  const badName = version === '1.0' ? /[\r\n:]/ : /\r/;
  const out: Array<[string, string]> = [];
  for (const [k, v] of headers) if (k.length > 0 && !badName.test(k)) out.push([k, v.replace(breaks, ' ')]);
  return out;
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

/** '10.0.0.9:51234' -> '10.0.0.9', '[::1]:5' / '::1:5' -> '::1': the key of failed-login throttling. */
function remoteHost(remote: string): string {
  const i = remote.lastIndexOf(':');
  const host = i > 0 ? remote.slice(0, i) : remote;
  return host.replace(/^\[|\]$/g, '');
}
