// Subscriptions and the messages they deliver. A Subscription is an async iterable queue:
// the connection pushes MESSAGE frames in, the application pulls them out with `for await`
// or `next(timeoutMs)`.
import type { StompFrame } from '@hawser/stomp';
import { InvalidStateError, ReceiveTimeoutError, StompClientError } from './errors';

export type AckMode = 'auto' | 'client' | 'client-individual';

export interface AckOptions {
  /** Ask for a RECEIPT and resolve when it comes (default true), else resolve once written. */
  receipt?: boolean;
  /** Acknowledge inside this transaction (a Transaction or its id). */
  transaction?: { readonly id: string } | string;
}

export interface UnsubscribeOptions {
  /** Also delete the durable subscription (ActiveMQ: UNSUBSCRIBE carries activemq.subscriptionName). */
  removeDurable?: boolean;
  /** Wait for a RECEIPT (default true). */
  receipt?: boolean;
}

/** What a Subscription and its Messages need from the connection (implemented by StompClient). */
export interface SubscriptionHost {
  ackMessage(message: Message, kind: 'ACK' | 'NACK', options: AckOptions): Promise<void>;
  unsubscribe(subscription: Subscription, options: UnsubscribeOptions): Promise<void>;
}

/** One MESSAGE frame, with ack()/nack() bound to the connection it came from. */
export class Message {
  readonly frame: StompFrame;
  /** Headers by name; for a repeated header the first occurrence (STOMP 1.2). */
  readonly headers: Readonly<Record<string, string>>;
  readonly subscription: Subscription;
  /**
   * When the MESSAGE frame reached this client (ms since the epoch), not when the application
   * took it: a message can wait in the subscription's buffer (prefetch) for a while.
   */
  readonly arrivedAt: number;
  private readonly host: SubscriptionHost;

  constructor(frame: StompFrame, subscription: Subscription, host: SubscriptionHost, arrivedAt = Date.now()) {
    this.frame = frame;
    this.arrivedAt = arrivedAt;
    const headers: Record<string, string> = {};
    for (const [k, v] of frame.headers) if (!(k in headers)) headers[k] = v;
    this.headers = headers;
    this.subscription = subscription;
    this.host = host;
  }

  header(name: string): string | undefined { return this.headers[name]; }
  get destination(): string { return this.headers['destination'] ?? ''; }
  get messageId(): string { return this.headers['message-id'] ?? ''; }
  /** STOMP 1.2: the value to put in ACK's `id` header (falls back to message-id). */
  get ackId(): string { return this.headers['ack'] ?? this.messageId; }
  get body(): Buffer { return this.frame.body; }
  get text(): string { return this.frame.body.toString('utf8'); }
  json<T = unknown>(): T { return JSON.parse(this.text) as T; }
  get redelivered(): boolean { return this.headers['redelivered'] === 'true'; }
  /** The broker's delivery count, when it sends one. */
  get deliveryCount(): number | undefined {
    const v = this.headers['delivery-count'];
    return v === undefined ? undefined : Number(v);
  }

  /** ACK this message (client: this one and every earlier one on the subscription; client-individual: this one). */
  ack(options: AckOptions = {}): Promise<void> { return this.host.ackMessage(this, 'ACK', options); }
  /** NACK this message (STOMP 1.1+). */
  nack(options: AckOptions = {}): Promise<void> { return this.host.ackMessage(this, 'NACK', options); }
}

interface Waiter {
  resolve(m: Message | undefined): void;
  reject(e: Error): void;
  timer?: NodeJS.Timeout;
}

export class Subscription implements AsyncIterable<Message> {
  readonly id: string;
  readonly destination: string;
  readonly ack: AckMode;
  readonly durableName: string | undefined;
  private readonly host: SubscriptionHost;
  private readonly queue: Message[] = [];
  private readonly waiters: Waiter[] = [];
  private ended: { error?: Error } | undefined;
  /** Messages delivered to this subscription so far. */
  received = 0;
  /**
   * Failover: buffered messages dropped untaken because the connection they came on is gone
   * (the broker redelivers them, marked redelivered, over the new connection or to another consumer).
   */
  discarded = 0;

  constructor(host: SubscriptionHost, id: string, destination: string, ack: AckMode, durableName?: string) {
    this.host = host;
    this.id = id;
    this.destination = destination;
    this.ack = ack;
    this.durableName = durableName;
  }

  /** Messages received and not yet taken. */
  get buffered(): number { return this.queue.length; }
  get closed(): boolean { return this.ended !== undefined; }

  /** @internal The connection delivers a MESSAGE. */
  _push(message: Message): void {
    if (this.ended) return;
    this.received++;
    const w = this.waiters.shift();
    if (w) {
      if (w.timer) clearTimeout(w.timer);
      w.resolve(message);
    } else {
      this.queue.push(message);
    }
  }

  /**
   * @internal Failover: drops the buffered (not yet taken) messages `stale` picks, those of a
   * connection that is gone. Returns how many.
   */
  _discard(stale: (m: Message) => boolean): number {
    let n = 0;
    for (let i = this.queue.length - 1; i >= 0; i--) {
      if (stale(this.queue[i]!)) { this.queue.splice(i, 1); n++; }
    }
    this.discarded += n;
    return n;
  }

  /** @internal No more messages: unsubscribed (no error) or the connection died (error). */
  _end(error?: Error): void {
    if (this.ended) return;
    this.ended = error ? { error } : {};
    for (const w of this.waiters.splice(0)) {
      if (w.timer) clearTimeout(w.timer);
      if (error) w.reject(error);
      else w.resolve(undefined);
    }
  }

  /**
   * The next message. Rejects with ReceiveTimeoutError after `timeoutMs` (no timeout if
   * omitted), with the connection's error if it died, or InvalidStateError once unsubscribed
   * and drained.
   */
  async next(timeoutMs?: number): Promise<Message> {
    const m = await this.take(timeoutMs, true);
    if (!m) throw new InvalidStateError(`subscription ${this.id} on ${this.destination} is closed`);
    return m;
  }

  /**
   * The next message, or undefined if none comes within `timeoutMs` (or the subscription ended).
   * An ended subscription answers at once: a loop on tryNext checks `closed` to tell the two apart.
   */
  async tryNext(timeoutMs: number): Promise<Message | undefined> {
    try {
      return await this.take(timeoutMs, false);
    } catch (err) {
      if (err instanceof StompClientError && err.code === 'CONNECTION_CLOSED') return undefined;
      throw err;
    }
  }

  /** Takes `n` messages, each within `timeoutMs`. */
  async collect(n: number, timeoutMs: number): Promise<Message[]> {
    const out: Message[] = [];
    for (let i = 0; i < n; i++) out.push(await this.next(timeoutMs));
    return out;
  }

  private take(timeoutMs: number | undefined, timeoutThrows: boolean): Promise<Message | undefined> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.ended) {
      return this.ended.error ? Promise.reject(this.ended.error) : Promise.resolve(undefined);
    }
    return new Promise((resolve, reject) => {
      const w: Waiter = { resolve, reject };
      if (timeoutMs !== undefined) {
        w.timer = setTimeout(() => {
          const i = this.waiters.indexOf(w);
          if (i >= 0) this.waiters.splice(i, 1);
          if (timeoutThrows) reject(new ReceiveTimeoutError(this.destination, timeoutMs));
          else resolve(undefined);
        }, timeoutMs);
      }
      this.waiters.push(w);
    });
  }

  /** Ends iteration after draining buffered messages; throws if the connection died. */
  [Symbol.asyncIterator](): AsyncIterator<Message> {
    return {
      next: async () => {
        const m = await this.take(undefined, true);
        return m ? { value: m, done: false } : { value: undefined, done: true };
      },
      return: async () => ({ value: undefined, done: true }),
    };
  }

  /** UNSUBSCRIBE. Buffered messages stay readable; then iteration ends. */
  unsubscribe(options: UnsubscribeOptions = {}): Promise<void> {
    return this.host.unsubscribe(this, options);
  }
}
