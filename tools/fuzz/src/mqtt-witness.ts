// The MQTT witness (`--protocol mqtt`), as witness.ts is the STOMP one, with a client we did
// not write (mqtt.js): a producer publishing QoS 1 messages to a topic of its own, each awaited
// (PUBACK, the store has it), and a consumer subscribed at QoS 1. Its PUBACKs must keep coming
// (the longest silence is reported and bounded), and at the end the consumer must have received
// every acknowledged message exactly once (one connection, no reconnect: no duplicate is due).
import mqtt from 'mqtt';
import { receivedOf, witnessReport, type WitnessReport } from './witness';

export interface MqttWitnessOptions {
  uri: string;
  topic: string;
  intervalMs: number;
  username?: string;
  password?: string;
  /** Deadline of one PUBACK; past it the witness counts a failure and stops (ms). */
  receiptTimeoutMs: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class MqttWitness {
  private producer: mqtt.MqttClient | undefined;
  private consumer: mqtt.MqttClient | undefined;
  private running = false;
  private loop: Promise<void> | undefined;
  private readonly seen = new Map<number, number>();
  private readonly latencies: number[] = [];
  private lastReceiptAt = 0;
  private maxGap = 0;
  private sent = 0;
  private receipted = 0;
  private foreign = 0;
  private readonly errors: string[] = [];

  constructor(private readonly o: MqttWitnessOptions) {}

  get receipts(): number { return this.receipted; }
  get currentMaxGapMs(): number { return Math.max(this.maxGap, this.running ? Date.now() - this.lastReceiptAt : 0); }

  async start(): Promise<void> {
    const tag = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
    const opts = (role: string): mqtt.IClientOptions => ({
      clientId: `fuzz-witness-${role}-${tag}`, clean: true, reconnectPeriod: 0, connectTimeout: 10_000, keepalive: 30,
      protocolVersion: 4, username: this.o.username, password: this.o.password,
    });
    this.consumer = await mqtt.connectAsync(this.o.uri, opts('c'));
    this.producer = await mqtt.connectAsync(this.o.uri, opts('p'));
    for (const [name, c] of [['producer', this.producer], ['consumer', this.consumer]] as const) {
      c.on('close', () => { if (this.running) this.errors.push(`witness ${name} connection lost`); });
      c.on('error', (err) => this.errors.push(`witness ${name} got ${err.message}`));
    }
    this.consumer.on('message', (_t, payload) => {
      const m = /^witness:(\d+)$/.exec(payload.toString());
      if (m) { const n = Number(m[1]); this.seen.set(n, (this.seen.get(n) ?? 0) + 1); } else this.foreign++;
    });
    const granted = await this.consumer.subscribeAsync(this.o.topic, { qos: 1 });
    if (granted[0]?.qos !== 1) throw new Error(`witness SUBSCRIBE to ${this.o.topic} not granted QoS 1: ${JSON.stringify(granted)}`);
    this.running = true;
    this.lastReceiptAt = Date.now();
    this.loop = this.produce();
  }

  private async produce(): Promise<void> {
    while (this.running) {
      const seq = ++this.sent;
      const t0 = Date.now();
      try {
        await withDeadline(this.producer!.publishAsync(this.o.topic, `witness:${seq}`, { qos: 1 }), this.o.receiptTimeoutMs, `no PUBACK for witness message ${seq} within ${this.o.receiptTimeoutMs} ms`);
      } catch (e) {
        this.errors.push(`witness PUBLISH ${seq} failed: ${(e as Error).message}`);
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

  async stop(drainMs: number): Promise<WitnessReport> {
    if (this.running) this.maxGap = Math.max(this.maxGap, Date.now() - this.lastReceiptAt);
    this.running = false;
    await this.loop;
    const deadline = Date.now() + drainMs;
    while (Date.now() < deadline && this.countReceived() < this.receipted) await sleep(100);
    await sleep(500); // a duplicate would come right behind
    await this.producer?.endAsync().catch(() => undefined);
    await this.consumer?.endAsync().catch(() => undefined);
    return witnessReport({ uri: this.o.uri, queue: this.o.topic, sent: this.sent, receipted: this.receipted, seen: this.seen,
      latencies: this.latencies, foreign: this.foreign, maxGapMs: this.maxGap, errors: this.errors });
  }

  private countReceived(): number { return receivedOf(this.seen); }
}

function withDeadline<T>(p: Promise<T>, ms: number, why: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(why)), ms);
    p.then((v) => { clearTimeout(t); resolve(v); }, (e: unknown) => { clearTimeout(t); reject(e); });
  });
}

/**
 * The fuzz's persistent sessions (pooled client ids, mqtt-packets.ts) end with a clean-session
 * CONNECT each, which discards what they left (their durable subscriptions and backlogs), as
 * the STOMP run drains its queues: the end RSS is of a broker that holds nothing of the fuzz.
 */
export async function discardMqttSessions(uri: string, clientIds: readonly string[], username?: string, password?: string): Promise<number> {
  let n = 0;
  for (const clientId of clientIds) {
    const c = await mqtt.connectAsync(uri, { clientId, clean: true, reconnectPeriod: 0, connectTimeout: 10_000, protocolVersion: 4, username, password });
    // The discard runs behind the CONNACK: a PINGREQ round trip later it has been sent to the store.
    await c.endAsync();
    n++;
  }
  return n;
}
