// Metrics for hot paths: a count per frame or per message kept as a plain number, handed to
// prom-client when /metrics is read. prom-client's own inc/observe hash the labels object on
// every call (~120-220 ns an inc, ~350-600 ns an observe on this machine): at tens of
// thousands of frames a second that was ~6% of an embedded gateway's CPU (docs/benchmarks.md).
import * as prom from 'prom-client';

/** One label value's running count: `n += x` on the hot path. */
export interface Tally { n: number }

interface CounterCell extends Tally { labels: Record<string, string> }

/**
 * A counter with one label whose increments are tallied locally per label value and added to
 * the prom-client counter at collection. The exposition is prom-client's own.
 */
export class TallyCounter<L extends string> {
  readonly metric: prom.Counter<L>;
  private readonly cells = new Map<string, CounterCell>();
  private readonly labelName: L;

  constructor(config: { name: string; help: string; labelName: L; registers: prom.Registry[] }) {
    const cells = this.cells;
    this.metric = new prom.Counter<L>({
      name: config.name, help: config.help, labelNames: [config.labelName], registers: config.registers,
      collect() {
        for (const c of cells.values()) {
          if (c.n === 0) continue;
          this.inc(c.labels as prom.LabelValues<L>, c.n);
          c.n = 0;
        }
      },
    });
    this.labelName = config.labelName;
  }

  /** The tally of a label value; hold it where one value is counted every time (a connection's protocol). */
  tally(value: string): Tally {
    let c = this.cells.get(value);
    if (!c) {
      c = { n: 0, labels: { [this.labelName]: value } };
      this.cells.set(value, c);
    }
    return c;
  }

  inc(value: string, n = 1): void {
    (this.cells.get(value) ?? this.tally(value)).n += n;
  }
}

interface HistogramCell { labels: Record<string, string>; counts: number[]; sum: number; count: number }

/** What prom-client 15's Histogram keeps per label set (lib/histogram.js); checked by tally.spec. */
interface PromHistogramInternals {
  hashMap: Record<string, { labels: Record<string, string>; bucketValues: Record<string, number>; sum: number; count: number }>;
  zero(labels: Record<string, string>): void;
}

/**
 * A histogram with one label, observed into local bucket counts and folded into the
 * prom-client histogram at collection (its exposition, its buckets). tally.spec checks the
 * output against a plain prom-client histogram fed the same values.
 */
export class TallyHistogram<L extends string> {
  readonly metric: prom.Histogram<L>;
  private readonly cells = new Map<string, HistogramCell>();
  private readonly bounds: number[];
  private readonly labelName: L;

  constructor(config: { name: string; help: string; labelName: L; buckets: number[]; registers: prom.Registry[] }) {
    const cells = this.cells;
    const bounds = [...config.buckets].sort((a, b) => a - b);
    this.bounds = bounds;
    this.labelName = config.labelName;
    this.metric = new prom.Histogram<L>({
      name: config.name, help: config.help, labelNames: [config.labelName], buckets: bounds, registers: config.registers,
      collect() {
        const h = this as unknown as PromHistogramInternals;
        for (const c of cells.values()) {
          if (c.count === 0) continue;
          const value = c.labels[config.labelName];
          const find = () => Object.values(h.hashMap).find((e) => e.labels[config.labelName] === value);
          let entry = find();
          if (!entry) {
            h.zero(c.labels); // prom-client's record for this label set, every bucket at 0
            entry = find()!;
          }
          for (let i = 0; i < bounds.length; i++) {
            if (c.counts[i]) entry.bucketValues[String(bounds[i])] = (entry.bucketValues[String(bounds[i])] ?? 0) + c.counts[i]!;
            c.counts[i] = 0;
          }
          entry.sum += c.sum;
          entry.count += c.count;
          c.sum = 0;
          c.count = 0;
        }
      },
    });
  }

  observe(value: string, v: number): void {
    let c = this.cells.get(value);
    if (!c) {
      c = { labels: { [this.labelName]: value }, counts: this.bounds.map(() => 0), sum: 0, count: 0 };
      this.cells.set(value, c);
    }
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    if (i < b.length) c.counts[i]!++; // above the last bound: only in the count (+Inf), as prom-client does
    c.sum += v;
    c.count++;
  }
}
