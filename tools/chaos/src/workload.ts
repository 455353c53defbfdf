// The workload: real STOMP clients (@hawser/client) producing and consuming through the paths
// a deployment offers (a separate gateway, a failover URI over the stores' embedded gateways,
// another group's gateway behind a bridge), every operation and its outcome written to the
// History. Nothing here knows about faults.
//
// Producers use failover clients (resend with the same message-id until a RECEIPT); their
// SEND outcomes are trustworthy. Consumers use plain clients with their own reconnect loop, or
// a failover client; on both an ack() with a receipt resolves only on the RECEIPT of the
// connection that delivered the message (`ok`); a failover client's ack of a message from a
// connection that is gone rejects (AckNotConfirmedError: `fail` when nothing was sent, `unknown`
// when the connection closed before the RECEIPT), and it drops at a reconnect what it had
// buffered from the old connection (docs/reliability.md D10; counted in notes).
//
// `deliver` is written when the application takes a message (`t`) and carries when it reached
// the client (`arrived`, Message.arrivedAt): the checker judges copies after an ack by arrival.
//
// Extension point: an actor is anything with start()/stop() writing the same events; the MQTT
// QoS 1/2 publishers and subscribers (mqtt.js) are in mqtt.ts.
import {
  AckNotConfirmedError, connect, connectFailover, StompServerError, TransactionRolledBackError,
  type FailoverClient, type Message, type StompClient, type Subscription,
} from '@hawser/client';
import type { History, Outcome } from './history';
import { Rng } from './rng';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/**
 * STOMP heart-beats every client asks for ([send, expect] ms): a client on a stopped or cut-off
 * store's embedded gateway notices within ~2 s (twice `expect`) and fails over, as a deployed
 * client with heart-beats would, instead of waiting for TCP or a receipt timeout.
 */
const HEART_BEAT: [number, number] = [1000, 1000];

/** A way clients reach a group. */
export interface Path {
  name: string;
  group: string;
  /** URIs a client may use (a failover client lists them all; a plain consumer rotates over them). */
  uris: string[];
  /** A failover client goes back to the first URI once it answers again (the failover URI's priorityBackup). */
  priorityBackup?: boolean;
}

export function failoverUri(p: Path): string {
  return `failover:(${p.uris.join(',')})?randomize=false&initialReconnectDelay=20&maxReconnectDelay=250${p.priorityBackup ? '&priorityBackup=true' : ''}`;
}

export interface Actor { readonly name: string; start(): Promise<void>; stop(): Promise<void> }

function classify(err: unknown): { outcome: Outcome; error: string } {
  const error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  // An ERROR frame answering this operation: the broker refused it.
  if (err instanceof StompServerError) return { outcome: 'fail', error };
  return { outcome: 'unknown', error };
}

export interface ProducerOptions {
  name: string;
  path: Path;
  dest: string;
  /** Messages per second (paced). */
  rate: number;
  /** SENDs awaiting their RECEIPT at most. */
  window?: number;
  /** Transactions of 2..txnSize messages instead of single sends. */
  txnSize?: number;
}

/** Persistent SENDs with receipts, through a failover client, paced. */
export class Producer implements Actor {
  private client: FailoverClient | undefined;
  private running = false;
  private loop: Promise<void> | undefined;
  private readonly pending = new Set<Promise<void>>();
  private seq = 0;
  private txns = 0;

  constructor(readonly o: ProducerOptions, private readonly h: History, private readonly rng: Rng) {}

  get name(): string { return this.o.name; }
  get sent(): number { return this.seq; }

  async start(): Promise<void> {
    this.client = await connectFailover(failoverUri(this.o.path), { connectTimeoutMs: 5000, receiptTimeoutMs: 20_000, heartBeat: HEART_BEAT });
    this.client.on('error', () => undefined);
    this.running = true;
    this.loop = this.o.txnSize ? this.runTransactions() : this.runSends();
  }

  private nextId(): { id: string; seq: number } {
    const seq = this.seq++;
    return { id: `${this.o.name}-${seq}`, seq };
  }

  private record(id: string, seq: number, txn?: string): void {
    this.h.add({ type: 'send', id, producer: this.o.name, dest: this.o.dest, seq, path: this.o.path.name, group: this.o.path.group, ...(txn ? { txn } : {}) });
  }

  private async pace(t0: number): Promise<void> {
    while (this.running && this.seq > (this.o.rate * (Date.now() - t0)) / 1000) await sleep(5);
  }

  private async runSends(): Promise<void> {
    const c = this.client!;
    const window = this.o.window ?? 4;
    const t0 = Date.now();
    while (this.running) {
      while (this.running && this.pending.size >= window) await Promise.race(this.pending);
      if (!this.running) break;
      const { id, seq } = this.nextId();
      this.record(id, seq);
      const p = c.send(this.o.dest, id, { persistent: true }).then(
        () => { this.h.add({ type: 'send-result', id, outcome: 'ok' }); },
        (e: unknown) => { this.h.add({ type: 'send-result', id, ...classify(e) }); },
      );
      this.pending.add(p);
      void p.finally(() => this.pending.delete(p));
      await this.pace(t0);
    }
  }

  private async runTransactions(): Promise<void> {
    const c = this.client!;
    const t0 = Date.now();
    while (this.running) {
      const txn = `${this.o.name}-tx${this.txns++}`;
      const tx = c.begin(txn);
      this.h.add({ type: 'txn', txn, producer: this.o.name });
      const n = this.rng.int(2, this.o.txnSize!);
      let failed: { outcome: Outcome; error: string } | undefined;
      for (let i = 0; i < n && !failed; i++) {
        const { id, seq } = this.nextId();
        this.record(id, seq, txn);
        try {
          await tx.send(this.o.dest, id, { persistent: true });
          this.h.add({ type: 'send-result', id, outcome: 'ok' });
        } catch (e) {
          const r = e instanceof TransactionRolledBackError ? { outcome: 'fail' as const, error: e.message } : classify(e);
          this.h.add({ type: 'send-result', id, ...r });
          failed = r;
        }
      }
      if (failed) {
        // Never committed: the broker drops it (ABORT, or the connection it lived on is gone).
        await tx.abort().catch(() => undefined);
        this.h.add({ type: 'txn-result', txn, outcome: 'fail', error: `not committed: ${failed.error}` });
        await sleep(100); // not a busy loop of transactions begun while the client is between connections
      } else {
        try {
          await tx.commit();
          this.h.add({ type: 'txn-result', txn, outcome: 'ok' });
        } catch (e) {
          // The failover client says "outcome is unknown" when the connection failed during COMMIT.
          const unknown = !(e instanceof StompServerError) && !(e instanceof TransactionRolledBackError && !/unknown/.test(e.message));
          this.h.add({ type: 'txn-result', txn, outcome: unknown ? 'unknown' : 'fail', error: (e as Error).message });
        }
      }
      await this.pace(t0);
    }
  }

  /** Stops sending and waits (up to `deadlineMs`) for every SEND in flight to settle. */
  async stop(deadlineMs = 60_000): Promise<void> {
    this.running = false;
    const settle = Promise.all([this.loop, ...this.pending]).then(() => undefined);
    await Promise.race([settle, sleep(deadlineMs)]);
    await this.client?.disconnect({ timeoutMs: 2000 }).catch(() => this.client?.destroy());
  }
}

export interface ConsumerOptions {
  name: string;
  path: Path;
  dest: string;
  /** Where copies are counted (history.ts SubscribeEvent.sub). */
  sub: string;
  /** A durable topic subscription: its name and the connection's client id. */
  durable?: { clientId: string; name: string };
  /** ms spent per message before acking (a slow consumer). */
  slowMs?: number;
  /** Crash mid-batch: after 5..crashEvery messages, ack half of the batch and drop the connection. */
  crashEvery?: number;
  /** Use a failover client (its buffer is dropped at a reconnect: D10); default: plain clients with our own reconnect. */
  failover?: boolean;
  prefetch?: number;
  /** Record the subscription only once a message named warmup-* arrived (cross-group topics). */
  armOnWarmup?: boolean;
}

/** ACKs every message individually; see ConsumerOptions for the slow, crashing and failover kinds. */
export class Consumer implements Actor {
  private running = false;
  private loop: Promise<void> | undefined;
  private current: { destroy(): void } | undefined;
  private uriIndex = 0;
  armed = false;
  lastDelivery = 0;
  reconnects = 0;

  constructor(readonly o: ConsumerOptions, private readonly h: History, private readonly rng: Rng) {}

  get name(): string { return this.o.name; }

  /** Resolves once subscribed the first time. */
  async start(): Promise<void> {
    this.running = true;
    let subscribed!: () => void;
    const first = new Promise<void>((r) => { subscribed = r; });
    this.loop = this.o.failover ? this.runFailover(subscribed) : this.runPlain(subscribed);
    await first;
  }

  private arm(): void {
    if (this.armed) return;
    this.armed = true;
    this.h.add({ type: 'subscribe', sub: this.o.sub, dest: this.o.dest, consumer: this.o.name });
  }

  private subOptions(): Parameters<StompClient['subscribe']>[1] {
    return { id: 'chaos', ack: 'client-individual', prefetch: this.o.prefetch ?? 20, ...(this.o.durable ? { durableName: this.o.durable.name } : {}) };
  }

  private delivered(m: Message): void {
    this.lastDelivery = Date.now();
    if (this.o.armOnWarmup && !this.armed && m.text.startsWith('warmup-')) this.arm();
    this.h.add({ type: 'deliver', sub: this.o.sub, consumer: this.o.name, id: m.text, redelivered: m.redelivered, messageId: m.messageId, arrived: m.arrivedAt });
  }

  private async runPlain(subscribed: () => void): Promise<void> {
    while (this.running) {
      const uri = this.o.path.uris[this.uriIndex++ % this.o.path.uris.length]!;
      let client: StompClient;
      let sub: Subscription;
      try {
        client = await connect(uri, { connectTimeoutMs: 3000, receiptTimeoutMs: 10_000, heartBeat: HEART_BEAT, ...(this.o.durable ? { clientId: this.o.durable.clientId } : {}) });
        client.on('error', () => undefined);
        this.current = client;
        sub = await client.subscribe(this.o.dest, this.subOptions());
      } catch {
        this.current?.destroy();
        await sleep(100);
        continue;
      }
      if (!this.o.armOnWarmup) this.arm();
      subscribed();
      const crashAt = this.o.crashEvery ? this.rng.int(5, this.o.crashEvery) : Infinity;
      let n = 0;
      while (this.running && client.connected) {
        const m = await sub.tryNext(200).catch(() => undefined);
        if (!m) {
          if (sub.closed) break; // an ended subscription answers at once: connect again, do not spin
          continue;
        }
        this.delivered(m);
        n++;
        if (this.o.slowMs) await sleep(this.o.slowMs);
        if (n >= crashAt) {
          // Mid-batch crash: half of this batch is never acked, the socket just drops.
          this.h.add({ type: 'note', msg: 'consumer crash', consumer: this.o.name, after: n });
          client.destroy();
          break;
        }
        if (this.o.crashEvery && n > crashAt / 2) continue; // the unacked half
        try {
          await m.ack();
          this.h.add({ type: 'ack', sub: this.o.sub, consumer: this.o.name, id: m.text, outcome: 'ok' });
        } catch (e) {
          this.h.add({ type: 'ack', sub: this.o.sub, consumer: this.o.name, id: m.text, ...classify(e) });
        }
      }
      if (this.running) { this.reconnects++; await sleep(this.o.crashEvery ? 100 : 20); }
      if (!this.running) await client.disconnect({ timeoutMs: 2000 }).catch(() => client.destroy());
      else client.destroy();
    }
  }

  private async runFailover(subscribed: () => void): Promise<void> {
    let first = true;
    while (this.running) {
      let client: FailoverClient;
      let sub: Subscription;
      try {
        client = await connectFailover(failoverUri(this.o.path), { connectTimeoutMs: 3000, receiptTimeoutMs: 10_000, heartBeat: HEART_BEAT, ...(this.o.durable ? { clientId: this.o.durable.clientId } : {}) });
      } catch { await sleep(200); continue; }
      client.on('error', () => undefined);
      client.on('reconnected', () => { this.reconnects++; });
      client.on('discarded', (i) => { this.h.add({ type: 'note', msg: 'consumer buffer discarded', consumer: this.o.name, uri: i.uri, count: i.count }); });
      this.current = client;
      try {
        sub = await client.subscribe(this.o.dest, this.subOptions());
      } catch { client.destroy(); await sleep(200); continue; }
      if (first) {
        first = false;
        if (!this.o.armOnWarmup) this.arm();
        subscribed();
      }
      while (this.running) {
        const m = await sub.tryNext(200).catch(() => undefined);
        if (!m) {
          // The failover client gave up (every URI failed for its whole schedule): a closed
          // subscription answers at once, so start over instead of spinning.
          if (sub.closed) { this.h.add({ type: 'note', msg: 'consumer subscription ended; connecting again', consumer: this.o.name }); break; }
          continue;
        }
        this.delivered(m);
        if (this.o.slowMs) await sleep(this.o.slowMs);
        // Resolves only on the RECEIPT of the connection that delivered it: confirmed.
        try {
          await m.ack();
          this.h.add({ type: 'ack', sub: this.o.sub, consumer: this.o.name, id: m.text, outcome: 'ok' });
        } catch (e) {
          const r = e instanceof AckNotConfirmedError ? { outcome: (e.sent ? 'unknown' : 'fail') as Outcome, error: e.message } : classify(e);
          this.h.add({ type: 'ack', sub: this.o.sub, consumer: this.o.name, id: m.text, ...r });
        }
      }
      if (!this.running) await client.disconnect({ timeoutMs: 2000 }).catch(() => client.destroy());
      else { client.destroy(); this.reconnects++; await sleep(200); }
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}
