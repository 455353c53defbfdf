// The console's memory of the last minutes: one fixed-size ring buffer per series (a group's
// enqueue rate, a queue's depth, a replica's lag...), and rates from counter samples. Pure:
// the caller passes the time. Nothing is stored on disk: the console keeps what it saw since
// it started, at most `capacity` points per series (poll.historySeconds).

export class Ring {
  private readonly t: Float64Array;
  private readonly v: Float64Array;
  private start = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (capacity < 1) throw new RangeError('a ring needs room for one point at least');
    this.t = new Float64Array(capacity);
    this.v = new Float64Array(capacity);
  }

  get length(): number { return this.count; }

  push(at: number, value: number): void {
    const i = (this.start + this.count) % this.capacity;
    this.t[i] = at;
    this.v[i] = value;
    if (this.count < this.capacity) this.count++;
    else this.start = (this.start + 1) % this.capacity;
  }

  /** Points from the oldest kept, as [time ms, value] pairs (after `since` when given). */
  points(since = -Infinity): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let k = 0; k < this.count; k++) {
      const i = (this.start + k) % this.capacity;
      if (this.t[i]! > since) out.push([this.t[i]!, this.v[i]!]);
    }
    return out;
  }

  last(): [number, number] | undefined {
    if (this.count === 0) return undefined;
    const i = (this.start + this.count - 1) % this.capacity;
    return [this.t[i]!, this.v[i]!];
  }
}

/** Named series, created on first use; series not fed for `staleMs` are dropped (a queue deleted, a node gone). */
export class History {
  private readonly series = new Map<string, { ring: Ring; fedAt: number }>();

  constructor(readonly capacity: number, private readonly staleMs = 600_000) {}

  record(name: string, at: number, value: number): void {
    let s = this.series.get(name);
    if (!s) { s = { ring: new Ring(this.capacity), fedAt: at }; this.series.set(name, s); }
    s.ring.push(at, Number.isFinite(value) ? value : 0);
    s.fedAt = at;
  }

  get(name: string): Ring | undefined { return this.series.get(name)?.ring; }

  names(prefix = ''): string[] { return [...this.series.keys()].filter((n) => n.startsWith(prefix)).sort(); }

  /** Every series whose name starts with `prefix`, as {name: points}. */
  snapshot(prefix = '', since = -Infinity): Record<string, Array<[number, number]>> {
    const out: Record<string, Array<[number, number]>> = {};
    for (const n of this.names(prefix)) out[n] = this.series.get(n)!.ring.points(since);
    return out;
  }

  prune(now: number): void {
    for (const [n, s] of this.series) if (now - s.fedAt > this.staleMs) this.series.delete(n);
  }
}

/**
 * Per-second rates from counter samples: rate(key, at, total) answers the increase per second
 * since the previous sample of that key (undefined the first time; a counter that went down —
 * the process restarted — starts over from 0, as Prometheus's rate()).
 */
export class Rates {
  private readonly prev = new Map<string, { at: number; total: number }>();

  rate(key: string, at: number, total: number): number | undefined {
    const p = this.prev.get(key);
    this.prev.set(key, { at, total });
    if (!p || at <= p.at) return undefined;
    const delta = total >= p.total ? total - p.total : total;
    return (delta * 1000) / (at - p.at);
  }

  forget(prefix: string): void {
    for (const k of this.prev.keys()) if (k.startsWith(prefix)) this.prev.delete(k);
  }
}
