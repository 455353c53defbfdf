// Steady client load for the operations procedures (rolling-restart, node-replace): one
// producer connection sending persistent messages with a receipt each (a window in flight,
// paced) and one consumer connection acking each message, both through a gateway, kept
// running while the operator's steps happen underneath. stop() settles every SEND, waits
// until every receipted message was consumed, and says what was lost or duplicated.
import assert from 'node:assert/strict';
import type { Message, StompClient, StompClientError } from '@hawser/client';
import { checkFor } from './harness';

export interface LoadReport {
  sent: number;
  receipted: number;
  /** deliveries (a redelivered copy counts again) */
  consumed: number;
  /** receipted bodies never consumed */
  lost: string[];
  /** a second copy that did not come marked redelivered (a stored duplicate) */
  duplicates: string[];
  /** consumed bodies that were never receipted */
  unknown: string[];
  /** SENDs that failed (ERROR, receipt timeout) */
  failed: string[];
  redeliveries: number;
  /** close/ERROR events of either connection */
  closes: string[];
}

/**
 * What every operations procedure promises its clients: no SEND failed, every one receipted,
 * every receipted message consumed, a repeat only as a redelivery, nothing unknown, and neither
 * connection closed.
 */
export function assertNothingLost(r: LoadReport): void {
  assert.deepEqual(r.failed.slice(0, 5), [], `${r.failed.length} SENDs failed`);
  assert.equal(r.receipted, r.sent, 'every SEND receipted');
  assert.deepEqual(r.lost.slice(0, 10), [], `${r.lost.length} receipted messages lost`);
  assert.deepEqual(r.duplicates.slice(0, 10), [], `${r.duplicates.length} duplicates not marked redelivered`);
  assert.deepEqual(r.unknown, [], 'nothing consumed that was not sent');
  assert.deepEqual(r.closes, [], 'neither client connection closed');
}

export class Load {
  readonly receipted = new Set<string>();
  private readonly consumed: Message[] = [];
  private readonly failed: string[] = [];
  private readonly closes: string[] = [];
  private readonly pending = new Set<Promise<void>>();
  private seq = 0;
  private producing = true;
  private consuming = true;
  private producer: Promise<void> | undefined;
  private consumer: Promise<void> | undefined;

  private constructor(private readonly q: string) {}

  /** Starts producing `ratePerSecond` messages/s (at most `window` unreceipted) and consuming. */
  static async start(producer: StompClient, consumer: StompClient, q: string, opts: { window?: number; ratePerSecond?: number } = {}): Promise<Load> {
    const l = new Load(q);
    for (const [name, c] of [['producer', producer], ['consumer', consumer]] as const) {
      c.on('close', (e?: StompClientError) => l.closes.push(`${name} closed: ${e?.message ?? 'no error'}`));
      c.on('error', (e: StompClientError) => l.closes.push(`${name} ERROR: ${e.message}`));
    }
    const sub = await consumer.subscribe(q, { ack: 'client-individual', prefetch: 50 });
    l.consumer = (async () => {
      while (l.consuming || sub.buffered > 0) {
        const m = await sub.tryNext(200);
        // An ended subscription answers at once: without this the loop spun on microtasks and no
        // timer (the test's own timeout included) could fire again.
        if (!m) { if (sub.closed) break; continue; }
        l.consumed.push(m);
        // Acks without receipts: one lost in a failover only means a redelivery.
        void m.ack({ receipt: false }).catch(() => undefined);
      }
    })();
    const w = producer.pipeline(opts.window ?? 16);
    const rate = opts.ratePerSecond ?? 400;
    const t0 = Date.now();
    l.producer = (async () => {
      while (l.producing) {
        const body = `${q}#${l.seq++}`;
        const p = w.send(q, body, { persistent: true }).then(() => { l.receipted.add(body); }, (e: Error) => { l.failed.push(`${body}: ${e.message}`); });
        l.pending.add(p);
        void p.finally(() => l.pending.delete(p));
        // paced: never ahead of `rate`/s, never more than 2 windows queued
        while (l.producing && (l.seq > (rate * (Date.now() - t0)) / 1000 || w.waiting > 32)) await new Promise((r) => setTimeout(r, 5));
      }
    })();
    return l;
  }

  /** Waits until `n` more receipts arrived than when called (traffic really flows). */
  async receipts(n: number, deadlineMs = 30_000): Promise<void> {
    const from = this.receipted.size;
    await checkFor(deadlineMs, 20, () => {
      if (this.receipted.size < from + n) throw new Error(`${this.receipted.size - from} of ${n} receipts on ${this.q} (${this.failed.length} failed: ${this.failed.slice(0, 3).join('; ')})`);
    });
  }

  /** Stops producing, settles every SEND, waits for every receipted message to be consumed. */
  async stop(deadlineMs = 60_000): Promise<LoadReport> {
    this.producing = false;
    await this.producer;
    await checkFor(deadlineMs, 20, () => { if (this.pending.size) throw new Error(`${this.pending.size} SENDs still unsettled`); });
    try {
      await checkFor(deadlineMs, 100, () => {
        const seen = new Set(this.consumed.map((m) => m.text));
        const missing = [...this.receipted].filter((b) => !seen.has(b));
        if (missing.length) throw new Error(`${missing.length} receipted messages not consumed yet (e.g. ${missing.slice(0, 5).join(', ')})`);
      });
    } catch { /* reported as lost below */ }
    this.consuming = false;
    await this.consumer;
    const first = new Set<string>();
    const duplicates: string[] = [];
    let redeliveries = 0;
    for (const m of this.consumed) {
      if (first.has(m.text)) {
        redeliveries++;
        if (!m.redelivered) duplicates.push(m.text);
      } else first.add(m.text);
    }
    return {
      sent: this.seq, receipted: this.receipted.size, consumed: this.consumed.length,
      lost: [...this.receipted].filter((b) => !first.has(b)),
      duplicates, unknown: [...first].filter((b) => !this.receipted.has(b)),
      failed: this.failed.slice(), redeliveries, closes: this.closes.slice(),
    };
  }
}
