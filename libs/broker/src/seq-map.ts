// A map from integer keys handed out in increasing order (delivery tags, queue sequence numbers)
// to the records of what is in flight under them, which mostly leave in about the order they came.
//
// Why not a Map: the core's in-flight maps live as long as their session or queue, so their
// hash tables are in V8's old space, and a Map whose size goes up and down with every delivery
// and ack allocates a new table on each grow and shrink. A dropped old table still points at
// the records it held, and the young-generation collector takes every pointer out of old space
// for a live one until the next full collection: records acked milliseconds before were kept
// through scavenges and promoted, with the messages they point at (with this ring and the
// journal's proposal array, a replicated master's scavenges copied 857 KB instead of 1,070 at
// 6,400 msg/s: docs/benchmarks.md, Session 24). Here the keys index a ring of slots that is
// cleared as records leave and only grows (to MAX_SPAN); a key that falls far behind the newest
// (a message a consumer holds while thousands flow past) moves to a side Map.

const MIN_SPAN = 64;
const MAX_SPAN = 4096;

export class SeqMap<V> {
  private slots: Array<V | undefined> = new Array(MIN_SPAN);
  private mask = MIN_SPAN - 1;
  /** Keys lo..hi-1 are in the ring (slots of absent keys are undefined); lo === hi when empty. */
  private lo = 0;
  private hi = 0;
  private inRing = 0;
  /** Keys below the ring (stragglers, or set again after the ring moved past them). */
  private side: Map<number, V> | null = null;

  get size(): number { return this.inRing + (this.side?.size ?? 0); }

  get(key: number): V | undefined {
    if (key >= this.lo && key < this.hi) {
      const v = this.slots[key & this.mask];
      if (v !== undefined) return v;
    }
    // The side may hold keys inside the ring's range: the ring starts over wherever the next
    // key is once it empties, below keys still aside.
    return this.side?.get(key);
  }

  has(key: number): boolean { return this.get(key) !== undefined; }

  set(key: number, value: V): this {
    if (this.side?.has(key)) {
      this.side.set(key, value);
      return this;
    }
    if (this.inRing === 0 && (key < this.lo || key >= this.hi)) { this.lo = key; this.hi = key; }
    if (key < this.lo) {
      (this.side ??= new Map()).set(key, value);
      return this;
    }
    if (key >= this.hi) {
      if (key - this.lo >= this.slots.length) this.makeRoom(key);
      this.hi = key + 1;
    }
    const i = key & this.mask;
    if (this.slots[i] === undefined) this.inRing++;
    this.slots[i] = value;
    return this;
  }

  delete(key: number): boolean {
    const i = key & this.mask;
    if (key >= this.lo && key < this.hi && this.slots[i] !== undefined) {
      this.slots[i] = undefined;
      this.inRing--;
      if (this.inRing === 0) this.lo = this.hi;
      else if (key === this.lo) while (this.slots[this.lo & this.mask] === undefined) this.lo++;
      return true;
    }
    if (!this.side?.delete(key)) return false;
    if (this.side.size === 0) this.side = null;
    return true;
  }

  [Symbol.iterator](): IterableIterator<[number, V]> { return this.entries()[Symbol.iterator](); }

  /** Values in key order (a snapshot: deleting while iterating is safe). */
  values(): V[] { return this.entries().map((e) => e[1]); }

  /** Entries in key order (a snapshot: deleting while iterating is safe). */
  entries(): Array<[number, V]> {
    const out: Array<[number, V]> = [];
    for (let k = this.lo; k < this.hi; k++) {
      const v = this.slots[k & this.mask];
      if (v !== undefined) out.push([k, v]);
    }
    if (!this.side) return out;
    return [...this.side.entries(), ...out].sort((a, b) => a[0] - b[0]);
  }

  /** Makes `key` fit: a bigger ring while the span allows, else the oldest keys go to the side. */
  private makeRoom(key: number): void {
    let span = this.slots.length;
    while (key - this.lo >= span && span < MAX_SPAN) span *= 2;
    if (span !== this.slots.length) {
      const next: Array<V | undefined> = new Array(span);
      for (let k = this.lo; k < this.hi; k++) next[k & (span - 1)] = this.slots[k & this.mask];
      this.slots = next;
      this.mask = span - 1;
    }
    while (key - this.lo >= span) {
      const i = this.lo & this.mask;
      const v = this.slots[i];
      if (v !== undefined) {
        (this.side ??= new Map()).set(this.lo, v);
        this.slots[i] = undefined;
        this.inRing--;
      }
      this.lo++;
      if (this.inRing === 0) { this.lo = key; this.hi = key; return; }
    }
    while (this.lo < this.hi && this.slots[this.lo & this.mask] === undefined) this.lo++;
  }
}
