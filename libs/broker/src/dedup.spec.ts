// DedupWindow against a plain model of its rule (dedup.ts): the keys of the last `max` add()s,
// at most `maxPerScope` per scope (a scope over it forgets its own oldest).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DedupWindow } from './dedup';

/** The rule, slowly: a list of [key, scope, n], oldest first. */
class Model {
  private live: Array<{ key: string; scope: string; n: number }> = [];
  private added = 0;
  constructor(private readonly max: number, private readonly maxPerScope: number) {}
  has(key: string): boolean { return this.live.some((e) => e.key === key); }
  add(key: string, scope: string): void {
    const n = ++this.added;
    if (this.has(key)) return;
    this.live.push({ key, scope, n });
    const mine = this.live.filter((e) => e.scope === scope);
    if (mine.length > this.maxPerScope) this.live.splice(this.live.indexOf(mine[0]!), 1);
    this.live = this.live.filter((e) => e.n > n - this.max);
  }
  keys(): string[] { return this.live.map((e) => e.key); }
}

test('dedup window: the same keys as the model over a long random run (several scopes, resends, evictions by scope and by age)', () => {
  let seed = 12345;
  const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  for (const [max, perScope] of [[50, 50], [50, 12], [200, 30], [7, 3]] as const) {
    const w = new DedupWindow(max, perScope);
    const m = new Model(max, perScope);
    const seen: string[] = [];
    for (let i = 0; i < 5000; i++) {
      const scope = `u1:${'abc'[rnd(3)]}`;
      // Mostly new ids, some resends of recent ones (kept or already forgotten).
      const key = rnd(5) === 0 && seen.length ? seen[seen.length - 1 - rnd(Math.min(seen.length, 3 * max))]! : `${scope}\u0000/queue/q\u0000${i}`;
      seen.push(key);
      w.add(key, key.slice(0, 4));
      m.add(key, key.slice(0, 4));
      if (i % 97 === 0) for (const k of seen.slice(-2 * max)) assert.equal(w.has(k), m.has(k), `max ${max}/${perScope}, add ${i}: has(${k})`);
    }
    assert.equal(w.size, m.keys().length);
    for (const k of m.keys()) assert.ok(w.has(k));
  }
});

test('dedup window: an add costs the same whether the scope is full or not (no walk over forgotten keys)', () => {
  // The store's defaults (broker.dedupWindow 100,000, dedupWindowPerScope 10,000), one producer.
  const w = new DedupWindow(100_000, 10_000);
  let n = 0;
  /** ns per add: the best of 5 rounds (this machine is shared; the best round is the code's cost). */
  const cost = (count: number) => {
    let best = Infinity;
    for (let r = 0; r < 5; r++) {
      const t = process.hrtime.bigint();
      for (let i = 0; i < count; i++) w.add(`u1:a\u0000/queue/q\u0000${n++}`, 'u1:a');
      best = Math.min(best, Number(process.hrtime.bigint() - t) / count);
    }
    return best;
  };
  const filling = cost(1_000); // 5,000 keys: nothing forgotten yet
  cost(2_000); // full: every add from here forgets the scope's oldest
  const full = cost(4_000);
  // Walking the forgotten keys (a Map's holes) made a full window's add ~15x a filling one's.
  assert.ok(full < filling * 5 + 2_000, `${full.toFixed(0)} ns per add when full, ${filling.toFixed(0)} while filling`);
  assert.equal(w.size, 10_000);
});
