// STOMP transactions (BEGIN/COMMIT/ABORT) and the pipelined send window.
import type { Body, SendOptions } from './client';
import type { AckOptions, Message } from './subscription';
import { InvalidStateError } from './errors';

/** What a Transaction and a SendWindow need from the connection (implemented by StompClient). */
export interface TransactionHost {
  send(destination: string, body?: Body, options?: SendOptions): Promise<void>;
  endTransaction(id: string, kind: 'COMMIT' | 'ABORT'): Promise<void>;
}

export class Transaction {
  readonly id: string;
  private readonly host: TransactionHost;
  private state: 'open' | 'committed' | 'aborted' = 'open';

  constructor(host: TransactionHost, id: string) {
    this.host = host;
    this.id = id;
  }

  get status(): 'open' | 'committed' | 'aborted' { return this.state; }

  /** SEND inside the transaction: the broker delivers it on commit, drops it on abort. */
  send(destination: string, body: Body = '', options: SendOptions = {}): Promise<void> {
    if (this.state !== 'open') return Promise.reject(new InvalidStateError(`transaction ${this.id} is ${this.state}`));
    return this.host.send(destination, body, { ...options, transaction: this.id });
  }

  ack(message: Message, options: AckOptions = {}): Promise<void> {
    if (this.state !== 'open') return Promise.reject(new InvalidStateError(`transaction ${this.id} is ${this.state}`));
    return message.ack({ ...options, transaction: this.id });
  }

  nack(message: Message, options: AckOptions = {}): Promise<void> {
    if (this.state !== 'open') return Promise.reject(new InvalidStateError(`transaction ${this.id} is ${this.state}`));
    return message.nack({ ...options, transaction: this.id });
  }

  /** COMMIT; resolves on the RECEIPT. */
  commit(): Promise<void> { return this.end('COMMIT'); }

  /** ABORT; resolves on the RECEIPT. */
  abort(): Promise<void> { return this.end('ABORT'); }

  private end(kind: 'COMMIT' | 'ABORT'): Promise<void> {
    if (this.state !== 'open') return Promise.reject(new InvalidStateError(`transaction ${this.id} is ${this.state}`));
    this.state = kind === 'COMMIT' ? 'committed' : 'aborted';
    return this.host.endTransaction(this.id, kind);
  }
}

interface Queued {
  destination: string;
  body: Body;
  options: SendOptions;
  resolve(): void;
  reject(e: Error): void;
}

/**
 * Keeps at most `window` SENDs waiting for their RECEIPT: a producer gets pipelining
 * (throughput) without losing per-message confirmation. Each send() returns the promise
 * of that message's receipt; sends beyond the window wait their turn in order.
 */
export class SendWindow {
  readonly window: number;
  private readonly host: TransactionHost;
  private readonly queue: Queued[] = [];
  private outstanding = 0;
  private idle: Array<() => void> = [];

  constructor(host: TransactionHost, window: number) {
    if (!Number.isInteger(window) || window < 1) throw new InvalidStateError(`send window must be a positive integer, got ${window}`);
    this.host = host;
    this.window = window;
  }

  /** Messages sent and not yet receipted. */
  get inFlight(): number { return this.outstanding; }
  /** Messages waiting for room in the window. */
  get waiting(): number { return this.queue.length; }

  send(destination: string, body: Body = '', options: SendOptions = {}): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ destination, body, options: { ...options, receipt: true }, resolve, reject });
      this.pump();
    });
  }

  /** Resolves when every message sent so far is receipted or failed. */
  drain(): Promise<void> {
    if (this.outstanding === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private pump(): void {
    while (this.outstanding < this.window && this.queue.length > 0) {
      const q = this.queue.shift()!;
      this.outstanding++;
      this.host.send(q.destination, q.body, q.options).then(q.resolve, q.reject).finally(() => {
        this.outstanding--;
        this.pump();
        if (this.outstanding === 0 && this.queue.length === 0) for (const f of this.idle.splice(0)) f();
      });
    }
  }
}
