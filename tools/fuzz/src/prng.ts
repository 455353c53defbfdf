// A small seeded PRNG (sfc32, seeded through splitmix32) so a fuzz run replays: the same
// seed gives the same decisions, and `fork(n)` gives connection n its own stream whatever
// order the connections run in. Pure: no I/O, no Math.random.

function splitmix32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  readonly seed: number;

  constructor(seed: number) {
    this.seed = seed >>> 0;
    const sm = splitmix32(this.seed);
    this.a = sm(); this.b = sm(); this.c = sm(); this.d = sm();
    // sfc32 wants a few rounds before its output is well mixed.
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** A float in [0, 1). */
  float(): number { return this.u32() / 4294967296; }

  /** An integer in [0, n). */
  int(n: number): number { return n <= 0 ? 0 : Math.floor(this.float() * n); }

  /** An integer in [lo, hi] (both included). */
  range(lo: number, hi: number): number { return lo + this.int(hi - lo + 1); }

  /** true with probability p. */
  chance(p: number): boolean { return this.float() < p; }

  pick<T>(items: readonly T[]): T { return items[this.int(items.length)]!; }

  /** Picks by weight: `[[weight, value], ...]`. */
  weighted<T>(table: readonly (readonly [number, T])[]): T {
    let total = 0;
    for (const [w] of table) total += w;
    let x = this.float() * total;
    for (const [w, v] of table) {
      if (x < w) return v;
      x -= w;
    }
    return table[table.length - 1]![1];
  }

  /** Sizes that are mostly small with a long tail: about half below `typical`, rarely up to `max`. */
  size(typical: number, max: number): number {
    const r = this.float();
    if (r < 0.6) return this.int(typical + 1);
    if (r < 0.95) return this.int(typical * 8 + 1);
    return this.int(max + 1);
  }

  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let i = 0;
    for (; i + 4 <= n; i += 4) out.writeUInt32LE(this.u32(), i);
    for (; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }

  /** An independent stream for sub-task `n` (e.g. connection n), the same whatever ran before. */
  fork(n: number): Prng {
    const sm = splitmix32((this.seed ^ Math.imul(n + 1, 0x9e3779b1)) >>> 0);
    return new Prng(sm() ^ n);
  }
}
