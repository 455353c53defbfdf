// The STOMP connection: CONNECT handshake, receipts, subscriptions, acks, transactions,
// heart-beats and DISCONNECT, over any Transport. Framing is @hawser/stomp's.
import { EventEmitter } from 'node:events';
import {
  StompParser, encodeFrame, HEARTBEAT, getHeader, frame, negotiateHeartBeat, StompError,
  type StompFrame, type StompVersion,
} from '@hawser/stomp';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import {
  ConnectTimeoutError, ConnectionClosedError, HeartbeatTimeoutError, InvalidStateError, InvalidUriError, ProtocolError,
  ReceiptTimeoutError, StompClientError, StompServerError, TransactionRolledBackError, UnsupportedError,
} from './errors';
import { dialTransport, type Transport } from './transport';
import { parseTarget, type Endpoint } from './uri';
import { Message, Subscription, type AckMode, type AckOptions, type SubscriptionHost, type UnsubscribeOptions } from './subscription';
import { SendWindow, Transaction, type TransactionHost } from './transaction';

/** Header names for broker features (ActiveMQ's STOMP names), kept in one place. */
export const HEADERS = {
  prefetch: 'activemq.prefetchSize',
  durableName: 'activemq.subscriptionName',
  selector: 'selector',
  persistent: 'persistent',
  priority: 'priority',
  expires: 'expires',
  clientId: 'client-id',
} as const;

export interface ConnectOptions {
  login?: string;
  passcode?: string;
  /** JMS client id: names the owner of durable subscriptions (CONNECT `client-id`). */
  clientId?: string;
  /** Virtual host (CONNECT `host`); defaults to the URI's host. */
  host?: string;
  /** Versions to offer (default all three). '1.0' alone sends no accept-version. */
  version?: StompVersion | StompVersion[];
  /** STOMP 1.1 heart-beat [ms we send, ms we want to receive]; default [0, 0] (off). */
  heartBeat?: [number, number];
  /** Deadline for the socket plus the CONNECTED frame (default 10 s). */
  connectTimeoutMs?: number;
  /** Deadline for each RECEIPT (default 30 s). */
  receiptTimeoutMs?: number;
  /** Extra CONNECT headers. */
  headers?: Record<string, string>;
  /** Largest frame we accept from the server (parser limit). */
  maxFrameSize?: number;
  /** TLS options for stomp+ssl:// and wss://. */
  tls?: TlsOptions;
}

export type Body = string | Buffer | Uint8Array;
export type HeaderValues = Record<string, string | number | boolean | undefined>;

export interface SendOptions {
  headers?: HeaderValues;
  /** `persistent:true` (ActiveMQ: stored on disk, survives a restart). */
  persistent?: boolean;
  /** Wait for the broker's RECEIPT (default true); false resolves once written. */
  receipt?: boolean;
  contentType?: string;
  /** JMS priority 0-9. */
  priority?: number;
  /** Absolute expiry, ms since the epoch (ActiveMQ `expires`). */
  expires?: number;
  /** Relative expiry: sets `expires` to now + ttlMs. */
  ttlMs?: number;
  transaction?: { readonly id: string } | string;
  /** The `receipt` header value to use (default generated); a StompServerError answering it carries it as receiptId. */
  receiptId?: string;
}

export interface SubscribeOptions {
  /** Subscription id (default generated). */
  id?: string;
  ack?: AckMode;
  /** How many unacked messages the broker may push (ActiveMQ activemq.prefetchSize). */
  prefetch?: number;
  /** JMS selector (SQL-92 subset) on headers. */
  selector?: string;
  /** Makes a topic subscription durable under this name (needs ConnectOptions.clientId). */
  durableName?: string;
  headers?: HeaderValues;
  /** Wait for a RECEIPT so the subscription is in place when this resolves (default true). */
  receipt?: boolean;
  /** The `receipt` header value to use (default generated). */
  receiptId?: string;
}

export interface DisconnectOptions {
  /** How long to wait for the DISCONNECT receipt before closing anyway (default 5 s). */
  timeoutMs?: number;
}

export interface ClientEvents {
  /** An ERROR frame (StompServerError) or a connection failure. Never thrown if nobody listens. */
  error: [error: StompClientError];
  /** The connection is closed; `error` is set when it did not close by disconnect(). */
  close: [error: StompClientError | undefined];
  /** A MESSAGE for a subscription we do not (or no longer) have. */
  unroutable: [frame: StompFrame];
}

type State = 'connecting' | 'connected' | 'disconnecting' | 'closed';

interface PendingReceipt {
  resolve(): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

const ALL_VERSIONS: StompVersion[] = ['1.0', '1.1', '1.2'];

/**
 * Connects to a broker: `stomp://host:61613`, `tcp://...`, `stomp+ssl://...`,
 * `ws://host:61614/path`, `wss://...`. Resolves once CONNECTED arrives.
 */
export async function connect(uri: string, options: ConnectOptions = {}): Promise<StompClient> {
  const target = parseTarget(uri);
  if (target.failover) {
    throw new InvalidUriError(`'${uri}' is a failover URI: use connectFailover() (a FailoverClient reconnects by itself), or connect to one broker URI`);
  }
  return StompClient.dial(target.endpoints[0]!, options);
}

export interface StompClient {
  on<E extends keyof ClientEvents>(event: E, listener: (...args: ClientEvents[E]) => void): this;
  once<E extends keyof ClientEvents>(event: E, listener: (...args: ClientEvents[E]) => void): this;
  off<E extends keyof ClientEvents>(event: E, listener: (...args: ClientEvents[E]) => void): this;
}

export class StompClient extends EventEmitter implements SubscriptionHost, TransactionHost {
  readonly endpoint: Endpoint;
  /** Negotiated version (valid once connected). */
  version: StompVersion = '1.0';
  /** CONNECTED headers: session, server, heart-beat. */
  session: string | undefined;
  server: string | undefined;
  /** Negotiated heart-beat in ms: how often we send, how often we expect data. */
  heartBeat = { send: 0, expect: 0 };

  private readonly transport: Transport;
  private readonly options: ConnectOptions;
  private readonly parser: StompParser;
  private state: State = 'connecting';
  private closeError: StompClientError | undefined;
  private readonly receipts = new Map<string, PendingReceipt>();
  private readonly subscriptions = new Map<string, Subscription>();
  private counter = 0;
  private lastRead = Date.now();
  private lastWrite = Date.now();
  private timers: NodeJS.Timeout[] = [];
  private onConnected: ((f: StompFrame) => void) | undefined;
  private readonly closed: Promise<void>;

  /** Opens the transport to one endpoint and performs the CONNECT handshake. */
  static async dial(endpoint: Endpoint, options: ConnectOptions = {}): Promise<StompClient> {
    const timeoutMs = options.connectTimeoutMs ?? 10_000;
    const started = Date.now();
    const transport = await dialTransport(endpoint, { timeoutMs, tls: options.tls });
    const client = new StompClient(transport, endpoint, options);
    await client.handshake(Math.max(1, timeoutMs - (Date.now() - started)));
    return client;
  }

  private constructor(transport: Transport, endpoint: Endpoint, options: ConnectOptions) {
    super();
    this.transport = transport;
    this.endpoint = endpoint;
    this.options = options;
    this.parser = new StompParser({ side: 'client', ...(options.maxFrameSize ? { maxFrameSize: options.maxFrameSize } : {}) });
    transport.onData((chunk) => this.onData(chunk));
    this.closed = new Promise((resolve) => transport.onClose((err) => { this.onTransportClosed(err); resolve(); }));
  }

  get connected(): boolean { return this.state === 'connected'; }

  private handshake(timeoutMs: number): Promise<void> {
    const versions = this.options.version === undefined ? ALL_VERSIONS
      : Array.isArray(this.options.version) ? this.options.version : [this.options.version];
    const [hbSend, hbExpect] = this.options.heartBeat ?? [0, 0];
    const headers: Record<string, string | undefined> = {
      // STOMP 1.1: a 1.0 client sends no accept-version.
      'accept-version': versions.length === 1 && versions[0] === '1.0' ? undefined : versions.join(','),
      host: this.options.host ?? this.endpoint.host,
      login: this.options.login,
      passcode: this.options.passcode,
      [HEADERS.clientId]: this.options.clientId,
      'heart-beat': versions.some((v) => v !== '1.0') ? `${hbSend},${hbExpect}` : undefined,
      ...this.options.headers,
    };
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.onConnected = undefined;
        const err = new ConnectTimeoutError(`no CONNECTED from ${this.endpoint.uri} within ${timeoutMs} ms`);
        this.fail(err);
        reject(err);
      }, timeoutMs);
      this.onConnected = (f) => {
        clearTimeout(timer);
        this.onConnected = undefined;
        try {
          this.connectedWith(f);
          resolve();
        } catch (err) {
          const e = err instanceof StompClientError ? err : new ProtocolError(`bad CONNECTED frame: ${(err as Error).message}`, { cause: err });
          this.fail(e);
          reject(e);
        }
      };
      // Failures before CONNECTED (ERROR frame, close) reject through the close path.
      void this.closed.then(() => {
        clearTimeout(timer);
        if (this.onConnected) {
          this.onConnected = undefined;
          reject(this.closeError ?? new ConnectionClosedError(`${this.endpoint.uri} closed the connection before CONNECTED`));
        }
      });
      this.writeFrame(frame('CONNECT', headers));
    });
  }

  private connectedWith(f: StompFrame): void {
    const version = (getHeader(f, 'version') ?? '1.0') as StompVersion;
    if (!ALL_VERSIONS.includes(version)) throw new ProtocolError(`server chose unknown STOMP version '${version}'`);
    this.version = version;
    this.parser.setVersion(version);
    this.session = getHeader(f, 'session');
    this.server = getHeader(f, 'server');
    this.state = 'connected';
    if (version !== '1.0') {
      this.heartBeat = negotiateHeartBeat(getHeader(f, 'heart-beat'), this.options.heartBeat ?? [0, 0]);
      this.startHeartBeats();
    }
  }

  // STOMP 1.1: heart-beating. We send an EOL when we have written nothing for `send` ms,
  // and give up when nothing arrived for twice the `expect` interval (the spec leaves the
  // tolerance to us; network delays make exact limits flaky).
  private startHeartBeats(): void {
    const { send, expect } = this.heartBeat;
    if (send > 0) {
      const tick = Math.max(1, Math.floor(send / 2));
      this.timers.push(setInterval(() => {
        if (Date.now() - this.lastWrite >= tick) this.writeRaw(HEARTBEAT);
      }, tick));
    }
    if (expect > 0) {
      const tick = Math.max(1, Math.floor(expect / 2));
      this.timers.push(setInterval(() => {
        if (Date.now() - this.lastRead > expect * 2) this.fail(new HeartbeatTimeoutError(expect));
      }, tick));
    }
  }

  // ---- inbound ---------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    this.lastRead = Date.now();
    let events;
    try {
      events = this.parser.push(chunk);
    } catch (err) {
      const msg = err instanceof StompError ? `${err.code}: ${err.message}` : String(err);
      this.fail(new ProtocolError(`bad data from ${this.endpoint.uri}: ${msg}`, { cause: err }));
      return;
    }
    for (const ev of events) if (ev.type === 'frame') this.onFrame(ev.frame);
  }

  private onFrame(f: StompFrame): void {
    switch (f.command) {
      case 'CONNECTED':
        if (this.onConnected) this.onConnected(f);
        return;
      case 'RECEIPT': {
        const id = getHeader(f, 'receipt-id');
        const p = id === undefined ? undefined : this.receipts.get(id);
        if (p) {
          this.receipts.delete(id!);
          clearTimeout(p.timer);
          p.resolve();
        }
        return;
      }
      case 'MESSAGE': {
        const subId = getHeader(f, 'subscription');
        let sub = subId === undefined ? undefined : this.subscriptions.get(subId);
        // STOMP 1.0 servers may omit `subscription`: route by destination.
        if (!sub && subId === undefined) {
          const dest = getHeader(f, 'destination');
          for (const s of this.subscriptions.values()) if (s.destination === dest) { sub = s; break; }
        }
        if (sub) sub._push(new Message(f, sub, this));
        else this.emit('unroutable', f);
        return;
      }
      case 'ERROR': {
        // STOMP 1.2: the server closes the connection after an ERROR frame.
        const err = new StompServerError(f);
        const p = err.receiptId === undefined ? undefined : this.receipts.get(err.receiptId);
        if (p) {
          this.receipts.delete(err.receiptId!);
          clearTimeout(p.timer);
          // Hawser's gateway refuses the COMMIT of a transaction a master failover rolled back.
          p.reject(err.details.startsWith('TRANSACTION_ROLLED_BACK:') ? new TransactionRolledBackError(err.serverMessage, { cause: err }) : err);
        }
        this.fail(err);
        return;
      }
      default:
        this.fail(new ProtocolError(`unexpected ${f.command} frame from the server`));
    }
  }

  // ---- outbound --------------------------------------------------------------------

  private writeRaw(data: Buffer): void {
    this.lastWrite = Date.now();
    this.transport.write(data);
  }

  private writeFrame(f: StompFrame): void {
    this.writeRaw(encodeFrame(f, this.version));
  }

  private assertOpen(what: string): void {
    if (this.state !== 'connected') {
      throw this.closeError && this.state === 'closed'
        ? new ConnectionClosedError(`cannot ${what}: the connection is closed (${this.closeError.message})`, { cause: this.closeError })
        : new InvalidStateError(`cannot ${what}: the connection is ${this.state}`);
    }
  }

  private nextId(prefix: string): string {
    return `${prefix}-${++this.counter}`;
  }

  /** Writes a frame with a `receipt` header and resolves when its RECEIPT arrives. */
  private request(f: StompFrame, what: string, timeoutMs = this.options.receiptTimeoutMs ?? 30_000, receiptId?: string): Promise<void> {
    const id = receiptId ?? this.nextId('r');
    f.headers.push(['receipt', id]);
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.receipts.delete(id);
        reject(new ReceiptTimeoutError(id, what, timeoutMs));
      }, timeoutMs);
      this.receipts.set(id, { resolve, reject, timer });
      this.writeFrame(f);
    });
  }

  /** Writes a frame, with or without waiting for a receipt. */
  private deliver(f: StompFrame, what: string, receipt: boolean, receiptId?: string): Promise<void> {
    try {
      this.assertOpen(what);
    } catch (err) {
      return Promise.reject(err);
    }
    if (receipt) return this.request(f, what, undefined, receiptId);
    this.writeFrame(f);
    return Promise.resolve();
  }

  // ---- public API --------------------------------------------------------------------

  /** SEND. Resolves on the broker's RECEIPT (unless `receipt: false`). */
  send(destination: string, body: Body = '', options: SendOptions = {}): Promise<void> {
    const headers: HeaderValues = { destination };
    if (options.contentType) headers['content-type'] = options.contentType;
    if (options.persistent !== undefined) headers[HEADERS.persistent] = String(options.persistent);
    if (options.priority !== undefined) headers[HEADERS.priority] = options.priority;
    if (options.ttlMs !== undefined) headers[HEADERS.expires] = Date.now() + options.ttlMs;
    if (options.expires !== undefined) headers[HEADERS.expires] = options.expires;
    if (options.transaction !== undefined) headers['transaction'] = txId(options.transaction);
    Object.assign(headers, options.headers);
    const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body);
    return this.deliver(frame('SEND', stringify(headers), buf), `SEND to ${destination}`, options.receipt ?? true, options.receiptId);
  }

  /** A send window: at most `window` SENDs waiting for their RECEIPT at a time. */
  pipeline(window: number): SendWindow {
    return new SendWindow(this, window);
  }

  /** Sends every message with at most `window` receipts outstanding; one promise per message. */
  sendPipelined(messages: Iterable<{ destination: string; body?: Body; options?: SendOptions }>, window: number): Promise<void>[] {
    const w = this.pipeline(window);
    return Array.from(messages, (m) => w.send(m.destination, m.body ?? '', m.options));
  }

  async subscribe(destination: string, options: SubscribeOptions = {}): Promise<Subscription> {
    this.assertOpen(`subscribe to ${destination}`);
    const id = options.id ?? this.nextId('sub');
    if (this.subscriptions.has(id)) throw new InvalidStateError(`subscription id '${id}' is already in use`);
    const ack = options.ack ?? 'auto';
    const headers: HeaderValues = {
      id,
      destination,
      ack,
      [HEADERS.selector]: options.selector,
      [HEADERS.prefetch]: options.prefetch,
      [HEADERS.durableName]: options.durableName,
      ...options.headers,
    };
    const sub = new Subscription(this, id, destination, ack, options.durableName);
    // Registered before the frame goes out: MESSAGEs may arrive before the RECEIPT.
    this.subscriptions.set(id, sub);
    try {
      await this.deliver(frame('SUBSCRIBE', stringify(headers)), `SUBSCRIBE to ${destination}`, options.receipt ?? true, options.receiptId);
    } catch (err) {
      this.subscriptions.delete(id);
      sub._end(err as Error);
      throw err;
    }
    return sub;
  }

  /** @internal Subscription.unsubscribe() */
  async unsubscribe(sub: Subscription, options: UnsubscribeOptions): Promise<void> {
    if (!this.subscriptions.has(sub.id)) return;
    const headers: HeaderValues = { id: sub.id };
    // STOMP 1.0 identifies the subscription by destination when there is no id.
    if (this.version === '1.0') headers['destination'] = sub.destination;
    if (options.removeDurable && sub.durableName) headers[HEADERS.durableName] = sub.durableName;
    try {
      await this.deliver(frame('UNSUBSCRIBE', stringify(headers)), `UNSUBSCRIBE ${sub.id}`, options.receipt ?? true);
    } finally {
      this.subscriptions.delete(sub.id);
      sub._end();
    }
  }

  /** @internal Message.ack()/nack(): the ACK/NACK frame for this connection's version. */
  ackMessage(message: Message, kind: 'ACK' | 'NACK', options: AckOptions): Promise<void> {
    if (message.subscription.ack === 'auto' && kind === 'ACK') return Promise.resolve();
    if (kind === 'NACK' && this.version === '1.0') {
      return Promise.reject(new UnsupportedError('NACK needs STOMP 1.1 or later; this connection speaks 1.0'));
    }
    const headers: HeaderValues = {};
    // STOMP 1.2: ACK/NACK carry `id` = the MESSAGE's `ack` header.
    // STOMP 1.1: `subscription` + `message-id`.  STOMP 1.0: `message-id` only.
    if (this.version === '1.2') headers['id'] = message.ackId;
    else if (this.version === '1.1') { headers['subscription'] = message.subscription.id; headers['message-id'] = message.messageId; }
    else headers['message-id'] = message.messageId;
    if (options.transaction !== undefined) headers['transaction'] = txId(options.transaction);
    return this.deliver(frame(kind, stringify(headers)), `${kind} ${message.messageId}`, options.receipt ?? true);
  }

  /** BEGIN a transaction. Its sends and acks take effect on commit(). */
  begin(id: string = this.nextId('tx')): Transaction {
    this.assertOpen('begin a transaction');
    this.writeFrame(frame('BEGIN', { transaction: id }));
    return new Transaction(this, id);
  }

  /** @internal Transaction.commit()/abort() */
  endTransaction(id: string, kind: 'COMMIT' | 'ABORT'): Promise<void> {
    return this.deliver(frame(kind, { transaction: id }), `${kind} ${id}`, true);
  }

  /** DISCONNECT with a receipt (so everything sent before is processed), then close. */
  async disconnect(options: DisconnectOptions = {}): Promise<void> {
    if (this.state === 'closed') return;
    const timeoutMs = options.timeoutMs ?? 5_000;
    if (this.state === 'connected') {
      this.state = 'disconnecting';
      try {
        await this.request(frame('DISCONNECT'), 'DISCONNECT', timeoutMs);
      } catch {
        // The server may close first; either way we are done.
      }
    }
    this.state = 'disconnecting';
    this.transport.close();
    const t = setTimeout(() => this.transport.destroy(), timeoutMs);
    await this.closed;
    clearTimeout(t);
  }

  /** Drops the connection without DISCONNECT (what a crash looks like to the broker). */
  destroy(): void {
    this.transport.destroy();
  }

  /** Resolves when the transport is closed. */
  waitClosed(): Promise<void> { return this.closed; }

  // ---- failure and close -----------------------------------------------------------

  private fail(err: StompClientError): void {
    if (this.state === 'closed') return;
    if (!this.closeError) this.closeError = err;
    if (this.listenerCount('error') > 0) this.emit('error', err);
    this.transport.destroy();
  }

  private onTransportClosed(cause?: Error): void {
    const graceful = this.state === 'disconnecting' && !this.closeError;
    this.state = 'closed';
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    const err = this.closeError ?? (graceful ? undefined
      : new ConnectionClosedError(`connection to ${this.endpoint.uri} closed${cause ? `: ${cause.message}` : ''}`, { cause }));
    if (err && !this.closeError) this.closeError = err;
    const pendingErr = err ?? new ConnectionClosedError('connection closed by disconnect()');
    for (const [id, p] of this.receipts) {
      clearTimeout(p.timer);
      this.receipts.delete(id);
      p.reject(pendingErr);
    }
    for (const sub of this.subscriptions.values()) sub._end(err);
    this.subscriptions.clear();
    this.emit('close', err);
  }
}

function txId(tx: { readonly id: string } | string): string {
  return typeof tx === 'string' ? tx : tx.id;
}

function stringify(h: HeaderValues): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(h)) out[k] = v === undefined ? undefined : String(v);
  return out;
}
