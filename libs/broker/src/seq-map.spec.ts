// SeqMap: the same answers as a Map for any sequence of sets and deletes, in key order; stragglers
// far behind the newest key move aside without growing the ring past its bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeqMap } from './seq-map';

/** A deterministic generator (a linear congruential one), so a failure replays. */
function rng(seed: number): () => number {
  let x = seed >>> 0;
  return () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 4294967296;
}

function same(m: SeqMap<string>, ref: Map<number, string>, what: string): void {
  assert.equal(m.size, ref.size, `${what}: size`);
  const want = [...ref.entries()].sort((a, b) => a[0] - b[0]);
  assert.deepEqual(m.entries(), want, `${what}: entries in key order`);
  assert.deepEqual(m.values(), want.map((e) => e[1]), `${what}: values`);
  assert.deepEqual([...m], want, `${what}: iteration`);
}

test('agrees with a Map under random traffic: in-order keys, out-of-order acks, stragglers, re-sets of old keys', () => {
  for (const seed of [1, 2, 3, 42, 1234]) {
    const r = rng(seed);
    const m = new SeqMap<string>();
    const ref = new Map<number, string>();
    let next = 1000;
    const held: number[] = []; // keys a slow consumer keeps for a long while
    for (let step = 0; step < 30_000; step++) {
      const x = r();
      if (x < 0.45) {
        const k = next++;
        m.set(k, `v${k}`); ref.set(k, `v${k}`);
        if (r() < 0.002) held.push(k);
      } else if (x < 0.85) {
        // ack one of the recent ones, mostly the oldest
        const live = [...ref.keys()].filter((k) => !held.includes(k));
        if (!live.length) continue;
        const i = r() < 0.7 ? 0 : Math.floor(r() * live.length);
        const k = live.sort((a, b) => a - b)[i]!;
        assert.equal(m.delete(k), ref.delete(k), `seed ${seed} step ${step}: delete ${k}`);
      } else if (x < 0.9) {
        if (held.length && r() < 0.3) {
          const k = held.splice(Math.floor(r() * held.length), 1)[0]!;
          assert.equal(m.delete(k), ref.delete(k));
        }
      } else if (x < 0.95) {
        // a key set again below the newest (a redelivered message's seq)
        const k = next - 1 - Math.floor(r() * 6000);
        m.set(k, `again${k}`); ref.set(k, `again${k}`);
      } else {
        const k = next - Math.floor(r() * 8000);
        assert.equal(m.get(k), ref.get(k), `seed ${seed} step ${step}: get ${k}`);
        assert.equal(m.has(k), ref.has(k));
        assert.equal(m.delete(k + 1_000_000), false, 'an absent key');
      }
      if (step % 997 === 0) same(m, ref, `seed ${seed} step ${step}`);
    }
    same(m, ref, `seed ${seed} end`);
    for (const k of [...ref.keys()]) { assert.ok(m.delete(k)); ref.delete(k); }
    same(m, ref, `seed ${seed} emptied`);
  }
});

test('agrees with a Map for keys in any order: the ring starting over below keys set aside, evictions, re-sets', () => {
  const r = rng(99);
  for (let run = 0; run < 3000; run++) {
    const m = new SeqMap<string>();
    const ref = new Map<number, string>();
    const range = run % 3 === 0 ? 200 : run % 3 === 1 ? 12_000 : 100_000;
    for (let i = 0; i < 300; i++) {
      const x = r();
      const k = Math.floor(r() * range);
      if (x < 0.5) {
        m.set(k, `v${k}.${i}`); ref.set(k, `v${k}.${i}`);
      } else if (x < 0.8) {
        const keys = [...ref.keys()];
        const d = keys.length && r() < 0.8 ? keys[Math.floor(r() * keys.length)]! : k;
        assert.equal(m.delete(d), ref.delete(d), `run ${run} op ${i}: delete ${d}`);
      } else {
        assert.equal(m.get(k), ref.get(k), `run ${run} op ${i}: get ${k}`);
      }
      assert.equal(m.size, ref.size, `run ${run} op ${i}: size`);
    }
    same(m, ref, `run ${run}`);
  }
});

test('a straggler far behind the newest key moves aside; the ring stays bounded', () => {
  const m = new SeqMap<number>();
  m.set(1, 1);
  for (let k = 2; k < 100_000; k++) { m.set(k, k); m.delete(k); }
  assert.equal(m.size, 1);
  assert.equal(m.get(1), 1);
  assert.ok((m as unknown as { slots: unknown[] }).slots.length <= 4096, 'ring bounded');
  assert.deepEqual(m.entries(), [[1, 1]]);
  assert.ok(m.delete(1));
  assert.equal(m.size, 0);
  assert.equal((m as unknown as { side: unknown }).side, null, 'side map dropped once empty');
});

test('deleting while iterating is safe; an emptied map starts over at any key', () => {
  const m = new SeqMap<string>();
  for (let k = 5; k < 15; k++) m.set(k, String(k));
  for (const [k] of m) if (k % 2) m.delete(k);
  assert.deepEqual(m.values(), ['6', '8', '10', '12', '14']);
  for (const k of [6, 8, 10, 12, 14]) m.delete(k);
  assert.equal(m.size, 0);
  m.set(3, 'three'); // below where the ring was
  m.set(70, 'seventy');
  assert.deepEqual(m.entries(), [[3, 'three'], [70, 'seventy']]);
  assert.equal(m.get(3), 'three');
});
