// The bookkeeping of `hawser bench`, pure (no sockets, no timers): latency samples and
// percentiles, the per-message id ledger that finds lost and duplicate messages, and the
// result document printed as text or JSON.
import { count, ms, rate } from './format';

/** Growable samples of a latency in ms. */
export class Latencies {
  private data = new Float64Array(1024);
  private n = 0;

  get count(): number { return this.n; }

  add(valueMs: number): void {
    if (this.n === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.n++] = valueMs;
  }

  /** p50/p95/p99/max/mean (nearest-rank percentiles), null fields when there are no samples. */
  summary(): LatencySummary {
    if (this.n === 0) return { count: 0, p50: null, p95: null, p99: null, max: null, mean: null };
    const sorted = this.data.slice(0, this.n).sort();
    let sum = 0;
    for (let i = 0; i < this.n; i++) sum += sorted[i]!;
    return {
      count: this.n,
      p50: round3(percentile(sorted, 50)),
      p95: round3(percentile(sorted, 95)),
      p99: round3(percentile(sorted, 99)),
      max: round3(sorted[this.n - 1]!),
      mean: round3(sum / this.n),
    };
  }
}

export interface LatencySummary {
  count: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  max: number | null;
  mean: number | null;
}

/** Nearest-rank percentile of ascending `sorted` (non-empty). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/** `bench-<run>-<producer>-<n>`: the id every bench message carries. */
export function benchId(run: string, producer: number, n: number): string {
  return `bench-${run}-${producer}-${n}`;
}

/** [producer, n] of an id of this run, or undefined (another run's message, or not ours). */
export function parseBenchId(id: string | undefined, run: string): [number, number] | undefined {
  const prefix = `bench-${run}-`;
  if (id === undefined || !id.startsWith(prefix)) return undefined;
  const rest = id.slice(prefix.length);
  const dash = rest.indexOf('-');
  if (dash <= 0) return undefined;
  const p = Number(rest.slice(0, dash));
  const n = Number(rest.slice(dash + 1));
  if (!Number.isInteger(p) || !Number.isInteger(n) || p < 0 || n < 0) return undefined;
  return [p, n];
}

const RECEIPTED = 1;
const RECEIVED = 2;

/**
 * Which messages were receipted by the broker and which were delivered, per producer and
 * sequence number. `pending` counts receipted-but-not-delivered: the run is complete when
 * the producers are done and it is 0; what is pending at the end is lost.
 */
export class Ledger {
  private readonly flags: Uint8Array[] = [];
  pending = 0;
  received = 0;
  duplicates = 0;

  private slot(p: number, n: number): Uint8Array {
    let a = this.flags[p];
    if (!a) { a = new Uint8Array(Math.max(1024, n + 1)); this.flags[p] = a; }
    if (n >= a.length) {
      const next = new Uint8Array(Math.max(a.length * 2, n + 1));
      next.set(a);
      this.flags[p] = next;
      a = next;
    }
    return a;
  }

  receipted(p: number, n: number): void {
    const a = this.slot(p, n);
    if (a[n] & RECEIPTED) return;
    a[n] |= RECEIPTED;
    if (!(a[n] & RECEIVED)) this.pending++;
  }

  /** Records a delivery; returns false when it is a duplicate. */
  delivered(p: number, n: number): boolean {
    const a = this.slot(p, n);
    if (a[n] & RECEIVED) { this.duplicates++; return false; }
    a[n] |= RECEIVED;
    this.received++;
    if (a[n] & RECEIPTED) this.pending--;
    return true;
  }
}

export interface Throughput {
  elapsedS: number;
  messages: number;
  msgPerSec: number;
  mbPerSec: number;
}

export function throughput(messages: number, size: number, elapsedMs: number): Throughput {
  const s = Math.max(elapsedMs, 1e-3) / 1000;
  return {
    elapsedS: round3(s),
    messages,
    msgPerSec: Math.round((messages / s) * 10) / 10,
    // MB = 10^6 bytes of body (headers not counted).
    mbPerSec: round3((messages * size) / 1e6 / s),
  };
}

/** The run's settings, as given (`hawser bench` options). */
export interface BenchSettings {
  uri: string;
  destination: string;
  producers: number;
  consumers: number;
  size: number;
  persistent: boolean;
  window: number;
  ack: string;
  prefetch: number;
  count: number | null;
  durationS: number | null;
  /**
   * --warmup: seconds of load before the measured part (with --duration). Throughput and
   * latencies count only messages sent after it; lost and duplicates count every message.
   */
  warmupS: number;
}

/** What `hawser bench --json` prints (documented in README.md). */
export interface BenchResult extends BenchSettings {
  run: string;
  /** --rate (total SENDs per second), or null when unpaced. */
  rate: number | null;
  /** SENDs written. */
  sent: number;
  /** SENDs the broker confirmed with a RECEIPT. */
  receipted: number;
  /** SENDs that got an ERROR or no RECEIPT in time. */
  failedSends: number;
  /** Distinct messages of this run delivered (per consumer for a topic, summed). */
  received: number;
  duplicates: number;
  /** Receipted but never delivered (null when there were no consumers). */
  lost: number | null;
  /** Messages of other runs drained from the destination (not counted above). */
  stale: number;
  errors: string[];
  /** Stopped by Ctrl-C: `lost` then counts what had not arrived yet. */
  interrupted: boolean;
  producer: Throughput;
  consumer: Throughput | null;
  latencyMs: { sendToReceipt: LatencySummary; sendToDelivery: LatencySummary };
}

/** The text report. */
export function benchText(r: BenchResult): string {
  const lat = (name: string, s: LatencySummary) =>
    `  ${name.padEnd(16)} p50 ${ms(s.p50).padStart(10)}  p95 ${ms(s.p95).padStart(10)}  p99 ${ms(s.p99).padStart(10)}  max ${ms(s.max).padStart(10)}  (${count(s.count)} samples)`;
  const lines = [
    `bench ${r.run}: ${r.producers} producer(s), ${r.consumers} consumer(s), ${r.size} B ${r.persistent ? 'persistent' : 'non-persistent'}, `
      + `window ${r.window}${r.rate ? `, rate ${count(r.rate)} msg/s` : ''}, ack ${r.ack}, ${r.count !== null ? `${count(r.count)} messages` : `${r.durationS} s`}${r.warmupS ? ` after ${r.warmupS} s of warm-up` : ''} on ${r.destination} at ${r.uri}`,
    `  produced         ${count(r.receipted)} receipted of ${count(r.sent)} sent${r.warmupS ? ` (${count(r.producer.messages)} after the warm-up)` : ''} in ${r.producer.elapsedS} s: ${rate(r.producer.msgPerSec)} msg/s, ${rate(r.producer.mbPerSec)} MB/s`,
  ];
  if (r.consumer) {
    lines.push(`  consumed         ${count(r.received)}${r.warmupS ? ` (${count(r.consumer.messages)} after the warm-up)` : ''} in ${r.consumer.elapsedS} s: ${rate(r.consumer.msgPerSec)} msg/s, ${rate(r.consumer.mbPerSec)} MB/s`);
  }
  lines.push(lat('send->receipt', r.latencyMs.sendToReceipt));
  if (r.consumer) lines.push(lat('send->delivery', r.latencyMs.sendToDelivery));
  lines.push(`  lost ${r.lost ?? '-'}  duplicates ${r.duplicates}  failed sends ${r.failedSends}${r.stale ? `  stale (earlier runs) ${r.stale}` : ''}`);
  if (r.interrupted) lines.push('  interrupted (Ctrl-C): "lost" counts messages that had not arrived yet');
  for (const e of r.errors) lines.push(`  error: ${e}`);
  return lines.join('\n') + '\n';
}

/** The live progress line. */
export function progressLine(elapsedMs: number, sent: number, receipted: number, received: number, consumers: number): string {
  const s = Math.max(elapsedMs, 1) / 1000;
  const recv = consumers > 0 ? `  received ${count(received)} (${rate(received / s)} msg/s)` : '';
  return `bench ${s.toFixed(1)}s: sent ${count(sent)}  receipted ${count(receipted)} (${rate(receipted / s)} msg/s)${recv}`;
}
