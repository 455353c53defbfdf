// The witness: a well-behaved client (@hawser/client) that keeps sending persistent messages
// with a receipt each to its own queue and consuming them (client-individual acks) while the
// fuzz runs. Its receipts must keep coming (the longest silence is reported and bounded), and
// at the end it must have received every message it sent exactly once.
import { connect, type StompClient, type Subscription } from '@hawser/client';

export interface WitnessOptions {
  uri: string;
  queue: string;
  /** Pause between one receipt and the next SEND (ms). */
  intervalMs: number;
  login?: string;
  passcode?: string;
  /** Deadline of one receipt; past it the SEND fails and the witness stops (ms). */
  receiptTimeoutMs: number;
}

export interface WitnessReport {
  uri: string;
  queue: string;
  sent: number;
  receipted: number;
  received: number;
  duplicates: number;
  missing: number;
  foreign: number;
  /** Longest wait for one receipt (ms). */
  maxReceiptMs: number;
  /** Longest time without any receipt while the witness was sending (ms). */
  maxGapMs: number;
  p99ReceiptMs: number;
  errors: string[];
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class Witness {
  private producer: StompClient | undefined;
  private consumer: StompClient | undefined;
  private sub: Subscription | undefined;
  private running = false;
  private loop: Promise<void> | undefined;
  private consuming: Promise<void> | undefined;
  private readonly seen = new Map<number, number>();
  private readonly latencies: number[] = [];
  private lastReceiptAt = 0;
  private maxGap = 0;
  private sent = 0;
  private receipted = 0;
  private foreign = 0;
  private readonly errors: string[] = [];

  constructor(private readonly o: WitnessOptions) {}

  get receipts(): number { return this.receipted; }
  /** The longest silence so far, counting the one in progress. */
  get currentMaxGapMs(): number { return Math.max(this.maxGap, this.running ? Date.now() - this.lastReceiptAt : 0); }
  get failed(): boolean { return this.errors.length > 0; }

  async start(): Promise<void> {
    const opts = { login: this.o.login, passcode: this.o.passcode, receiptTimeoutMs: this.o.receiptTimeoutMs, heartBeat: [10_000, 10_000] as [number, number] };
    this.producer = await connect(this.o.uri, opts);
    this.consumer = await connect(this.o.uri, opts);
    for (const [name, c] of [['producer', this.producer], ['consumer', this.consumer]] as const) {
      c.on('close', (err) => { if (err && this.running) this.errors.push(`witness ${name} connection lost: ${err.message}`); });
      c.on('error', (err) => this.errors.push(`witness ${name} got ${err.message}`));
    }
    this.sub = await this.consumer.subscribe(this.o.queue, { ack: 'client-individual', prefetch: 100 });
    this.running = true;
    this.lastReceiptAt = Date.now();
    this.loop = this.produce();
    this.consuming = this.consume();
  }

  private async produce(): Promise<void> {
    while (this.running) {
      const seq = ++this.sent;
      const t0 = Date.now();
      try {
        await this.producer!.send(this.o.queue, `witness:${seq}`, { persistent: true });
      } catch (e) {
        this.errors.push(`witness SEND ${seq} failed: ${(e as Error).message}`);
        this.running = false;
        return;
      }
      const now = Date.now();
      this.receipted++;
      this.latencies.push(now - t0);
      this.maxGap = Math.max(this.maxGap, now - this.lastReceiptAt);
      this.lastReceiptAt = now;
      if (this.o.intervalMs > 0) await sleep(this.o.intervalMs);
    }
  }

  private async consume(): Promise<void> {
    try {
      for await (const m of this.sub!) {
        const match = /^witness:(\d+)$/.exec(m.text);
        if (match) { const n = Number(match[1]); this.seen.set(n, (this.seen.get(n) ?? 0) + 1); } else this.foreign++;
        await m.ack();
      }
    } catch (e) {
      if (this.running) this.errors.push(`witness consumer: ${(e as Error).message}`);
    }
  }

  /** Stops sending, waits (up to `drainMs`) until every receipted message came back, and disconnects. */
  async stop(drainMs: number): Promise<WitnessReport> {
    if (this.running) this.maxGap = Math.max(this.maxGap, Date.now() - this.lastReceiptAt);
    this.running = false;
    await this.loop;
    const deadline = Date.now() + drainMs;
    while (Date.now() < deadline && this.countReceived() < this.receipted) await sleep(100);
    // A little longer: a duplicate would come right behind.
    await sleep(500);
    await this.producer?.disconnect().catch(() => this.producer?.destroy());
    await this.consumer?.disconnect().catch(() => this.consumer?.destroy());
    await this.consuming;
    return witnessReport({ uri: this.o.uri, queue: this.o.queue, sent: this.sent, receipted: this.receipted, seen: this.seen,
      latencies: this.latencies, foreign: this.foreign, maxGapMs: this.maxGap, errors: this.errors });
  }

  private countReceived(): number { return receivedOf(this.seen); }
}

/** Messages received, counting copies: `seen` maps a witness sequence number to its copies. */
export function receivedOf(seen: Map<number, number>): number {
  let n = 0;
  for (const v of seen.values()) n += v;
  return n;
}

/** A witness's report from what it sent and saw (the STOMP and the MQTT witness alike). */
export function witnessReport(w: {
  uri: string; queue: string; sent: number; receipted: number; seen: Map<number, number>; latencies: number[];
  foreign: number; maxGapMs: number; errors: Iterable<string>;
}): WitnessReport {
  let duplicates = 0;
  for (const n of w.seen.values()) if (n > 1) duplicates += n - 1;
  let missing = 0;
  for (let s = 1; s <= w.receipted; s++) if (!w.seen.has(s)) missing++;
  const sorted = [...w.latencies].sort((a, b) => a - b);
  return {
    uri: w.uri, queue: w.queue, sent: w.sent, receipted: w.receipted, received: receivedOf(w.seen),
    duplicates, missing, foreign: w.foreign,
    maxReceiptMs: sorted[sorted.length - 1] ?? 0, maxGapMs: w.maxGapMs,
    p99ReceiptMs: sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? 0,
    errors: [...w.errors],
  };
}
