// A seeded PRNG (mulberry32): the same seed replays the same fault schedule and workload
// choices. Not for anything secret.
export class Rng {
  private s: number;
  constructor(readonly seed: number) { this.s = seed >>> 0; }

  /** Uniform in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [lo, hi] (both included). */
  int(lo: number, hi: number): number { return lo + Math.floor(this.next() * (hi - lo + 1)); }

  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new RangeError('pick from an empty list');
    return xs[Math.floor(this.next() * xs.length)]!;
  }

  /** An independent stream derived from this seed and `n` (what ran before does not change it). */
  fork(n: number): Rng { return new Rng((Math.imul(this.seed ^ 0x9e3779b9, 0x85ebca6b) + n * 0xc2b2ae35) >>> 0); }
}
